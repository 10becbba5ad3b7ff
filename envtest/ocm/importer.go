package ocm

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
)

// Importer stands in for ACM's import controller on one hub (OCM alone has
// none): a bootstrap identity per accepted cluster whose CSRs it approves,
// and, once the cluster has joined, the <cluster>-klusterlet ManifestWork
// rendered from the cluster's KlusterletConfig. The agent's work agent
// applies that work on the managed cluster, where the Operator stand-in turns
// it into the agent's flags and files.
//
// What it renders: in the cluster's agent namespace a Secret per bootstrap
// kubeconfig and a ConfigMap "klusterlet" with the deploy mode, MultipleHubs
// and the order of the bootstrap Secrets — what ACM's Klusterlet carries.
// As in ACM's render.go, a KlusterletConfig naming a missing Secret renders
// nothing (the error is kept and the cluster tried again).
type Importer struct {
	hub  string
	cp   *envtest.ControlPlane
	kube kubernetes.Interface
	dyn  dynamic.Interface

	mu      sync.Mutex
	tokens  map[string]string
	lastErr map[string]error

	cancel context.CancelFunc
	done   chan struct{}
}

// StartImporter starts the stand-in on the hub.
func StartImporter(hub string, cp *envtest.ControlPlane) (*Importer, error) {
	cfg := cp.AdminConfig()
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	im := &Importer{hub: hub, cp: cp, kube: kube, dyn: dyn, tokens: map[string]string{}, lastErr: map[string]error{}, cancel: cancel, done: make(chan struct{})}
	go im.run(ctx)
	return im, nil
}

// Stop stops it.
func (im *Importer) Stop() {
	im.cancel()
	<-im.done
}

func (im *Importer) run(ctx context.Context) {
	defer close(im.done)
	for ctx.Err() == nil {
		list, err := im.dyn.Resource(sim.ManagedClusterGVR).List(ctx, metav1.ListOptions{})
		if err == nil {
			for i := range list.Items {
				mc := &list.Items[i]
				err := im.sync(ctx, mc)
				im.mu.Lock()
				im.lastErr[mc.GetName()] = err
				im.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// LastError is the last error of the cluster's sync (nil when it rendered).
func (im *Importer) LastError(cluster string) error {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.lastErr[cluster]
}

// AgentNamespace is where a cluster's agent runs on the home cluster.
func AgentNamespace(cluster string) string { return cluster + "-agent" }

const (
	klusterletConfigMap    = "klusterlet"
	defaultBootstrapSecret = "bootstrap-hub-kubeconfig"
)

func (im *Importer) sync(ctx context.Context, mc *unstructured.Unstructured) error {
	c := mc.GetName()
	if mc.GetDeletionTimestamp() != nil {
		return im.cleanup(ctx, mc)
	}
	accepted, _, _ := unstructured.NestedBool(mc.Object, "spec", "hubAcceptsClient")
	if !accepted {
		return nil
	}
	if ns, err := im.kube.CoreV1().Namespaces().Get(ctx, c, metav1.GetOptions{}); err != nil || ns.DeletionTimestamp != nil {
		return client(err) // the hub controller makes the namespace on acceptance
	}
	own, err := im.ownBootstrap(ctx, c)
	if err != nil {
		return err
	}
	if err := im.approveOwnCSRs(ctx, c); err != nil {
		return err
	}
	works := im.dyn.Resource(sim.ManifestWorkGVR).Namespace(c)
	existing, err := works.Get(ctx, sim.KlusterletWorkName(c), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		existing = nil
		if conditionStatus(mc, sim.ConditionJoined) != "True" {
			return nil // rendered once the cluster has joined this hub
		}
	} else if err != nil {
		return err
	}
	manifests, err := im.render(ctx, mc, own)
	if err != nil {
		return err
	}
	if existing == nil {
		work := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
			"metadata": map[string]any{"name": sim.KlusterletWorkName(c), "namespace": c},
			// As ACM's: orphaned on deletion, so that the old hub's work going
			// away does not take the klusterlet the new hub's work applies.
			"spec": map[string]any{"workload": map[string]any{"manifests": manifests}, "deleteOption": map[string]any{"propagationPolicy": "Orphan"}},
		}}
		_, err := works.Create(ctx, work, metav1.CreateOptions{})
		return client(err)
	}
	current, _, _ := unstructured.NestedSlice(existing.Object, "spec", "workload", "manifests")
	if reflect.DeepEqual(current, manifests) {
		return nil
	}
	_ = unstructured.SetNestedSlice(existing.Object, manifests, "spec", "workload", "manifests")
	_, err = works.Update(ctx, existing, metav1.UpdateOptions{})
	return err
}

func client(err error) error {
	if apierrors.IsNotFound(err) || apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// conditionStatus is the status of the ManagedCluster's condition ("" if absent).
func conditionStatus(mc *unstructured.Unstructured, condType string) string {
	conds, _, _ := unstructured.NestedSlice(mc.Object, "status", "conditions")
	for _, c := range conds {
		if m, _ := c.(map[string]any); m["type"] == condType {
			status, _ := m["status"].(string)
			return status
		}
	}
	return ""
}

func importSA(cluster string) string { return cluster + "-bootstrap-sa" }

// ownBootstrap is the cluster's bootstrap kubeconfig for this hub, made once.
func (im *Importer) ownBootstrap(ctx context.Context, c string) ([]byte, error) {
	im.mu.Lock()
	token := im.tokens[c]
	im.mu.Unlock()
	if token == "" {
		sa := importSA(c)
		if _, err := im.kube.CoreV1().ServiceAccounts(c).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); client(err) != nil {
			return nil, err
		}
		role, binding := sim.ImportBootstrapRBAC(c)
		if _, err := im.kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); client(err) != nil {
			return nil, err
		}
		if _, err := im.kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); client(err) != nil {
			return nil, err
		}
		tr, err := im.kube.CoreV1().ServiceAccounts(c).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](24 * 3600)},
		}, metav1.CreateOptions{})
		if err != nil {
			return nil, err
		}
		token = tr.Status.Token
		im.mu.Lock()
		im.tokens[c] = token
		im.mu.Unlock()
	}
	return importKubeconfig(im.cp.URL(), im.cp.AdminConfig().CAData, token)
}

