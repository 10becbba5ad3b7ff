package e2e

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	token := captureToken(t, "ops", "rb-init", "rb-init")
	// Global Hub's manual rollback request is accepted and changes nothing
	// (answered when a user sets it on a migration hubmigrate already runs).
	_, homeDyn := clients(t, "home")
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, "rb-init", metav1.GetOptions{})
		return err == nil && len(m.GetFinalizers()) > 0, nil
	}))
	annotateMigration(t, "ops", "rb-init", reconcile.AnnGlobalHubMigrationRequest, "rollback")
	m := waitMigrationPhase(t, "ops", "rb-init", "Failed", 2*time.Minute)
	homeKube, _ := clients(t, "home")
	events, err := homeKube.CoreV1().Events("ops").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=rb-init"})
	require.NoError(t, err)
	var reasons []string
	for _, e := range events.Items {
		reasons = append(reasons, e.Reason)
	}
	assert.Contains(t, reasons, "ShortStageTimeout", "a stageTimeout below 1m is warned about")
	assert.Contains(t, reasons, "ClusterRollingBack")
	assert.Contains(t, reasons, "ClusterFailed")
	assert.Contains(t, reasons, "RollbackRequestIgnored")
	assert.Equal(t, `{"rb-init":"Failed:InitializingTimeout"}`, m.GetAnnotations()[reconcile.AnnResults])
	checkFailedRecord(t, m, "rb-init", "InitializingTimeout")
	rolledBack := waitCondition(t, "ops", "rb-init", reconcile.ResourceRolledBackCondition, time.Minute, "rb-init")
	assert.Equal(t, "ClustersRolledBack", rolledBack["reason"])
	invariants.CheckRolledBack(t, snap, hub(t, "hub1"), hub(t, "hub2"), clusters)
	invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), clusters)
	checkTokenRejected(t, token)
	require.NoError(t, simulator.HoldImport("rb-init", "hub1", false))
	_, err = simulator.WaitFor(ctx, "rb-init", 30*time.Second, sim.JoinedTo("hub1"))
	require.NoError(t, err)

	// Once the migration is deleted its Failed record goes too: the source
	// carries no marker of it at all.
	deleteMigration(t, "ops", "rb-init")
	waitGone(t, "ops", "rb-init")
	_, hub1 := clients(t, "hub1")
	mc, err := hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, "rb-init", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotContains(t, mc.GetLabels(), reconcile.LabelPhase)
	for k := range mc.GetAnnotations() {
		assert.False(t, strings.HasPrefix(k, reconcile.Prefix), "marker %s left after the migration is gone", k)
	}
	invariants.CheckRolledBack(t, snap, hub(t, "hub1"), hub(t, "hub2"), clusters)
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
	defer func() { c.stop() }()
	// 40s: long enough for the stages before Registering on a loaded
	// machine (they take seconds), short enough that the trapped agent is
	// reported after 20s (half the timeout) rather than a minute.
	createMigration(t, migrationSpec{namespace: "ops", name: "rb-reg", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "40s"})

	_, homeDyn := clients(t, "home")
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		for _, cl := range clusters {
			// Registering, and the agent waits on its (refused) CSR on the
			// target: the Singleton agent is then trapped there.
			if st, err := simulator.Status(cl); err != nil || sourceLabel(t, cl) != "Registering" || st.State != sim.WaitingForCSR || st.Hub != "hub2" {
				return false, nil
			}
		}
		return true, nil
	}), "both clusters registering, their agents waiting on a CSR")
	// Their Registering deadline passes: the controller comes back 3 minutes
	// ahead of the hubs (a short real timeout could expire in an earlier
	// stage on a loaded machine).
	c.stop()
	c = startController(t, 30*time.Second, withClock(skewedClock{ahead: 3 * time.Minute}))
	waitCondition(t, "ops", "rb-reg", "AgentRestartRequired", 2*time.Minute, "rb-single") // the trapped Singleton-mode cluster
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

	// Retrying is a new migration, which takes over the Failed records.
	for _, cl := range clusters {
		require.NoError(t, simulator.SetCSRMutator(cl, nil))
	}
	plan, err := reconcile.Retry(ctx, homeDyn, "ops", "rb-reg")
	require.NoError(t, err)
	assert.Equal(t, reconcile.RetryPlan{Name: "rb-reg-retry-1", Clusters: clusters}, plan)
	_, err = reconcile.Retry(ctx, homeDyn, "ops", "rb-reg")
	assert.ErrorContains(t, err, "still running", "one retry at a time")
	retried := waitMigrationPhase(t, "ops", "rb-reg-retry-1", "Completed", 2*time.Minute)
	checkMigrated(t, snap, retried, "hub1", "hub2", clusters)
}

