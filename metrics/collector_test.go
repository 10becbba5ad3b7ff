package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func migration(name string, status map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"namespace": "ops", "name": name},
		"spec":     map[string]any{"from": "hub1", "to": "hub2"},
		"status":   status,
	}}
}

// The series come from each migration's status, at scrape time; a
// migration without a status yet is Pending.
func TestMigrationCollector(t *testing.T) {
	objs := []any{
		migration("stuck", map[string]any{
			"phase":         "Cleaning",
			"clusterCounts": map[string]any{"Cleaning": int64(1), "Completed": int64(2)},
			"conditions": []any{
				map[string]any{"type": "HubsReady", "status": "True", "reason": "HubsReady"},
				map[string]any{"type": "StageTimeoutExceeded", "status": "True", "reason": "StuckPastTimeout"},
			},
		}),
		migration("new", nil),
	}
	c := NewMigrationCollector(func() []any { return objs })
	want := `
# HELP hubmigrate_migration_clusters How many of a migration's clusters are in each phase.
# TYPE hubmigrate_migration_clusters gauge
hubmigrate_migration_clusters{name="stuck",namespace="ops",phase="Cleaning"} 1
hubmigrate_migration_clusters{name="stuck",namespace="ops",phase="Completed"} 2
# HELP hubmigrate_migration_condition A migration's status conditions: 1 when True, 0 when False, with the condition's reason.
# TYPE hubmigrate_migration_condition gauge
hubmigrate_migration_condition{name="stuck",namespace="ops",reason="HubsReady",type="HubsReady"} 1
hubmigrate_migration_condition{name="stuck",namespace="ops",reason="StuckPastTimeout",type="StageTimeoutExceeded"} 1
# HELP hubmigrate_migration_phase 1 for the phase a ManagedClusterMigration is in (the earliest phase of its clusters; Unknown while a hub cannot be seen).
# TYPE hubmigrate_migration_phase gauge
hubmigrate_migration_phase{from="hub1",name="new",namespace="ops",phase="Pending",to="hub2"} 1
hubmigrate_migration_phase{from="hub1",name="stuck",namespace="ops",phase="Cleaning",to="hub2"} 1
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want)))

	objs = objs[1:] // a migration that is gone has no series
	require.Equal(t, 1, testutil.CollectAndCount(c))
}
