package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/hubmigrate/hubmigrate/envtest/invariants"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/metrics"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// Validating times out for a cluster that is not available on the source (its
// klusterlet is down): it fails before any claim, with nothing written on it.
func TestValidatingTimeout(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"val-down"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	require.NoError(t, simulator.SetDown("val-down", true))
	defer func() { _ = simulator.SetDown("val-down", false) }()
	_, hub1 := clients(t, "hub1")
	waitUnavailable(t, hub1, "val-down")
	c := startController(t, 30*time.Second)
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: "val-timeout", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "5s"})
	m := waitMigrationPhase(t, "ops", "val-timeout", "Failed", time.Minute)
	assert.Equal(t, `{"val-down":"Failed:Unavailable"}`, m.GetAnnotations()[reconcile.AnnResults])
	mc, err := hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, "val-down", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotContains(t, mc.GetAnnotations(), reconcile.AnnOwner, "never claimed")
	invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), clusters)
}

// terminatingNamespace leaves the cluster's namespace on hub2 Terminating
// (a ConfigMap in it holds a finalizer) until the returned func releases it.
func terminatingNamespace(t *testing.T, name string) func() {
	t.Helper()
	ctx := context.Background()
	kube, _ := clients(t, "hub2")
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = kube.CoreV1().ConfigMaps(name).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"e2e.hubmigrate.io/hold"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, kube.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}))
	return func() {
		require.NoError(t, retryOnConflict(func() error {
			cm, err := kube.CoreV1().ConfigMaps(name).Get(ctx, "held", metav1.GetOptions{})
			if err != nil {
				return err
			}
			cm.Finalizers = nil
			_, err = kube.CoreV1().ConfigMaps(name).Update(ctx, cm, metav1.UpdateOptions{})
			return err
		}))
	}
}

// Deploying cannot finish while the cluster's namespace on the target is
// Terminating (a transient condition, retried): one migration times out in
// Deploying and is rolled back; another is deleted while in Deploying and is
// rolled back before its object goes. The sources equal their snapshots, the
// target holds nothing of either, and the tokens minted are rejected.
func TestDeployingTimeoutAndDeletion(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"dep-timeout", "dep-deleted"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	for _, c := range clusters {
		defer terminatingNamespace(t, c)()
	}
	c := startController(t, 30*time.Second)
	defer func() { c.stop() }()
	createMigration(t, migrationSpec{namespace: "ops", name: "dep-timeout", from: "hub1", to: "hub2", clusters: clusters[:1], stageTimeout: "2m"})
	createMigration(t, migrationSpec{namespace: "ops", name: "dep-deleted", from: "hub1", to: "hub2", clusters: clusters[1:], stageTimeout: "5m"})
	tokens := []string{captureToken(t, "ops", "dep-timeout", "dep-timeout"), captureToken(t, "ops", "dep-deleted", "dep-deleted")}

	// A write into the Terminating namespace, as hubmigrate's identity, is a
	// 403 that hubmigrate classifies as transient (not an RBAC denial).
	productCfg, err := world.ProductConfig("hub2")
	require.NoError(t, err)
	product, err := kubernetes.NewForConfig(productCfg)
	require.NoError(t, err)
	_, err = product.CoreV1().Secrets("dep-timeout").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "probe"}}, metav1.CreateOptions{})
	require.True(t, apierrors.IsForbidden(err), "a create in a Terminating namespace: %v", err)
	assert.True(t, reconcile.NamespaceTerminating(err), "classified as transient: %v", err)

	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		return sourceLabel(t, "dep-deleted") == "Deploying", nil
	}), "dep-deleted reaches Deploying")
	time.Sleep(2 * time.Second) // it waits there, retrying
	assert.Equal(t, "Deploying", sourceLabel(t, "dep-deleted"))
	_, homeDyn := clients(t, "home")
	var deleted *unstructured.Unstructured
	deleted, err = homeDyn.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, "dep-deleted", metav1.GetOptions{})
	require.NoError(t, err)
	deleteMigration(t, "ops", "dep-deleted")
	waitGone(t, "ops", "dep-deleted")

	// dep-timeout's Deploying deadline passes: the controller comes back
	// 3 minutes ahead of the hubs (no test waits on a short real timeout,
	// which a loaded machine could hit in an earlier stage).
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		return sourceLabel(t, "dep-timeout") == "Deploying", nil
	}), "dep-timeout reaches Deploying")
	c.stop()
	c = startController(t, 30*time.Second, withClock(skewedClock{ahead: 3 * time.Minute}))
	m := waitMigrationPhase(t, "ops", "dep-timeout", "Failed", 2*time.Minute)
	assert.Equal(t, `{"dep-timeout":"Failed:DeployingTimeout"}`, m.GetAnnotations()[reconcile.AnnResults])
	checkFailedRecord(t, m, "dep-timeout", "DeployingTimeout")

	_, err = simulator.WaitFor(ctx, "dep-timeout", 30*time.Second, sim.JoinedTo("hub1"))
	require.NoError(t, err)
	invariants.CheckRolledBack(t, snap, hub(t, "hub1"), hub(t, "hub2"), clusters)
	invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), clusters[:1])
	invariants.CheckTerminal(t, snap, allHubs(t), string(deleted.GetUID()), clusters[1:])
	_, hub1 := clients(t, "hub1")
	mc, err := hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, "dep-deleted", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotContains(t, mc.GetLabels(), reconcile.LabelPhase, "the deleted migration's record goes with it")
	assert.NotContains(t, mc.GetAnnotations(), reconcile.AnnOwner)
	for _, token := range tokens {
		checkTokenRejected(t, token)
	}
}