func retryOnConflict(f func() error) error {
	var err error
	for range 20 {
		if err = f(); !apierrors.IsConflict(err) {
			return err
		}
	}
	return err
}

// A stage timeout that expires while the controller is down fires right after
// it comes back: the clock is phase-since on the cluster, not a timer in memory.
func TestTimeoutExpiringWhileDown(t *testing.T) {
	ctx := context.Background()
	importClusters(t, "hub1", sim.Singleton, "rb-down")
	require.NoError(t, simulator.HoldImport("rb-down", "hub1", true))
	c := startController(t, 30*time.Second)
	createMigration(t, migrationSpec{namespace: "ops", name: "rb-down", from: "hub1", to: "hub2", clusters: []string{"rb-down"}, stageTimeout: "10s"})
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return sourceLabel(t, "rb-down") == "Initializing", nil
	}))
	c.stop()
	time.Sleep(11 * time.Second) // the deadline passes while no controller runs
	c = startController(t, 30*time.Second)
	defer c.stop()
	start := time.Now()
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		l := sourceLabel(t, "rb-down")
		return l == "Rollbacking" || l == "Failed", nil
	}))
	// A clock restarted by the restart would need the full 10s again.
	assert.Less(t, time.Since(start), 8*time.Second, "the expired deadline is acted on at once")
	m := waitMigrationPhase(t, "ops", "rb-down", "Failed", time.Minute)
	assert.Equal(t, `{"rb-down":"Failed:InitializingTimeout"}`, m.GetAnnotations()[reconcile.AnnResults])
	require.NoError(t, simulator.HoldImport("rb-down", "hub1", false))
}

// Commit precedence: a CSR that passes every check, pending when the
// Registering deadline has passed, is committed and approved, not rolled
// back. The controller is down while the deadline passes and the agent files
// its CSR; when it comes back both facts are there at once.
func TestCommitPrecedenceAtTheDeadline(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"prec-1"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	require.NoError(t, simulator.NeverFileCSROn("prec-1", "hub2", true))
	c := startController(t, 30*time.Second)
	createMigration(t, migrationSpec{namespace: "ops", name: "prec", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "2m"})
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		return sourceLabel(t, "prec-1") == "Registering", nil
	}))
	c.stop()
	// The Registering deadline passes while hubmigrate is down: the
	// controller that comes back runs 3 minutes ahead of the hubs.

	// Letting the waiting agent file is enough: a restart on top of it could
	// file a second CSR with the same CN, which hubmigrate approves too once
	// committed, and this test pins exactly one approval.
	require.NoError(t, simulator.NeverFileCSROn("prec-1", "hub2", false))
	hub2Kube, _ := clients(t, "hub2")
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		csrs, err := hub2Kube.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{LabelSelector: "open-cluster-management.io/cluster-name=prec-1"})
		if err != nil {
			return false, err
		}
		for _, csr := range csrs.Items {
			if len(csr.Status.Conditions) == 0 {
				return true, nil
			}
		}
		return false, nil
	}), "a valid CSR pending on the target")
	assert.Equal(t, "Registering", sourceLabel(t, "prec-1"), "nothing decided while hubmigrate was down")

	c = startController(t, 30*time.Second, withClock(skewedClock{ahead: 3 * time.Minute}))
	defer c.stop()
	m := waitMigrationPhase(t, "ops", "prec", "Completed", 2*time.Minute)
	checkMigrated(t, snap, m, "hub1", "hub2", clusters)
}
