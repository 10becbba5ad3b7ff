package e2e

import (
	"context"
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

// A cluster never fails for hubmigrate's own slowness (issue 19, item 0):
// the migration starts, but the controller cannot look at the source for
// longer than the whole stage timeout (its ManagedCluster list is held: a
// hub slow to answer, or thousands of clusters ahead in the queue). When it
// finally looks, two clusters happen to be unavailable — a flicker that ends
// a moment later. Measured from started-at their wait would be over at once
// and they would be failed before a claim; measured as observed, they wait,
// come back and migrate with the others.
func TestNoClusterFailsForHubmigratesOwnSlowness(t *testing.T) {
	ctx := context.Background()
	clusters := names("slow", 6)
	flicker := clusters[:2]
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	for _, c := range flicker {
		require.NoError(t, simulator.SetDown(c, true))
		defer func() { _ = simulator.SetDown(c, false) }()
	}
	_, hub1 := clients(t, "hub1")
	for _, c := range flicker {
		waitUnavailable(t, hub1, c)
	}

	holdHub1Lists, let := holdManagedClusterLists(t, "hub1")
	defer let()
	const stageTimeout = 15 * time.Second
	c := startController(t, 30*time.Second, withTransport(holdHub1Lists))
	defer c.stop()
	defer let() // before stop: held requests end
	createMigration(t, migrationSpec{namespace: "ops", name: "slow", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: stageTimeout.String()})

	_, home := clients(t, "home")
	var startedAt time.Time
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		m, err := home.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, "slow", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		startedAt, err = time.Parse(time.RFC3339, m.GetAnnotations()[reconcile.AnnStartedAt])
		return err == nil, nil
	}), "the controller writes started-at though it cannot see the source")
	time.Sleep(time.Until(startedAt.Add(stageTimeout + 2*time.Second)))

	let()
	// The controller now sees the source for the first time, the stage
	// timeout long past: the available clusters are claimed...
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		mc, err := hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, clusters[len(clusters)-1], metav1.GetOptions{})
		return err == nil && mc.GetAnnotations()[reconcile.AnnOwner] != "", nil
	}), "the available clusters are claimed once the source can be seen")
	time.Sleep(time.Second)
	// ...and the two that are unavailable just then are waiting, not failed.
	m, err := home.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, "slow", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotContains(t, m.GetAnnotations(), reconcile.AnnUnclaimedFailures,
		"a cluster first seen unavailable after started-at + the stage timeout is not failed at once")
	failures, _, _ := unstructured.NestedSlice(m.Object, "status", "failedClusters")
	assert.Empty(t, failures, "nothing failed")
	for _, c := range flicker {
		require.NoError(t, simulator.SetDown(c, false))
	}
	m = waitMigrationPhase(t, "ops", "slow", "Completed", 3*time.Minute)
	checkMigrated(t, snap, m, "hub1", "hub2", clusters)
}
