package sim

import (
	"encoding/base64"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// klusterletConfig is what ACM's import controller renders into a cluster's
// <cluster>-klusterlet ManifestWork and the work agent applies: the deploy
// mode, MultipleHubs, and the bootstrap kubeconfigs in order.
type klusterletConfig struct {
	Mode         Mode
	MultipleHubs bool
	Bootstraps   []bootstrapKubeconfig
}

const (
	agentNamespace         = "open-cluster-management-agent"
	defaultBootstrapSecret = "bootstrap-hub-kubeconfig"
	// importKubeconfigCluster names the cluster entry of ACM's import
	// controller's bootstrap kubeconfigs on a hub that is not OpenShift
	// (GetKubeconfigClusterName; on OpenShift it is the Infrastructure's UID).
	importKubeconfigCluster = "default-cluster"
)

func (k klusterletConfig) equal(o klusterletConfig) bool {
	if k.Mode != o.Mode || k.MultipleHubs != o.MultipleHubs || len(k.Bootstraps) != len(o.Bootstraps) {
		return false
	}
	for i := range k.Bootstraps {
		a, b := k.Bootstraps[i], o.Bootstraps[i]
		if a.Name != b.Name || a.Server != b.Server || a.Token != b.Token || string(a.CAData) != string(b.CAData) {
			return false
		}
	}
	return true
}

// manifests renders the Klusterlet and its bootstrap kubeconfig Secrets as ACM does.
func (k klusterletConfig) manifests(cluster string) []any {
	registration := map[string]any{}
	var secrets []any
	if k.MultipleHubs {
		registration["featureGates"] = []any{map[string]any{"feature": "MultipleHubs", "mode": "Enable"}}
		var names []any
		for _, b := range k.Bootstraps {
			names = append(names, map[string]any{"name": b.Name})
		}
		registration["bootstrapKubeConfigs"] = map[string]any{
			"type":               "LocalSecrets",
			"localSecretsConfig": map[string]any{"kubeConfigSecrets": names},
		}
	}
	klusterlet := map[string]any{
		"apiVersion": "operator.open-cluster-management.io/v1", "kind": "Klusterlet",
		"metadata": map[string]any{"name": "klusterlet"},
		"spec": map[string]any{
			"clusterName":               cluster,
			"deployOption":              map[string]any{"mode": string(k.Mode)},
			"registrationConfiguration": registration,
		},
	}
	for _, b := range k.Bootstraps {
		secrets = append(secrets, map[string]any{
			"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
			"metadata": map[string]any{"name": b.Name, "namespace": agentNamespace},
			"data":     map[string]any{"kubeconfig": base64.StdEncoding.EncodeToString(b.kubeconfig())},
		})
	}
	return append([]any{klusterlet}, secrets...)
}

func (b bootstrapKubeconfig) kubeconfig() []byte {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[b.Cluster] = &clientcmdapi.Cluster{Server: b.Server, CertificateAuthorityData: b.CAData}
	kc.AuthInfos["bootstrap"] = &clientcmdapi.AuthInfo{Token: b.Token}
	kc.Contexts["bootstrap"] = &clientcmdapi.Context{Cluster: b.Cluster, AuthInfo: "bootstrap"}
	kc.CurrentContext = "bootstrap"
	data, _ := clientcmd.Write(*kc)
	return data
}

// parseBootstrapKubeconfig reads a bootstrap kubeconfig as the agent does.
func parseBootstrapKubeconfig(name string, data []byte) (bootstrapKubeconfig, error) {
	kc, err := clientcmd.Load(data)
	if err != nil {
		return bootstrapKubeconfig{}, err
	}
	ctx := kc.Contexts[kc.CurrentContext]
	if ctx == nil || kc.Clusters[ctx.Cluster] == nil || kc.AuthInfos[ctx.AuthInfo] == nil {
		return bootstrapKubeconfig{}, fmt.Errorf("bootstrap kubeconfig %s has no current context", name)
	}
	return bootstrapKubeconfig{
		Name:    name,
		Cluster: ctx.Cluster,
		Server:  kc.Clusters[ctx.Cluster].Server,
		CAData:  kc.Clusters[ctx.Cluster].CertificateAuthorityData,
		Token:   kc.AuthInfos[ctx.AuthInfo].Token,
	}, nil
}

// parseKlusterletWork is the work agent reading what it is to apply.
func parseKlusterletWork(work *unstructured.Unstructured) (klusterletConfig, error) {
	manifests, _, _ := unstructured.NestedSlice(work.Object, "spec", "workload", "manifests")
	var cfg klusterletConfig
	secrets := map[string][]byte{}
	var order []string
	found := false
	for _, m := range manifests {
		obj, _ := m.(map[string]any)
		u := &unstructured.Unstructured{Object: obj}
		switch u.GetKind() {
		case "Klusterlet":
			found = true
			mode, _, _ := unstructured.NestedString(obj, "spec", "deployOption", "mode")
			cfg.Mode = Mode(mode)
			gates, _, _ := unstructured.NestedSlice(obj, "spec", "registrationConfiguration", "featureGates")
			for _, g := range gates {
				gm, _ := g.(map[string]any)
				if gm["feature"] == "MultipleHubs" && gm["mode"] == "Enable" {
					cfg.MultipleHubs = true
				}
			}
			names, _, _ := unstructured.NestedSlice(obj, "spec", "registrationConfiguration", "bootstrapKubeConfigs", "localSecretsConfig", "kubeConfigSecrets")
			for _, n := range names {
				nm, _ := n.(map[string]any)
				if s, ok := nm["name"].(string); ok {
					order = append(order, s)
				}
			}
		case "Secret":
			enc, _, _ := unstructured.NestedString(obj, "data", "kubeconfig")
			data, err := base64.StdEncoding.DecodeString(enc)
			if err != nil {
				return cfg, err
			}
			secrets[u.GetName()] = data
		}
	}
	if !found {
		return cfg, fmt.Errorf("work %s has no Klusterlet", work.GetName())
	}
	if !cfg.MultipleHubs {
		order = []string{defaultBootstrapSecret}
	}
	for _, name := range order {
		data, ok := secrets[name]
		if !ok {
			return cfg, fmt.Errorf("work %s names bootstrap Secret %s but does not carry it", work.GetName(), name)
		}
		b, err := parseBootstrapKubeconfig(name, data)
		if err != nil {
			return cfg, err
		}
		cfg.Bootstraps = append(cfg.Bootstraps, b)
	}
	return cfg, nil
}
