package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/envtest/invariants"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// `hubmigrate hub add` makes hubmigrate's identity on a hub and writes its
// <hub>-kubeconfig on home; `hub check` reports what that identity may do
// against the hub role, and fails when something is missing; the
// controller accepts the Secret and works on the hub with it.
func TestHubAddAndCheck(t *testing.T) {
	ctx := context.Background()
	run := func(args ...string) (string, int) { return hubmigrateCLI(t, args...) }

	out2, code := run("hub", "add", "hub1-added", "--context", "hub1", "--namespace", envtest.ProductNamespace, "--token-duration", "2h")
	require.Equal(t, 0, code, out2)
	assert.Contains(t, out2, "Secret hubmigrate/hub1-added-kubeconfig written on home")
	assert.Contains(t, out2, "fenced by ValidatingAdmissionPolicy hubmigrate-fence-", "the identity is fenced (envtest TestProductIdentityIsFenced shows what the fence refuses)")
	homeKube, _ := clients(t, "home")
	defer func() {
		_ = homeKube.CoreV1().Secrets(envtest.ProductNamespace).Delete(ctx, "hub1-added-kubeconfig", metav1.DeleteOptions{})
	}()

	report, code := run("hub", "check", "hub1-added", "--namespace", envtest.ProductNamespace)
	require.Equal(t, 0, code, report)
	assert.Contains(t, report, "as system:serviceaccount:hubmigrate:hubmigrate")
	assert.Regexp(t, `yes\s+approve\s+signers\.certificates\.k8s\.io\s+kubernetes\.io/kube-apiserver-client`, report)
	assert.NotContains(t, report, "NO ")

	// A Secret author's kubeconfig with an exec plugin: hub check refuses it
	// and runs nothing on the admin's machine.
	marker := filepath.Join(t.TempDir(), "exec-ran")
	_, err := homeKube.CoreV1().Secrets(envtest.ProductNamespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "hub-exec-kubeconfig"},
		Data: map[string][]byte{"kubeconfig": []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: touch, args: ["` + marker + `"], interactiveMode: Never}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`)}}, metav1.CreateOptions{})
	require.NoError(t, err)
	defer func() {
		_ = homeKube.CoreV1().Secrets(envtest.ProductNamespace).Delete(ctx, "hub-exec-kubeconfig", metav1.DeleteOptions{})
	}()
	report, code = run("hub", "check", "hub-exec", "--namespace", envtest.ProductNamespace)
	assert.Equal(t, 1, code, report)
	assert.Contains(t, report, "exec")
	assert.NoFileExists(t, marker, "hub check ran the Secret's exec plugin")

	// An admin unbinds it: check names what is missing and fails.
	hub1Kube, err := kubernetes.NewForConfig(world.Hub("hub1").AdminConfig())
	require.NoError(t, err)
	unbind := func() { unbindFrom(t, hub1Kube) }
	unbind()
	report, code = run("hub", "check", "hub1-added", "--namespace", envtest.ProductNamespace)
	assert.Equal(t, 1, code, report)
	assert.Regexp(t, `NO\s+watch\s+managedclusters\.cluster\.open-cluster-management\.io`, report)
	assert.Contains(t, report, "permissions missing")

	// hub add again binds it again and rotates the token.
	out2, code = run("hub", "add", "hub1-added", "--context", "hub1", "--namespace", envtest.ProductNamespace)
	require.Equal(t, 0, code, out2)
	report, code = run("hub", "check", "hub1-added", "--namespace", envtest.ProductNamespace)
	require.Equal(t, 0, code, report)
	defer unbind() // the world's own product identity stays bound

	// The controller works on the hubs with the identities hub add made:
	// a cluster is migrated from hub1 to hub2 through hub1-added and
	// hub2-added (and one it does not find fails NotFound, a fact only a
	// synced cache of the source gives).
	out2, code = run("hub", "add", "hub2-added", "--context", "hub2", "--namespace", envtest.ProductNamespace)
	require.Equal(t, 0, code, out2)
	defer func() {
		_ = homeKube.CoreV1().Secrets(envtest.ProductNamespace).Delete(ctx, "hub2-added-kubeconfig", metav1.DeleteOptions{})
	}()
	hub2Kube, err := kubernetes.NewForConfig(world.Hub("hub2").AdminConfig())
	require.NoError(t, err)
	defer unbindFrom(t, hub2Kube)
	clusters := []string{"added-1"}
	importClusters(t, "hub1", sim.Default, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	c := startController(t, 30*time.Second)
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: "via-hub-add", from: "hub1-added", to: "hub2-added", clusters: append([]string{"not-there"}, clusters...)})
	m := waitTerminal(t, "ops", "via-hub-add", 3*time.Minute)
	assert.Equal(t, `{"added-1":"Completed","not-there":"Failed:NotFound"}`, m.GetAnnotations()[reconcile.AnnResults])
	invariants.CheckCompleted(t, snap, hub(t, "hub1"), hub(t, "hub2"), clusters)
}

// unbindFrom removes the ServiceAccount subjects hub add bound on a hub,
// leaving the test world's own product identity bound.
func unbindFrom(t *testing.T, kube kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	b, err := kube.RbacV1().ClusterRoleBindings().Get(ctx, "hubmigrate-hub", metav1.GetOptions{})
	require.NoError(t, err)
	kept := b.Subjects[:0]
	for _, s := range b.Subjects {
		if s.Kind != "ServiceAccount" {
			kept = append(kept, s)
		}
	}
	b.Subjects = kept
	_, err = kube.RbacV1().ClusterRoleBindings().Update(ctx, b, metav1.UpdateOptions{})
	require.NoError(t, err)
}
