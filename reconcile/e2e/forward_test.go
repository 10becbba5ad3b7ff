package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/hubmigrate/hubmigrate/envtest/invariants"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/informers"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// planeOf maps a hub name to its control plane (local-cluster is home).
func planeOf(hub string) string {
	if hub == informers.LocalCluster {
		return "home"
	}
	return hub
}

func clients(t *testing.T, hub string) (kubernetes.Interface, dynamic.Interface) {
	t.Helper()
	cfg := world.Planes[planeOf(hub)].AdminConfig()
	kube, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	return kube, dyn
}

func hub(t *testing.T, name string) invariants.Hub {
	return invariants.NewHub(t, name, world.Planes[planeOf(name)].AdminConfig())
}

func allHubs(t *testing.T) []invariants.Hub {
	return []invariants.Hub{hub(t, "hub1"), hub(t, "hub2"), hub(t, informers.LocalCluster)}
}

type migrationSpec struct {
	namespace, name, from, to string
	clusters                  []string
	placement                 string
	stageTimeout              string
}

func createMigration(t *testing.T, m migrationSpec) {
	t.Helper()
	ctx := context.Background()
	kube, dyn := clients(t, "home")
	_, _ = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: m.namespace}}, metav1.CreateOptions{})
	_, err := dyn.Resource(reconcile.MigrationGVR).Namespace(m.namespace).Create(ctx, m.object(), metav1.CreateOptions{})
	require.NoError(t, err)
}

// object is the migration as an admin writes it.
func (m migrationSpec) object() *unstructured.Unstructured {
	spec := map[string]any{"from": m.from, "to": m.to}
	if m.stageTimeout != "" {
		spec["supportedConfigs"] = map[string]any{"stageTimeout": m.stageTimeout}
	}
	if m.placement != "" {
		spec["includedManagedClustersPlacementRef"] = m.placement
	} else {
		var list []any
		for _, c := range m.clusters {
			list = append(list, c)
		}
		spec["includedManagedClusters"] = list
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "global-hub.open-cluster-management.io/v1alpha1", "kind": "ManagedClusterMigration",
		"metadata": map[string]any{"name": m.name, "namespace": m.namespace},
		"spec":     spec,
	}}
}

func waitMigrationPhase(t *testing.T, namespace, name, phase string, timeout time.Duration) *unstructured.Unstructured {
	t.Helper()
	_, dyn := clients(t, "home")
	var last *unstructured.Unstructured
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		m, err := dyn.Resource(reconcile.MigrationGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = m
		p, _, _ := unstructured.NestedString(m.Object, "status", "phase")
		return p == phase && m.GetAnnotations()[reconcile.AnnResults] != "", nil
	})
	if err != nil {
		var status map[string]any
		if last != nil {
			status, _, _ = unstructured.NestedMap(last.Object, "status")
		}
		t.Fatalf("migration %s/%s not %s within %s; status %v", namespace, name, phase, timeout, status)
	}
	return last
}

