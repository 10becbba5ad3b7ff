package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hubmigrate/hubmigrate/envtest/sim"
)

// Once a migration has finished, its clusters' lease renewals (every second
// in this world) no longer wake it: the controller, scoped to the
// migration's namespace so that nothing else is reconciled in this process,
// makes no reconcile over five seconds of renewals.
func TestFinishedMigrationSleepsThroughLeaseRenewals(t *testing.T) {
	clusters := []string{"sleep-1", "sleep-2"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	c := startController(t, 30*time.Second, withScope("leases"))
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "leases", name: "sleep", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "10m"})
	waitMigrationPhase(t, "leases", "sleep", "Completed", 3*time.Minute)
	time.Sleep(2 * time.Second) // its last status write and Events settle
	before := reconcilesOK()
	time.Sleep(5 * time.Second) // ten lease renewals on hub2
	assert.Zero(t, reconcilesOK()-before, "a finished migration is not re-planned on lease renewals")
}