// Deleting a migration after it Completed removes its records and leaves the
// migrated cluster and its copies where they are.
func TestDeleteAfterCompleted(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"done-1"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	c := startController(t, 30*time.Second)
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: "done", from: "hub1", to: "hub2", clusters: clusters})
	m := waitMigrationPhase(t, "ops", "done", "Completed", 2*time.Minute)
	checkMigrated(t, snap, m, "hub1", "hub2", clusters)
	deleteMigration(t, "ops", "done")
	waitGone(t, "ops", "done")
	_, hub2 := clients(t, "hub2")
	mc, err := hub2.Resource(reconcile.ManagedClusterGVR).Get(ctx, "done-1", metav1.GetOptions{})
	require.NoError(t, err, "the migrated cluster stays")
	assert.NotContains(t, mc.GetLabels(), reconcile.LabelPhase, "its record goes")
	assert.NotContains(t, mc.GetAnnotations(), reconcile.AnnOwner)
	_, err = hub2.Resource(reconcile.KlusterletAddonConfigGVR).Namespace("done-1").Get(ctx, "done-1", metav1.GetOptions{})
	assert.NoError(t, err, "its copies stay")
	_, err = simulator.WaitFor(ctx, "done-1", 10*time.Second, sim.JoinedTo("hub2"))
	assert.NoError(t, err, "the agent stays on the target")
}

