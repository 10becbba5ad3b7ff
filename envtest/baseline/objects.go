package baseline

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/hubmigrate/hubmigrate/reconcile"
)

// The objects the baseline writes, built as hubmigrate builds them
// (reconcile/plan_initializing.go, copies.go, execute.go's mintToken) minus
// its progress markers: no owner, phase label, phase-since, Global Hub's
// migrating annotation or seal. Scaffolding carries the run's migration-uid
// label, which costs no write and lets an admin (and the invariant checker)
// find what a failed run left.

// evictionGracePeriod keeps the klusterlet from evicting the source hub's
// applied work before the target takes over (hubmigrate's value).
const evictionGracePeriod = "24h"

func (r *run) scaffoldingMeta(namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{reconcile.LabelMigrationUID: string(r.uid)}}
}

// anchorSecret is the object the cluster's token is bound to: deleting it
// revokes the token.
func (r *run) anchorSecret(name string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: r.scaffoldingMeta(r.opts.BootstrapNamespace, name), Type: corev1.SecretTypeOpaque}
}

// bootstrapSecret is the bootstrap kubeconfig for the target that the
// source's import controller puts into the cluster's klusterlet.
func (r *run) bootstrapSecret(name, token string) (*corev1.Secret, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["hub"] = &clientcmdapi.Cluster{Server: r.registration.server, CertificateAuthorityData: r.registration.ca}
	kc.AuthInfos["bootstrap"] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts["bootstrap"] = &clientcmdapi.Context{Cluster: "hub", AuthInfo: "bootstrap"}
	kc.CurrentContext = "bootstrap"
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{ObjectMeta: r.scaffoldingMeta(r.opts.BootstrapSecretNamespace, name), Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"kubeconfig": data}}, nil
}

// klusterletConfig is the cluster's KlusterletConfig on the source: a copy of
// the one it named before (named may be nil) with the target's bootstrap
// kubeconfig added, keeping the current hub's (with MultipleHubs an agent
// needs at least two).
func (r *run) klusterletConfig(name string, named *unstructured.Unstructured) *unstructured.Unstructured {
	spec := map[string]any{}
	if named != nil {
		if s, ok, _ := unstructured.NestedMap(named.Object, "spec"); ok {
			spec = runtime.DeepCopyJSON(s)
		}
	}
	spec["multipleHubsConfig"] = map[string]any{
		"genBootstrapKubeConfigStrategy": "IncludeCurrentHub",
		"bootstrapKubeConfigs": map[string]any{
			"type":               "LocalSecrets",
			"localSecretsConfig": map[string]any{"kubeConfigSecrets": []any{map[string]any{"name": name}}},
		},
	}
	spec["appliedManifestWorkEvictionGracePeriod"] = evictionGracePeriod
	kc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "config.open-cluster-management.io/v1alpha1", "kind": "KlusterletConfig",
		"metadata": map[string]any{"name": name},
		"spec":     spec,
	}}
	kc.SetLabels(map[string]string{reconcile.LabelMigrationUID: string(r.uid)})
	return kc
}

// Labels and annotations a hub, a klusterlet, an import controller or a
// migration own: never copied (reconcile/copies.go).
var (
	droppedAnnotations = map[string]bool{
		reconcile.AnnGlobalHubMigrating: true, reconcile.AnnDisableAutoImport: true, reconcile.AnnKlusterletConfig: true,
		"open-cluster-management.io/automatically-accepted-on": true,
		"kubectl.kubernetes.io/last-applied-configuration":     true,
	}
	droppedLabelPrefixes = []string{reconcile.Prefix, "feature.open-cluster-management.io/"}
)

func copyLabels(src map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range src {
		if k == reconcile.LabelPhase || hasAnyPrefix(k, droppedLabelPrefixes) {
			continue
		}
		out[k] = v
	}
	return out
}

func copyAnnotations(src map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range src {
		if strings.HasPrefix(k, reconcile.Prefix) || droppedAnnotations[k] {
			continue
		}
		out[k] = v
	}
	return out
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// managedClusterCopy is the target ManagedCluster: the source's spec without
// taints, accepted, no status; its labels and annotations less the owned
// ones; the klusterlet-config annotation kept (original is the one the
// cluster had before the run) only where the target has a KlusterletConfig
// of that name.
func managedClusterCopy(src *unstructured.Unstructured, original string, targetHasConfig bool) *unstructured.Unstructured {
	spec, _, _ := unstructured.NestedMap(src.Object, "spec")
	spec = runtime.DeepCopyJSON(spec)
	delete(spec, "taints")
	spec["hubAcceptsClient"] = true
	mc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
		"metadata": map[string]any{"name": src.GetName()},
		"spec":     spec,
	}}
	mc.SetLabels(copyLabels(src.GetLabels()))
	anns := copyAnnotations(src.GetAnnotations())
	if original != "" && targetHasConfig {
		anns[reconcile.AnnKlusterletConfig] = original
	}
	mc.SetAnnotations(anns)
	return mc
}

// specCopy copies an object's spec, labels and annotations under the same
// name (KlusterletAddonConfig, ManagedClusterAddOn).
func specCopy(src *unstructured.Unstructured) *unstructured.Unstructured {
	out := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": src.GetAPIVersion(), "kind": src.GetKind(),
		"metadata": map[string]any{"name": src.GetName(), "namespace": src.GetNamespace()},
	}}
	if spec, ok, _ := unstructured.NestedMap(src.Object, "spec"); ok {
		out.Object["spec"] = runtime.DeepCopyJSON(spec)
	}
	out.SetLabels(copyLabels(src.GetLabels()))
	out.SetAnnotations(copyAnnotations(src.GetAnnotations()))
	return out
}

// secretCopy copies a preserved Secret: type, data, labels, annotations.
func secretCopy(src *corev1.Secret) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: src.Name, Namespace: src.Namespace, Labels: copyLabels(src.Labels), Annotations: copyAnnotations(src.Annotations)},
		Type:       src.Type, Data: src.Data,
	}
}

// configMapCopy copies a preserved ConfigMap: data, binary data, labels, annotations.
func configMapCopy(src *corev1.ConfigMap) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: src.Name, Namespace: src.Namespace, Labels: copyLabels(src.Labels), Annotations: copyAnnotations(src.Annotations)},
		Data:       src.Data, BinaryData: src.BinaryData,
	}
}
