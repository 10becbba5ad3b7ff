package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var clusterPhaseSinceDesc = prometheus.NewDesc("hubmigrate_cluster_phase_since_seconds",
	"When a cluster still in flight entered its phase (unix seconds, from its phase-since marker): Prometheus computes how long it has been there.",
	[]string{"namespace", "name", "cluster", "phase"}, nil)

// ClusterClock is a cluster in flight and when it entered its phase.
type ClusterClock struct {
	Namespace, Name, Cluster, Phase string
	Since                           time.Time
}

// ClusterCollector reports, at each scrape, the clock of every cluster in
// flight as the controller's last reconcile of its migration read it from
// the markers: a fresh replica reports them after its first reconciles,
// with the times the markers carry, not the time it started.
type ClusterCollector struct {
	list func() []ClusterClock
}

// NewClusterCollector collects from list.
func NewClusterCollector(list func() []ClusterClock) *ClusterCollector {
	return &ClusterCollector{list: list}
}

// Describe implements prometheus.Collector.
func (c *ClusterCollector) Describe(ch chan<- *prometheus.Desc) { ch <- clusterPhaseSinceDesc }

// Collect implements prometheus.Collector.
func (c *ClusterCollector) Collect(ch chan<- prometheus.Metric) {
	for _, k := range c.list() {
		if k.Since.IsZero() {
			continue
		}
		ch <- prometheus.MustNewConstMetric(clusterPhaseSinceDesc, prometheus.GaugeValue,
			float64(k.Since.Unix()), k.Namespace, k.Name, k.Cluster, k.Phase)
	}
}
