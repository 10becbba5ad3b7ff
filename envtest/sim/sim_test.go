package sim_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
)

const leaseDuration = time.Second

var (
	world     *envtest.World
	simulator *sim.Simulator
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithCancel(context.Background())
	w, s, err := sim.StartWorld(ctx, sim.Options{LeaseDuration: leaseDuration}, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	world, simulator = w, s
	code := m.Run()
	cancel()
	w.Stop()
	os.Exit(code)
}

// hubClients are admin clients of one hub, for the test's own reads and writes.
type hubClients struct {
	name string
	kube kubernetes.Interface
	dyn  dynamic.Interface
}

func hubOf(t *testing.T, name string) hubClients {
	t.Helper()
	cfg := world.Hub(name).AdminConfig()
	kube, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	return hubClients{name: name, kube: kube, dyn: dyn}
}

func (h hubClients) mc(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	mc, err := h.dyn.Resource(sim.ManagedClusterGVR).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return mc
}

func conditionStatus(mc *unstructured.Unstructured, condType string) string {
	conds, _, _ := unstructured.NestedSlice(mc.Object, "status", "conditions")
	for _, c := range conds {
		m := c.(map[string]any)
		if m["type"] == condType {
			return m["status"].(string)
		}
	}
	return ""
}

func hasTaint(mc *unstructured.Unstructured, key string) bool {
	taints, _, _ := unstructured.NestedSlice(mc.Object, "spec", "taints")
	for _, t := range taints {
		if t.(map[string]any)["key"] == key {
			return true
		}
	}
	return false
}

func (h hubClients) setAccept(t *testing.T, name string, accept bool) {
	t.Helper()
	require.NoError(t, retry(func() error {
		mc := h.mc(t, name)
		require.NoError(t, unstructured.SetNestedField(mc.Object, accept, "spec", "hubAcceptsClient"))
		_, err := h.dyn.Resource(sim.ManagedClusterGVR).Update(context.Background(), mc, metav1.UpdateOptions{})
		return err
	}))
}

func (h hubClients) setAnnotation(t *testing.T, name, key, value string) {
	t.Helper()
	require.NoError(t, retry(func() error {
		mc := h.mc(t, name)
		ann := mc.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		if value == "" {
			delete(ann, key)
		} else {
			ann[key] = value
		}
		mc.SetAnnotations(ann)
		_, err := h.dyn.Resource(sim.ManagedClusterGVR).Update(context.Background(), mc, metav1.UpdateOptions{})
		return err
	}))
}

func retry(f func() error) error {
	var err error
	for range 10 {
		if err = f(); !apierrors.IsConflict(err) {
			return err
		}
	}
	return err
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) { return cond(), nil })
	require.NoError(t, err, "waiting for: %s", what)
}

func (h hubClients) csrsOf(t *testing.T, cluster string) []certificatesv1.CertificateSigningRequest {
	t.Helper()
	list, err := h.kube.CertificatesV1().CertificateSigningRequests().List(context.Background(), metav1.ListOptions{LabelSelector: sim.LabelClusterName + "=" + cluster})
	require.NoError(t, err)
	return list.Items
}

func pending(csrs []certificatesv1.CertificateSigningRequest) []certificatesv1.CertificateSigningRequest {
	var out []certificatesv1.CertificateSigningRequest
	for _, c := range csrs {
		if len(c.Status.Conditions) == 0 {
			out = append(out, c)
		}
	}
	return out
}

func (h hubClients) decide(t *testing.T, csr certificatesv1.CertificateSigningRequest, approve bool) {
	t.Helper()
	cond := certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "Test"}
	if approve {
		cond.Type = certificatesv1.CertificateApproved
	}
	csr.Status.Conditions = append(csr.Status.Conditions, cond)
	_, err := h.kube.CertificatesV1().CertificateSigningRequests().UpdateApproval(context.Background(), csr.Name, &csr, metav1.UpdateOptions{})
	require.NoError(t, err)
}

func importCluster(t *testing.T, name string, mode sim.Mode) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, simulator.AddCluster(ctx, name, "hub1", sim.ClusterOptions{Mode: mode}))
	_, err := simulator.WaitFor(ctx, name, 60*time.Second, sim.JoinedTo("hub1"))
	require.NoError(t, err)
	hub1 := hubOf(t, "hub1")
	eventually(t, 30*time.Second, "klusterlet work applied on hub1", func() bool {
		work, err := hub1.dyn.Resource(sim.ManifestWorkGVR).Namespace(name).Get(ctx, sim.KlusterletWorkName(name), metav1.GetOptions{})
		return err == nil && workApplied(work)
	})
}

func workApplied(work *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(work.Object, "status", "conditions")
	for _, c := range conds {
		m := c.(map[string]any)
		if m["type"] == "Applied" && m["status"] == "True" && m["observedGeneration"] == work.GetGeneration() {
			return true
		}
	}
	return false
}

// switchPlan is what a migration sets up before Registering, done here by hand:
// on the target a bootstrap identity with a token bound to an anchor Secret
// and an accepted ManagedCluster; on the source a bootstrap kubeconfig Secret,
// a KlusterletConfig naming it, and the cluster annotated to use it.
type switchPlan struct {
	cluster, sa, anchor string
	token               string
	kubeconfig          []byte // the bootstrap kubeconfig for hub2
	klusterletConfig    string
}

