package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hubmigrate/hubmigrate/envtest/invariants"
)

// A cluster absent from the source fails before any claim: recorded on the
// migration, which ends Failed with it named, leaving nothing on any hub.
func TestAbsentClusterFailsUnclaimed(t *testing.T) {
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), nil)
	c := startController(t, 30*time.Second)
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: "absent", from: "hub1", to: "hub2", clusters: []string{"nowhere"}})
	m := waitMigrationPhase(t, "ops", "absent", "Failed", time.Minute)
	assert.Equal(t, `{"nowhere":"Failed:NotFound"}`, m.GetAnnotations()["migration.open-cluster-management.io/results"])
	assert.Equal(t, `{"nowhere":"NotFound"}`, m.GetAnnotations()["migration.open-cluster-management.io/unclaimed-failures"])
	invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), nil)
}
