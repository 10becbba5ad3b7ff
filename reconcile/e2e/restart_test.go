package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hubmigrate/hubmigrate/envtest/invariants"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
)

// The controller stopped in the middle of a migration and started again (a
// new process, with nothing but the markers on the objects) carries on to the
// same end, several times over.
func TestRestartsMidway(t *testing.T) {
	ctx := context.Background()
	clusters := names("restart", 6)
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	c := startController(t, 30*time.Second)
	createMigration(t, migrationSpec{namespace: "ops", name: "restarted", from: "hub1", to: "hub2", clusters: clusters})
	for _, phase := range []string{"Initializing", "Deploying", "Registering"} {
		require.NoError(t, wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
			for _, cl := range clusters {
				if sourceLabel(t, cl) == phase {
					return true, nil
				}
			}
			return false, nil
		}), "some cluster reaches %s", phase)
		c.stop()
		c = startController(t, 30*time.Second)
	}
	defer c.stop()
	m := waitMigrationPhase(t, "ops", "restarted", "Completed", 4*time.Minute)
	checkMigrated(t, snap, m, "hub1", "hub2", clusters)
}