// importClusters imports clusters into a hub, each with a KlusterletAddonConfig
// (whose addons the simulated addon controller makes) and a preserved Secret
// and ConfigMap, and waits until they have joined.
func importClusters(t *testing.T, hubName string, mode sim.Mode, clusters ...string) {
	t.Helper()
	ctx := context.Background()
	kube, dyn := clients(t, hubName)
	for _, c := range clusters {
		require.NoError(t, simulator.AddCluster(ctx, c, hubName, sim.ClusterOptions{Mode: mode, Labels: map[string]string{"env": "prod", "batch": t.Name()}}))
	}
	// Once the test is over its klusterlets stop: a hundred agents renewing
	// their leases every second for the rest of the suite would load the
	// API servers and every later test's controller for nothing.
	t.Cleanup(func() {
		for _, c := range clusters {
			_ = simulator.SetDown(c, true)
		}
	})
	for _, c := range clusters {
		_, err := simulator.WaitFor(ctx, c, 2*time.Minute, sim.JoinedTo(hubName))
		require.NoError(t, err)
		kac := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "agent.open-cluster-management.io/v1", "kind": "KlusterletAddonConfig",
			"metadata": map[string]any{"name": c, "namespace": c},
			"spec": map[string]any{
				"applicationManager":   map[string]any{"enabled": true},
				"searchCollector":      map[string]any{"enabled": true},
				"certPolicyController": map[string]any{"enabled": false},
				"policyController":     map[string]any{"enabled": false},
			},
		}}
		_, err = dyn.Resource(reconcile.KlusterletAddonConfigGVR).Namespace(c).Create(ctx, kac, metav1.CreateOptions{})
		require.NoError(t, err)
		preserved := map[string]string{reconcile.LabelPreserve: "", "app": "siteconfig"}
		_, err = kube.CoreV1().Secrets(c).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bmc-credentials", Labels: preserved},
			Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("s3cret-" + c)}}, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = kube.CoreV1().ConfigMaps(c).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "site-config", Labels: preserved},
			Data: map[string]string{"site": c}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	for _, c := range clusters {
		require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			list, err := dyn.Resource(reconcile.ManagedClusterAddOnGVR).Namespace(c).List(ctx, metav1.ListOptions{})
			return err == nil && len(list.Items) == 2, nil
		}), "addons of %s", c)
		require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			work, err := dyn.Resource(reconcile.ManifestWorkGVR).Namespace(c).Get(ctx, c+"-klusterlet", metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(work.Object, "status", "conditions")
			for _, cond := range conds {
				m := cond.(map[string]any)
				if m["type"] == "Applied" && m["status"] == "True" && m["observedGeneration"] == work.GetGeneration() {
					return true, nil
				}
			}
			return false, nil
		}), "klusterlet work of %s applied", c)
	}
}

func names(prefix string, n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("%s-%02d", prefix, i))
	}
	return out
}

// checkMigrated asserts what a completed migration promises for its clusters.
func checkMigrated(t *testing.T, snap invariants.Snapshot, m *unstructured.Unstructured, from, to string, clusters []string) {
	t.Helper()
	checkMigratedRestarted(t, snap, m, from, to, clusters, nil)
}

// checkMigratedRestarted is checkMigrated where the clusters in reapproved
// had their klusterlet restarted mid-switch: one may have been approved
// more than once (each time the committed CN).
func checkMigratedRestarted(t *testing.T, snap invariants.Snapshot, m *unstructured.Unstructured, from, to string, clusters []string, reapproved map[string]bool) {
	t.Helper()
	ctx := context.Background()
	targetKube, targetDyn := clients(t, to)
	invariants.CheckCompleted(t, snap, hub(t, from), hub(t, to), clusters)
	invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), clusters)
	owner := m.GetNamespace() + "/" + m.GetName() + "/" + string(m.GetUID())
	for _, c := range clusters {
		st, err := simulator.WaitFor(ctx, c, 30*time.Second, sim.JoinedTo(to))
		require.NoError(t, err)
		assert.Equal(t, to, st.CertificateHub)
		mc, err := targetDyn.Resource(reconcile.ManagedClusterGVR).Get(ctx, c, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "Completed", mc.GetLabels()[reconcile.LabelPhase])
		assert.Equal(t, owner, mc.GetAnnotations()[reconcile.AnnOwner], "the record")
		// Every approval of the migration's credential was hubmigrate's.
		csrs, err := targetKube.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{LabelSelector: reconcile.LabelClusterName + "=" + c})
		require.NoError(t, err)
		approvedByUs := 0
		for _, csr := range csrs.Items {
			if csr.Spec.Username != "system:serviceaccount:open-cluster-management:"+reconcile.ServiceAccountName(m.GetUID()) {
				continue
			}
			for _, cond := range csr.Status.Conditions {
				if cond.Type == "Approved" {
					assert.Equal(t, "HubmigrateApproved", cond.Reason, "%s approved by someone else", csr.Name)
					approvedByUs++
				}
			}
		}
		if reapproved[c] {
			// Its klusterlet restarted after its CSR was approved but before it
			// used the certificate, and filed again with the committed CN.
			assert.Positive(t, approvedByUs, "approved for %s", c)
		} else {
			assert.Equal(t, 1, approvedByUs, "one approval for %s", c)
		}
	}
}