// importKubeconfig is shaped as ACM's CreateBootstrapKubeConfig shapes it on a
// hub that is not OpenShift: the cluster entry's name matters, since OCM's
// agent keeps its hub kubeconfig only with a bootstrap kubeconfig that names
// the same cluster.
func importKubeconfig(server string, caData []byte, token string) ([]byte, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["default-cluster"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caData}
	kc.AuthInfos["default-auth"] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts["default-context"] = &clientcmdapi.Context{Cluster: "default-cluster", AuthInfo: "default-auth", Namespace: "default"}
	kc.CurrentContext = "default-context"
	return clientcmd.Write(*kc)
}

// ImportKubeconfig is the bootstrap kubeconfig of the cluster's import
// manifest, once the importer has made its identity.
func (im *Importer) ImportKubeconfig(ctx context.Context, cluster string) ([]byte, error) {
	im.mu.Lock()
	ready := im.tokens[cluster] != ""
	im.mu.Unlock()
	if !ready {
		return nil, errors.New("no bootstrap identity yet")
	}
	return im.ownBootstrap(ctx, cluster)
}

// approveOwnCSRs approves the pending CSRs of the cluster filed with this
// importer's identity for it, never anyone else's.
func (im *Importer) approveOwnCSRs(ctx context.Context, c string) error {
	list, err := im.kube.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{LabelSelector: "open-cluster-management.io/cluster-name=" + c})
	if err != nil {
		return err
	}
	for i := range list.Items {
		csr := &list.Items[i]
		if len(csr.Status.Conditions) > 0 || csr.Spec.Username != "system:serviceaccount:"+c+":"+importSA(c) {
			continue
		}
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "AutoApprovedByImportController",
		})
		if _, err := im.kube.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// render is the klusterlet for the cluster: its own bootstrap kubeconfig,