// A 403 that a SelfSubjectAccessReview confirms as an RBAC denial is
// permanent: with the product's role on the target missing the right to
// create ServiceAccounts, the cluster is rolled back at once with reason
// Forbidden (no waiting for a stage timeout).
func TestRBACDenialIsPermanent(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"denied-1"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	hub2Kube, _ := clients(t, "hub2")
	role, err := hub2Kube.RbacV1().ClusterRoles().Get(ctx, "hubmigrate-hub", metav1.GetOptions{})
	require.NoError(t, err)
	original := role.DeepCopy()
	var cut []rbacv1.PolicyRule
	for _, r := range role.Rules {
		if len(r.Resources) == 1 && r.Resources[0] == "serviceaccounts" {
			r.Verbs = []string{"get", "list", "watch", "delete"}
		}
		cut = append(cut, r)
	}
	role.Rules = cut
	_, err = hub2Kube.RbacV1().ClusterRoles().Update(ctx, role, metav1.UpdateOptions{})
	require.NoError(t, err)
	defer func() {
		require.NoError(t, retryOnConflict(func() error {
			current, err := hub2Kube.RbacV1().ClusterRoles().Get(ctx, "hubmigrate-hub", metav1.GetOptions{})
			if err != nil {
				return err
			}
			current.Rules = original.Rules
			_, err = hub2Kube.RbacV1().ClusterRoles().Update(ctx, current, metav1.UpdateOptions{})
			return err
		}))
	}()
	c := startController(t, 30*time.Second)
	defer c.stop()
	start := time.Now()
	createMigration(t, migrationSpec{namespace: "ops", name: "denied", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "10m"})
	m := waitMigrationPhase(t, "ops", "denied", "Failed", 2*time.Minute)
	assert.Less(t, time.Since(start), 5*time.Minute, "failed at once, not at the stage timeout")
	assert.Equal(t, `{"denied-1":"Failed:Forbidden"}`, m.GetAnnotations()[reconcile.AnnResults])
	checkFailedRecord(t, m, "denied-1", "Forbidden")
	invariants.CheckRolledBack(t, snap, hub(t, "hub1"), hub(t, "hub2"), clusters)
	invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), clusters)
	homeKube, _ := clients(t, "home")
	events, err := homeKube.CoreV1().Events("ops").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=denied"})
	require.NoError(t, err)
	found := false
	for _, e := range events.Items {
		if e.Reason == "ClusterRollingBack" {
			found = true
			assert.Contains(t, e.Message, "Forbidden")
		}
	}
	assert.True(t, found, "the rollback is announced")

	// A paused old leader's late creates for the Failed cluster — an anchor
	// and a ManagedCluster copy on the target — are removed again.
	hub2Kube2, hub2Dyn := clients(t, "hub2")
	owner := m.GetNamespace() + "/" + m.GetName() + "/" + string(m.GetUID())
	anchor := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: reconcile.ScaffoldingName("denied-1", m.GetUID()), Namespace: "open-cluster-management",
		Labels: map[string]string{reconcile.LabelMigrationUID: string(m.GetUID())}, Annotations: map[string]string{reconcile.AnnOwner: owner}}}
	// (The old leader held the seal key: what it made is sealed.)
	sealer := homeSealer(t)
	sealer.Seal("secrets", anchor)
	_, err = hub2Kube2.CoreV1().Secrets(anchor.Namespace).Create(ctx, anchor, metav1.CreateOptions{})
	require.NoError(t, err)
	stray := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
		"metadata": map[string]any{"name": "denied-1", "annotations": map[string]any{reconcile.AnnOwner: owner}},
		"spec":     map[string]any{"hubAcceptsClient": false},
	}}
	sealer.Seal("managedclusters", stray)
	_, err = hub2Dyn.Resource(reconcile.ManagedClusterGVR).Create(ctx, stray, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, errA := hub2Kube2.CoreV1().Secrets(anchor.Namespace).Get(ctx, anchor.Name, metav1.GetOptions{})
		_, errM := hub2Dyn.Resource(reconcile.ManagedClusterGVR).Get(ctx, "denied-1", metav1.GetOptions{})
		return apierrors.IsNotFound(errA) && apierrors.IsNotFound(errM), nil
	}), "the stray anchor and copy of a Failed cluster are deleted")
	invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), clusters)
}

