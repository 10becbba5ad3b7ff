package e2e

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hubmigrate/hubmigrate/envtest/invariants"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

func checkFailedRecord(t *testing.T, m *unstructured.Unstructured, cluster, reason string) {
	t.Helper()
	_, hub1 := clients(t, "hub1")
	mc, err := hub1.Resource(reconcile.ManagedClusterGVR).Get(context.Background(), cluster, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "Failed", mc.GetLabels()[reconcile.LabelPhase])
	assert.Equal(t, reason, mc.GetAnnotations()[reconcile.AnnReason])
	assert.Equal(t, m.GetNamespace()+"/"+m.GetName()+"/"+string(m.GetUID()), mc.GetAnnotations()[reconcile.AnnOwner])
}

// Initializing times out (the source's import controller never re-renders the
// klusterlet): the cluster is rolled back untouched and the migration fails.
func TestInitializingTimeoutRollsBack(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"rb-init"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	require.NoError(t, simulator.HoldImport("rb-init", "hub1", true))
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	c := startController(t, 30*time.Second)
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: "rb-init", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "4s"})
	m := waitMigrationPhase(t, "ops", "rb-init", "Failed", 2*time.Minute)
	assert.Equal(t, `{"rb-init":"Failed:InitializingTimeout"}`, m.GetAnnotations()[reconcile.AnnResults])
	checkFailedRecord(t, m, "rb-init", "InitializingTimeout")
	invariants.CheckRolledBack(t, snap, hub(t, "hub1"), hub(t, "hub2"), clusters)
	invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), clusters)
	require.NoError(t, simulator.HoldImport("rb-init", "hub1", false))
	_, err := simulator.WaitFor(ctx, "rb-init", 30*time.Second, sim.JoinedTo("hub1"))
	require.NoError(t, err)
}

// The trap: the agent's CSR fails hubmigrate's checks, Registering times out.
// In Default mode the restore reaches the agent through the work agent; in
// Singleton mode the migration says AgentRestartRequired until the agent is
// restarted, then the rollback completes.
func TestRegisteringTimeoutRollsBack(t *testing.T) {
	ctx := context.Background()
	importClusters(t, "hub1", sim.Default, "rb-dflt")
	importClusters(t, "hub1", sim.Singleton, "rb-single")
	clusters := []string{"rb-dflt", "rb-single"}
	for _, cl := range clusters {
		require.NoError(t, simulator.SetCSRMutator(cl, func(r *x509.CertificateRequest) {
			r.Subject.CommonName = "system:open-cluster-management:someone-else:agent"
		}))
	}
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	c := startController(t, 30*time.Second)
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: "rb-reg", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "8s"})

	_, homeDyn := clients(t, "home")
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, "rb-reg", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		failed, _, _ := unstructured.NestedSlice(m.Object, "status", "failedClusters")
		for _, f := range failed {
			if f.(map[string]any)["name"] == "rb-single" && f.(map[string]any)["reason"] == "AgentRestartRequired" {
				return true, nil
			}
		}
		return false, nil
	}), "AgentRestartRequired names the trapped Singleton-mode cluster")
	require.NoError(t, simulator.RestartAgent("rb-single"))

	m := waitMigrationPhase(t, "ops", "rb-reg", "Failed", 2*time.Minute)
	assert.Equal(t, `{"rb-dflt":"Failed:RegisteringTimeout","rb-single":"Failed:RegisteringTimeout"}`, m.GetAnnotations()[reconcile.AnnResults])
	for _, cl := range clusters {
		checkFailedRecord(t, m, cl, "RegisteringTimeout")
		st, err := simulator.WaitFor(ctx, cl, 30*time.Second, sim.JoinedTo("hub1"))
		require.NoError(t, err)
		assert.Equal(t, "hub1", st.CertificateHub, "back on the source")
	}
	invariants.CheckRolledBack(t, snap, hub(t, "hub1"), hub(t, "hub2"), clusters)
	invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), clusters)
}
