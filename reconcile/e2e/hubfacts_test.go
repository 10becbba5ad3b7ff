package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/hubmigrate/hubmigrate/envtest/hubfacts"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
)

// The scenario envtest/ocm runs with OCM's own agents and hub controllers
// (TestForwardWithOCMAgents, with five): clusters in Singleton mode, hub1 → hub2.
// The simulator must make the hubs show what OCM's code made them show,
// fact by fact (envtest/hubfacts/testdata, recorded in that tier).
func TestHubFactsOfTheSimulatorAreOCMs(t *testing.T) {
	clusters := []string{"facts-1", "facts-2"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	rec, err := hubfacts.Start(context.Background(), map[string]*rest.Config{
		"source": world.Planes["hub1"].AdminConfig(), "target": world.Planes["hub2"].AdminConfig(),
	}, clusters...)
	require.NoError(t, err)
	defer rec.Stop()

	c := startController(t, 30*time.Second)
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: "facts", from: "hub1", to: "hub2", clusters: clusters})
	waitMigrationPhase(t, "ops", "facts", "Completed", 3*time.Minute)
	hubfacts.Match(t, rec, "../../envtest/hubfacts/testdata/forward-singleton.facts", "", clusters...)
	deleteMigration(t, "ops", "facts")
	waitGone(t, "ops", "facts")
}