// A committed cluster is never rolled back: with the target's import
// controller held, it commits but cannot finish registering; past its stage
// timeout the migration raises StageTimeoutExceeded (and the metric the
// alert reads), keeps trying, and completes once the import controller acts.
func TestCommittedPastTimeoutKeepsTrying(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"late-1"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	require.NoError(t, simulator.HoldImport("late-1", "hub2", true))
	defer func() { _ = simulator.HoldImport("late-1", "hub2", false) }()
	c := startController(t, 30*time.Second)
	defer func() { c.stop() }()
	createMigration(t, migrationSpec{namespace: "ops", name: "late", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "2m"})
	_, hub1 := clients(t, "hub1")
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		mc, err := hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, "late-1", metav1.GetOptions{})
		return err == nil && mc.GetAnnotations()[reconcile.AnnCommitted] != "", nil
	}), "late-1 commits")
	// Its Registering deadline passes: the controller comes back 3 minutes
	// ahead of the hubs.
	c.stop()
	c = startController(t, 30*time.Second, withClock(skewedClock{ahead: 3 * time.Minute}))

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(metrics.NewMigrationCollector(c.Migrations)))
	waitCondition(t, "ops", "late", reconcile.StageTimeoutExceededCondition, time.Minute, "late-1 (Registering)")
	assert.Equal(t, "Registering", sourceLabel(t, "late-1"), "committed: never rolled back")
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		n, err := testutil.GatherAndCount(reg, "hubmigrate_migration_condition")
		if err != nil || n == 0 {
			return false, err
		}
		families, err := reg.Gather()
		if err != nil {
			return false, err
		}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["name"] == "late" && labels["type"] == reconcile.StageTimeoutExceededCondition && m.GetGauge().GetValue() == 1 {
					return true, nil
				}
			}
		}
		return false, nil
	}), "the alert's metric shows the stuck cluster")

	require.NoError(t, simulator.HoldImport("late-1", "hub2", false))
	m := waitMigrationPhase(t, "ops", "late", "Completed", 2*time.Minute)
	checkMigrated(t, snap, m, "hub1", "hub2", clusters)
}

// The target's API server goes away mid-migration: its caches stay synced but
// stale, so the liveness probe is what tells. The migration says
// HubsReady=False (HubUnreachable), its in-flight cluster is Unknown and
// waits (no write is tried against stale facts), and once the API server is
// back the migration completes.
func TestTargetDownMidMigration(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"down-1"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	c := startController(t, 30*time.Second)
	defer c.stop()
	// Hold the cluster in Initializing (the source's import controller does
	// not re-render its klusterlet) so the target goes down mid-flight.
	require.NoError(t, simulator.HoldImport("down-1", "hub1", true))
	defer func() { _ = simulator.HoldImport("down-1", "hub1", false) }()
	createMigration(t, migrationSpec{namespace: "ops", name: "down", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "3m"})
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return sourceLabel(t, "down-1") == "Initializing", nil
	}))
	hub2 := world.Hub("hub2")
	require.NoError(t, hub2.StopAPIServer())
	restarted := false
	defer func() {
		if !restarted {
			_ = hub2.StartAPIServer(ctx)
		}
	}()
	_, homeDyn := clients(t, "home")
	var phase, reason string
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, "down", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		phase, _, _ = unstructured.NestedString(m.Object, "status", "phase")
		conds, _, _ := unstructured.NestedSlice(m.Object, "status", "conditions")
		for _, cond := range conds {
			if cm := cond.(map[string]any); cm["type"] == reconcile.HubsReadyCondition {
				reason, _ = cm["reason"].(string)
			}
		}
		return phase == "Unknown" && reason == "HubUnreachable", nil
	}), "the migration shows the target unreachable (phase %s, HubsReady reason %s)", phase, reason)
	assert.Equal(t, "Initializing", sourceLabel(t, "down-1"), "nothing decided while the target cannot be seen")

	require.NoError(t, hub2.StartAPIServer(ctx))
	restarted = true
	require.NoError(t, simulator.HoldImport("down-1", "hub1", false))
	m := waitMigrationPhase(t, "ops", "down", "Completed", 3*time.Minute)
	checkMigrated(t, snap, m, "hub1", "hub2", clusters)
}

// pastTheDeadline waits until ready holds, then restarts the controller 3
// minutes ahead of the hubs' clocks: past every 2m stage deadline at once.
// Tests of a timeout use it rather than a short real stage timeout, which a
// loaded machine could hit in an earlier stage.
func pastTheDeadline(t *testing.T, c *controller, what string, ready func() bool) *controller {
	t.Helper()
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 3*time.Minute, true, func(context.Context) (bool, error) {
		return ready(), nil
	}), what)
	c.stop()
	return startController(t, 30*time.Second, withClock(skewedClock{ahead: 3 * time.Minute}))
}

