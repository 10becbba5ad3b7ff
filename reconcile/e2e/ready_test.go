package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hubmigrate/hubmigrate/envtest/sim"
)

// /readyz says ready once the caches of the hubs the migrations name have
// synced: here hub1's list requests are held, so the controller is not ready
// (and names the hub) until they are let through.
func TestReadyOnceTheHubsInUseHaveSynced(t *testing.T) {
	holdHub1Lists, let := holdManagedClusterLists(t, "hub1")
	defer let()
	importClusters(t, "hub1", sim.Default, "ready-1")
	createMigration(t, migrationSpec{namespace: "ops", name: "ready", from: "hub1", to: "hub2", clusters: []string{"ready-1"}})
	c := startController(t, 30*time.Second, withTransport(holdHub1Lists))
	defer c.stop()
	defer let() // before stop: held requests end

	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		err := c.Ready()
		return err != nil && err.Error() == "hub caches syncing: hub1", nil
	}), "not ready while hub1's caches cannot fill (last: %v)", c.Ready())
	time.Sleep(time.Second)
	assert.EqualError(t, c.Ready(), "hub caches syncing: hub1")
	assert.NoError(t, c.Healthy(), "waiting on a hub is not a stall")

	let()
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return c.Ready() == nil, nil
	}), "ready once hub1 has synced (last: %v)", c.Ready())
	waitMigrationPhase(t, "ops", "ready", "Completed", 3*time.Minute)
}
