package metrics

import (
	"strings"
	"testing"
	"time"

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
	_ = unstructured.SetNestedField(objs[0].(*unstructured.Unstructured).Object, "90s", "spec", "supportedConfigs", "stageTimeout")
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
# HELP hubmigrate_migration_stage_timeout_seconds The longest a cluster of the migration may stay in one stage before it is rolled back (its stageTimeout; 12m when not set, Registering's default).
# TYPE hubmigrate_migration_stage_timeout_seconds gauge
hubmigrate_migration_stage_timeout_seconds{name="new",namespace="ops"} 720
hubmigrate_migration_stage_timeout_seconds{name="stuck",namespace="ops"} 90
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want)))

	objs = objs[1:] // a migration that is gone has no series
	require.Equal(t, 2, testutil.CollectAndCount(c))
}

// A cluster's clock is the time its marker carries, as unix seconds; one
// without a clock has no series.
func TestClusterCollector(t *testing.T) {
	since := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	clocks := []ClusterClock{
		{Namespace: "ops", Name: "move", Cluster: "c1", Phase: "Registering", Since: since},
		{Namespace: "ops", Name: "move", Cluster: "c2", Phase: "Deploying"},
	}
	c := NewClusterCollector(func() []ClusterClock { return clocks })
	want := `
# HELP hubmigrate_cluster_phase_since_seconds When a cluster still in flight entered its phase (unix seconds, from its phase-since marker): Prometheus computes how long it has been there.
# TYPE hubmigrate_cluster_phase_since_seconds gauge
hubmigrate_cluster_phase_since_seconds{cluster="c1",name="move",namespace="ops",phase="Registering"} 1.7965584e+09
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want)))
}