// skewedClock runs ahead of the hubs' clocks by a fixed amount.
type skewedClock struct {
	clock.RealClock
	ahead time.Duration
}

func (c skewedClock) Now() time.Time                  { return c.RealClock.Now().Add(c.ahead) }
func (c skewedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// The bootstrap token the API server mints is read back for its expiry: a
// cluster not yet registered whose token is about to expire is named in
// TokenNearExpiry. With a 20m stage timeout the token lives 70m; the
// controller's clock runs 67m ahead, so the token has 3m left as soon as it
// is minted (every stage clock runs on the same skewed clock, so no timeout
// fires). Once the cluster commits, its token no longer matters.
func TestTokenNearExpiry(t *testing.T) {
	clusters := []string{"expiring-1"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	require.NoError(t, simulator.HoldImport("expiring-1", "hub1", true))
	defer func() { _ = simulator.HoldImport("expiring-1", "hub1", false) }()
	c := startController(t, 30*time.Second, withClock(skewedClock{ahead: 67 * time.Minute}))
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: "expiring", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "20m"})
	waitCondition(t, "ops", "expiring", reconcile.TokenNearExpiryCondition, time.Minute, "expiring-1")
	require.NoError(t, simulator.HoldImport("expiring-1", "hub1", false))
	m := waitMigrationPhase(t, "ops", "expiring", "Completed", 2*time.Minute)
	checkMigrated(t, snap, m, "hub1", "hub2", clusters)
}

// waitCondition waits until the migration has condType True, its message
// naming every one of names, and returns it.
func waitCondition(t *testing.T, namespace, name, condType string, timeout time.Duration, names ...string) map[string]any {
	t.Helper()
	_, homeDyn := clients(t, "home")
	var found map[string]any
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(m.Object, "status", "conditions")
		for _, cond := range conds {
			if cm := cond.(map[string]any); cm["type"] == condType && cm["status"] == "True" {
				message, _ := cm["message"].(string)
				for _, n := range names {
					if !strings.Contains(message, n) {
						return false, nil
					}
				}
				found = cm
				return true, nil
			}
		}
		return false, nil
	}), "%s/%s: condition %s True naming %v", namespace, name, condType, names)
	return found
}

// A target without OCM's bootstrap ClusterRole: the migration makes one of
// its own with the same rules, the agent bootstraps with it, and it is gone
// with the rest of the scaffolding when the migration is done.
func TestTargetWithoutOCMBootstrapRole(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"noocm-1"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	hub2Kube, _ := clients(t, "hub2")
	ocm, err := hub2Kube.RbacV1().ClusterRoles().Get(ctx, "open-cluster-management:bootstrap", metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, hub2Kube.RbacV1().ClusterRoles().Delete(ctx, ocm.Name, metav1.DeleteOptions{}))
	defer func() {
		_, err := hub2Kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ocm.Name}, Rules: ocm.Rules}, metav1.CreateOptions{})
		require.NoError(t, err)
	}()
	c := startController(t, 30*time.Second)
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: "noocm", from: "hub1", to: "hub2", clusters: clusters})
	_, homeDyn := clients(t, "home")
	var role *rbacv1.ClusterRole
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, "noocm", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		role, err = hub2Kube.RbacV1().ClusterRoles().Get(ctx, reconcile.ServiceAccountName(m.GetUID()), metav1.GetOptions{})
		return err == nil, nil
	}), "the migration's own bootstrap ClusterRole")
	assert.Equal(t, ocm.Rules, role.Rules, "the rules of OCM's")
	m := waitMigrationPhase(t, "ops", "noocm", "Completed", 2*time.Minute)
	checkMigrated(t, snap, m, "hub1", "hub2", clusters)
}