// and what its KlusterletConfig adds.
func (im *Importer) render(ctx context.Context, mc *unstructured.Unstructured, own []byte) ([]any, error) {
	c := mc.GetName()
	type secret struct {
		name string
		data []byte
	}
	boots := []secret{{defaultBootstrapSecret, own}}
	multipleHubs := false
	if name := mc.GetAnnotations()[sim.AnnotationKlusterletConfig]; name != "" {
		kc, err := im.dyn.Resource(sim.KlusterletConfigGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
		// A missing KlusterletConfig renders the default, as in ACM.
		if hubs, found, _ := unstructured.NestedMap(kcObject(kc), "spec", "multipleHubsConfig"); found {
			multipleHubs = true
			if strategy, _, _ := unstructured.NestedString(hubs, "genBootstrapKubeConfigStrategy"); strategy != "IncludeCurrentHub" {
				boots = nil
			}
			refs, _, _ := unstructured.NestedSlice(hubs, "bootstrapKubeConfigs", "localSecretsConfig", "kubeConfigSecrets")
			for _, ref := range refs {
				m, _ := ref.(map[string]any)
				secretName, _ := m["name"].(string)
				s, err := im.kube.CoreV1().Secrets(sim.BootstrapSecretNamespace).Get(ctx, secretName, metav1.GetOptions{})
				if err != nil {
					return nil, fmt.Errorf("klusterletconfig %s: %w", name, err)
				}
				if _, ok := s.Data["kubeconfig"]; !ok {
					return nil, fmt.Errorf("klusterletconfig %s: kubeconfig key not found in secret %s", name, secretName)
				}
				boots = append(boots, secret{secretName, s.Data["kubeconfig"]})
			}
		}
	}
	var names []string
	manifests := []any{}
	for _, b := range boots {
		names = append(names, b.name)
		manifests = append(manifests, map[string]any{
			"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
			"metadata": map[string]any{"name": b.name, "namespace": AgentNamespace(c)},
			"data":     map[string]any{"kubeconfig": base64.StdEncoding.EncodeToString(b.data)},
		})
	}
	manifests = append(manifests, map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": klusterletConfigMap, "namespace": AgentNamespace(c)},
		"data": map[string]any{
			"mode":             deployMode(mc),
			"multipleHubs":     fmt.Sprint(multipleHubs),
			"bootstrapSecrets": strings.Join(names, ","),
		},
	})
	return manifests, nil
}

func kcObject(kc *unstructured.Unstructured) map[string]any {
	if kc == nil {
		return nil
	}
	return kc.Object
}

// deployMode is the klusterlet's mode: Singleton unless the cluster's
// import.open-cluster-management.io/klusterlet-deploy-mode says Default.
func deployMode(mc *unstructured.Unstructured) string {
	if mc.GetAnnotations()["import.open-cluster-management.io/klusterlet-deploy-mode"] == "Default" {
		return "Default"
	}
	return "Singleton"
}

// cleanup is what ACM's import controller does for a deleting cluster: it
// deletes the cluster's ManifestWorks, and once the cluster is unavailable
// it removes their finalizers too (ForceDeleteAllManifestWorks) — a work
// agent that has left this hub never will, and OCM's hub controller keeps
// the ManagedCluster until the works are gone.
func (im *Importer) cleanup(ctx context.Context, mc *unstructured.Unstructured) error {
	works := im.dyn.Resource(sim.ManifestWorkGVR).Namespace(mc.GetName())
	list, err := works.List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, w := range list.Items {
		if w.GetDeletionTimestamp() == nil {
			if err := works.Delete(ctx, w.GetName(), metav1.DeleteOptions{}); client(err) != nil {
				return err
			}
			continue
		}
		if conditionStatus(mc, sim.ConditionAvailable) == "True" || len(w.GetFinalizers()) == 0 {
			continue
		}
		patch := []byte(`{"metadata":{"finalizers":null,"resourceVersion":"` + w.GetResourceVersion() + `"}}`)
		if _, err := works.Patch(ctx, w.GetName(), types.MergePatchType, patch, metav1.PatchOptions{}); client(err) != nil {
			return err
		}
	}
	return nil
}
