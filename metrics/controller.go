package metrics

import "github.com/prometheus/client_golang/prometheus"

// The controller's own counters: how its reconciles and writes go. They
// start at zero with each process, as counters do; alerts use rate().
var (
	Reconciles = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hubmigrate_reconciles_total",
		Help: "Reconciles of migrations by result: ok, replan (a 409 or a live re-read disagreed), waiting_for_hubs, error.",
	}, []string{"result"})
	Actions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hubmigrate_actions_total",
		Help: "Actions performed on hubs and home by kind and result: ok, replan, forbidden, error.",
	}, []string{"kind", "result"})
	ReconcileDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "hubmigrate_reconcile_duration_seconds",
		Help:    "How long one reconcile of a migration takes (observe, plan, the writes, the status), by result.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	}, []string{"result"})
	// Leader is 1 in the replica that acts (holds the Lease, or runs without
	// leader election), 0 in a standby: sum() over the replicas says
	// whether anyone acts.
	Leader = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hubmigrate_leader",
		Help: "1 when this replica acts on migrations (it holds the leader Lease), 0 while it stands by.",
	})
	Resumes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hubmigrate_resumes_total",
		Help: "Migrations with clusters in flight that this process took up after its start (from the markers on the clusters).",
	})
)

// Register adds the migration and cluster collectors and the controller's
// counters to reg.
func Register(reg prometheus.Registerer, migrations *MigrationCollector, clusters *ClusterCollector) error {
	for _, c := range []prometheus.Collector{migrations, clusters, Reconciles, Actions, ReconcileDuration, Resumes, Leader} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// NewBuildInfo is hubmigrate_build_info: always 1, its labels say which build
// runs (so a dashboard can tell replicas of different versions apart).
func NewBuildInfo(version, revision, goVersion string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "hubmigrate_build_info",
		Help:        "Which build of hubmigrate runs: version, VCS revision and Go version, as labels of a constant 1.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goVersion},
	})
	g.Set(1)
	return g
}