// 20 clusters by list, Singleton mode, with addons and preserved resources;
// then a converged world costs no writes over several resyncs.
func TestMigrateByList(t *testing.T) {
	clusters := names("list", 20)
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	c := startController(t, 2*time.Second)
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: "by-list", from: "hub1", to: "hub2", clusters: clusters})
	m := waitMigrationPhase(t, "ops", "by-list", "Completed", 4*time.Minute)
	migrated := c.writes.n.Load()
	progress, _, _ := unstructured.NestedString(m.Object, "status", "progress")
	assert.Equal(t, "20/20", progress)
	homeKube, _ := clients(t, "home")
	want := map[string]int32{"ClusterClaimed": 20, "ClusterCommitted": 20, "ClusterCompleted": 20, "MigrationFinished": 1}
	reasons := map[string]int32{}
	// Events are sent by the recorder's own goroutine, after the write they
	// tell of: the last one may reach the API server after the status does.
	_ = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		events, err := homeKube.CoreV1().Events("ops").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=by-list"})
		if err != nil {
			return false, nil
		}
		reasons = map[string]int32{}
		for _, e := range events.Items {
			reasons[e.Reason] += e.Count
		}
		for r, n := range want {
			if reasons[r] != n {
				return false, nil
			}
		}
		return true, nil
	})
	assert.Equal(t, int32(20), reasons["ClusterClaimed"], "events: %v", reasons)
	assert.Equal(t, int32(20), reasons["ClusterCommitted"], "events: %v", reasons)
	assert.Equal(t, int32(20), reasons["ClusterCompleted"], "events: %v", reasons)
	assert.Equal(t, int32(1), reasons["MigrationFinished"], "events: %v", reasons)
	checkMigrated(t, snap, m, "hub1", "hub2", clusters)

	time.Sleep(time.Second) // the last events settle
	before := c.writes.n.Load()
	time.Sleep(3 * 2 * time.Second) // three resync periods
	assert.Equal(t, int64(0), c.writes.n.Load()-before, "a converged world costs no writes")
	t.Logf("writes per migrated cluster: %.1f (%d for %d clusters); by verb, API server and resource:\n%s", float64(migrated)/float64(len(clusters)), migrated, len(clusters), c.writes.breakdown())

	// The reverse migration, while the first migration object still exists:
	// it takes over the records.
	snap = invariants.Take(t, hub(t, "hub2"), allHubs(t), clusters)
	createMigration(t, migrationSpec{namespace: "ops", name: "back", from: "hub2", to: "hub1", clusters: clusters})
	back := waitMigrationPhase(t, "ops", "back", "Completed", 4*time.Minute)
	checkMigrated(t, snap, back, "hub2", "hub1", clusters)
}

// 20 clusters chosen by a Placement on the source: the decisions that
// Placement owns, in the two namespaces that hold a Placement of its name,
// are merged and resolved once. PlacementDecisions planted with its label
// but not owned by it (another namespace; the Placement's own namespace)
// name a cluster that is not migrated and not written to.
func TestMigrateByPlacement(t *testing.T) {
	ctx := context.Background()
	clusters := names("placed", 20)
	const extra = "placed-extra"
	importClusters(t, "hub1", sim.Singleton, append(slices.Clone(clusters), extra)...)
	for i, ns := range []string{"placement-a", "placement-b"} {
		createPlacementDecision(t, "hub1", ns, "to-hub2", "to-hub2-decision-1", createPlacement(t, "hub1", ns, "to-hub2"), clusters[i*10:i*10+10]...)
	}
	// Anyone who can create a PlacementDecision on the source: the label,
	// no owner.
	createPlacementDecision(t, "hub1", "placement-rogue", "to-hub2", "to-hub2-decision-1", "", extra)
	createPlacementDecision(t, "hub1", "placement-a", "to-hub2", "to-hub2-decision-planted", "", extra)
	extraRV := settledResourceVersion(t, "hub1", extra)

	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	c := startController(t, 30*time.Second)
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: "by-placement", from: "hub1", to: "hub2", placement: "to-hub2"})
	m := waitMigrationPhase(t, "ops", "by-placement", "Completed", 4*time.Minute)
	want, _ := json.Marshal(clusters)
	assert.Equal(t, string(want), m.GetAnnotations()[reconcile.AnnClusters], "only the Placement's own decisions")
	checkMigrated(t, snap, m, "hub1", "hub2", clusters)

	_, hub1 := clients(t, "hub1")
	mc, err := hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, extra, metav1.GetOptions{})
	require.NoError(t, err, "%s stays on the source", extra)
	// (its agent's status updates move the resourceVersion: the markers tell)
	_ = extraRV
	assert.NotContains(t, mc.GetAnnotations(), reconcile.AnnOwner, "%s was never claimed", extra)
	assert.NotContains(t, mc.GetLabels(), reconcile.LabelPhase, "%s was never claimed", extra)
	_, hub2 := clients(t, "hub2")
	_, err = hub2.Resource(reconcile.ManagedClusterGVR).Get(ctx, extra, metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "%s is not on the target", extra)
	_, err = simulator.WaitFor(ctx, extra, 10*time.Second, sim.JoinedTo("hub1"))
	require.NoError(t, err)
}

