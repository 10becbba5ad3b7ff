// Package metrics exposes what Prometheus alerts on. Migration metrics are
// computed at scrape time from the migrations' status (as cert-manager's
// certificate collector does): nothing is counted in memory that a restart
// could lose, and a migration that is gone has no series.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

var (
	phaseDesc = prometheus.NewDesc("hubmigrate_migration_phase",
		"1 for the phase a ManagedClusterMigration is in (the earliest phase of its clusters; Unknown while a hub cannot be seen).",
		[]string{"namespace", "name", "from", "to", "phase"}, nil)
	clustersDesc = prometheus.NewDesc("hubmigrate_migration_clusters",
		"How many of a migration's clusters are in each phase.",
		[]string{"namespace", "name", "phase"}, nil)
	stageTimeoutDesc = prometheus.NewDesc("hubmigrate_migration_stage_timeout_seconds",
		"The longest a cluster of the migration may stay in one stage before it is rolled back (its stageTimeout; 12m when not set, Registering's default).",
		[]string{"namespace", "name"}, nil)
	conditionDesc = prometheus.NewDesc("hubmigrate_migration_condition",
		"A migration's status conditions: 1 when True, 0 when False, with the condition's reason.",
		[]string{"namespace", "name", "type", "reason"}, nil)
)

// Names are the metric names this package exposes (the alert rules may use
// no other hubmigrate_ names).
func Names() []string {
	return []string{"hubmigrate_migration_phase", "hubmigrate_migration_clusters", "hubmigrate_migration_condition",
		"hubmigrate_reconciles_total", "hubmigrate_actions_total", "hubmigrate_build_info",
		"hubmigrate_reconcile_duration_seconds", "hubmigrate_resumes_total", "hubmigrate_leader",
		"hubmigrate_cluster_phase_since_seconds", "hubmigrate_migration_stage_timeout_seconds"}
}

// MigrationCollector reads the migrations from a cache at each scrape.
type MigrationCollector struct {
	list func() []any
}

// NewMigrationCollector collects from list, typically an informer store's List.
func NewMigrationCollector(list func() []any) *MigrationCollector {
	return &MigrationCollector{list: list}
}

// Describe implements prometheus.Collector.
func (c *MigrationCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- phaseDesc
	ch <- clustersDesc
	ch <- conditionDesc
	ch <- stageTimeoutDesc
}

// Collect implements prometheus.Collector.
func (c *MigrationCollector) Collect(ch chan<- prometheus.Metric) {
	for _, obj := range c.list() {
		m, ok := obj.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		ns, name := m.GetNamespace(), m.GetName()
		from, _, _ := unstructured.NestedString(m.Object, "spec", "from")
		to, _, _ := unstructured.NestedString(m.Object, "spec", "to")
		phase, _, _ := unstructured.NestedString(m.Object, "status", "phase")
		if phase == "" {
			phase = "Pending"
		}
		ch <- prometheus.MustNewConstMetric(phaseDesc, prometheus.GaugeValue, 1, ns, name, from, to, phase)
		ch <- prometheus.MustNewConstMetric(stageTimeoutDesc, prometheus.GaugeValue, stageTimeout(m).Seconds(), ns, name)
		counts, _, _ := unstructured.NestedMap(m.Object, "status", "clusterCounts")
		for p, n := range counts {
			if v, ok := number(n); ok {
				ch <- prometheus.MustNewConstMetric(clustersDesc, prometheus.GaugeValue, v, ns, name, p)
			}
		}
		conds, _, _ := unstructured.NestedSlice(m.Object, "status", "conditions")
		for _, cond := range conds {
			cm, _ := cond.(map[string]any)
			t, _ := cm["type"].(string)
			reason, _ := cm["reason"].(string)
			if t == "" {
				continue
			}
			v := 0.0
			if cm["status"] == "True" {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(conditionDesc, prometheus.GaugeValue, v, ns, name, t, reason)
		}
	}
}

// DefaultStageTimeout is the longest default stage (Registering's): the
// bound of a migration without spec.supportedConfigs.stageTimeout.
const DefaultStageTimeout = 12 * time.Minute

func stageTimeout(m *unstructured.Unstructured) time.Duration {
	s, _, _ := unstructured.NestedString(m.Object, "spec", "supportedConfigs", "stageTimeout")
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d
	}
	return DefaultStageTimeout
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	case int:
		return float64(n), true
	}
	return 0, false
}