func prepareSwitch(t *testing.T, cluster string, bindBootstrapRole bool) switchPlan {
	t.Helper()
	hub1 := hubOf(t, "hub1")
	p := prepareSwitchConfig(t, cluster, bindBootstrapRole)
	createBootstrapSecret(t, p)
	generation := hub1KlusterletWork(t, cluster).GetGeneration()
	hub1.setAnnotation(t, cluster, sim.AnnotationKlusterletConfig, p.klusterletConfig)

	// Initializing's gate: the work is Applied at a newer generation.
	eventually(t, 30*time.Second, "klusterlet work re-rendered and applied", func() bool {
		work := hub1KlusterletWork(t, cluster)
		return work.GetGeneration() > generation && workApplied(work)
	})
	st, err := simulator.WaitFor(context.Background(), cluster, 30*time.Second, func(st sim.Status) bool {
		return st.MultipleHubs && st.State == sim.Joined && st.Hub == "hub1"
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"hub1", "hub2"}, st.Bootstraps, "IncludeCurrentHub keeps the current hub first")
	return p
}

// prepareSwitchConfig makes the target side and the source's KlusterletConfig
// naming the bootstrap Secret, but neither the Secret nor the annotation.
func prepareSwitchConfig(t *testing.T, cluster string, bindBootstrapRole bool) switchPlan {
	t.Helper()
	ctx := context.Background()
	hub1, hub2 := hubOf(t, "hub1"), hubOf(t, "hub2")
	p := switchPlan{cluster: cluster, sa: "mig-" + cluster, anchor: "anchor-" + cluster, klusterletConfig: "mig-" + cluster}
	ns := "open-cluster-management"
	_, err := hub2.kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: p.sa}}, metav1.CreateOptions{})
	require.NoError(t, err)
	if bindBootstrapRole {
		_, err = hub2.kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: p.sa},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: sim.BootstrapClusterRole},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: p.sa, Namespace: ns}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	anchor, err := hub2.kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: p.anchor}}, metav1.CreateOptions{})
	require.NoError(t, err)
	tr, err := hub2.kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, p.sa, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To[int64](3600),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: anchor.Name, UID: anchor.UID},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)
	p.token = tr.Status.Token

	target := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
		"metadata": map[string]any{"name": cluster},
		"spec":     map[string]any{"hubAcceptsClient": true, "leaseDurationSeconds": int64(60)},
	}}
	_, err = hub2.dyn.Resource(sim.ManagedClusterGVR).Create(ctx, target, metav1.CreateOptions{})
	require.NoError(t, err)

	p.kubeconfig, err = envtest.Kubeconfig(&rest.Config{Host: world.Hub("hub2").URL(), BearerToken: p.token, TLSClientConfig: rest.TLSClientConfig{CAData: world.Hub("hub2").CA.CertPEM}})
	require.NoError(t, err)
	klusterletConfig := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "config.open-cluster-management.io/v1alpha1", "kind": "KlusterletConfig",
		"metadata": map[string]any{"name": p.klusterletConfig},
		"spec": map[string]any{"multipleHubsConfig": map[string]any{
			"genBootstrapKubeConfigStrategy": "IncludeCurrentHub",
			"bootstrapKubeConfigs": map[string]any{"type": "LocalSecrets", "localSecretsConfig": map[string]any{
				"kubeConfigSecrets": []any{map[string]any{"name": "boot-" + cluster}},
			}},
		}},
	}}
	_, err = hub1.dyn.Resource(sim.KlusterletConfigGVR).Create(ctx, klusterletConfig, metav1.CreateOptions{})
	require.NoError(t, err)
	return p
}

// createBootstrapSecret makes the source's bootstrap kubeconfig Secret for hub2.
func createBootstrapSecret(t *testing.T, p switchPlan) {
	t.Helper()
	_, err := hubOf(t, "hub1").kube.CoreV1().Secrets(sim.BootstrapSecretNamespace).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "boot-" + p.cluster}, Data: map[string][]byte{"kubeconfig": p.kubeconfig},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
}

func hub1KlusterletWork(t *testing.T, cluster string) *unstructured.Unstructured {
	t.Helper()
	work, err := hubOf(t, "hub1").dyn.Resource(sim.ManifestWorkGVR).Namespace(cluster).Get(context.Background(), sim.KlusterletWorkName(cluster), metav1.GetOptions{})
	require.NoError(t, err)
	return work
}

// waitPendingCSR waits until the agent waits on a CSR on hub2 filed with the
// migration's credential, and returns it.
func waitPendingCSR(t *testing.T, p switchPlan) certificatesv1.CertificateSigningRequest {
	t.Helper()
	hub2 := hubOf(t, "hub2")
	st, err := simulator.WaitFor(context.Background(), p.cluster, 30*time.Second, func(st sim.Status) bool {
		return st.State == sim.WaitingForCSR && st.Hub == "hub2"
	})
	require.NoError(t, err)
	for _, csr := range hub2.csrsOf(t, p.cluster) {
		if csr.Name == st.CSR {
			assert.Equal(t, "system:serviceaccount:open-cluster-management:"+p.sa, csr.Spec.Username, "filed with the migration's credential")
			return csr
		}
	}
	t.Fatalf("CSR %s not found on hub2", st.CSR)
	return certificatesv1.CertificateSigningRequest{}
}