// createPlacement makes a Placement (it selects nothing: the test writes its
// decisions) and returns its UID.
func createPlacement(t *testing.T, hubName, ns, name string) types.UID {
	t.Helper()
	ctx := context.Background()
	kube, dyn := clients(t, hubName)
	_, _ = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	pl := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.open-cluster-management.io/v1beta1", "kind": "Placement",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{},
	}}
	created, err := dyn.Resource(placementGVR).Namespace(ns).Create(ctx, pl, metav1.CreateOptions{})
	require.NoError(t, err)
	return created.GetUID()
}

var placementGVR = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1beta1", Resource: "placements"}

// createPlacementDecision makes a decision of placement naming clusters, as
// OCM's placement controller does when owner is the Placement's UID (a
// controller ownerReference); with owner "" it carries the label alone.
func createPlacementDecision(t *testing.T, hubName, ns, placement, name string, owner types.UID, clusters ...string) {
	t.Helper()
	ctx := context.Background()
	kube, dyn := clients(t, hubName)
	_, _ = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	var decisions []any
	for _, c := range clusters {
		decisions = append(decisions, map[string]any{"clusterName": c, "reason": ""})
	}
	pd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.open-cluster-management.io/v1beta1", "kind": "PlacementDecision",
		"metadata": map[string]any{"name": name, "namespace": ns,
			"labels": map[string]any{reconcile.LabelPlacement: placement}},
	}}
	if owner != "" {
		pd.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "cluster.open-cluster-management.io/v1beta1", Kind: "Placement",
			Name: placement, UID: owner, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}})
	}
	created, err := dyn.Resource(reconcile.PlacementDecisionGVR).Namespace(ns).Create(ctx, pd, metav1.CreateOptions{})
	require.NoError(t, err)
	created.Object["status"] = map[string]any{"decisions": decisions}
	_, err = dyn.Resource(reconcile.PlacementDecisionGVR).Namespace(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// settledResourceVersion is a ManagedCluster's resourceVersion once its hub
// and agent have stopped writing it (unchanged for two seconds).
func settledResourceVersion(t *testing.T, hubName, cluster string) string {
	t.Helper()
	_, dyn := clients(t, hubName)
	rv, since := "", time.Now()
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		mc, err := dyn.Resource(reconcile.ManagedClusterGVR).Get(ctx, cluster, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		if mc.GetResourceVersion() != rv {
			rv, since = mc.GetResourceVersion(), time.Now()
		}
		return time.Since(since) >= 2*time.Second, nil
	}), "%s settles", cluster)
	return rv
}

// Two migrations at once, on disjoint clusters and different hub pairs: one
// from local-cluster (the home cluster), one of klusterlets in Default mode.
func TestConcurrentMigrations(t *testing.T) {
	local := names("local", 3)
	dflt := names("dflt", 5)
	importClusters(t, informers.LocalCluster, sim.Singleton, local...)
	importClusters(t, "hub1", sim.Default, dflt...)
	snapLocal := invariants.Take(t, hub(t, informers.LocalCluster), allHubs(t), local)
	snapDefault := invariants.Take(t, hub(t, "hub1"), allHubs(t), dflt)
	c := startController(t, 30*time.Second)
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: "from-local", from: informers.LocalCluster, to: "hub2", clusters: local})
	createMigration(t, migrationSpec{namespace: "ops", name: "default-mode", from: "hub1", to: "hub2", clusters: dflt})
	m1 := waitMigrationPhase(t, "ops", "from-local", "Completed", 4*time.Minute)
	m2 := waitMigrationPhase(t, "ops", "default-mode", "Completed", 4*time.Minute)
	checkMigrated(t, snapLocal, m1, informers.LocalCluster, "hub2", local)
	checkMigrated(t, snapDefault, m2, "hub1", "hub2", dflt)
}
