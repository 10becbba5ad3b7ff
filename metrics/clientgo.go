package metrics

import (
	"context"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientmetrics "k8s.io/client-go/tools/metrics"
	"k8s.io/client-go/util/workqueue"
)

// client-go's own metrics, through its provider hooks: the workqueue's
// depth, latency and retries, and every REST request by code, method and
// host (one host per hub, so the cardinality stays bounded).
var (
	queueDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "workqueue_depth", Help: "Current depth of the workqueue.",
	}, []string{"name"})
	queueAdds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "workqueue_adds_total", Help: "Adds handled by the workqueue.",
	}, []string{"name"})
	queueLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "workqueue_queue_duration_seconds", Help: "How long an item stays in the workqueue before being requested.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	}, []string{"name"})
	queueWork = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "workqueue_work_duration_seconds", Help: "How long processing an item from the workqueue takes.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	}, []string{"name"})
	queueUnfinished = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "workqueue_unfinished_work_seconds", Help: "Seconds of work in progress not yet observed by work_duration.",
	}, []string{"name"})
	queueLongest = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "workqueue_longest_running_processor_seconds", Help: "How long the longest running processor has been running.",
	}, []string{"name"})
	queueRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "workqueue_retries_total", Help: "Retries handled by the workqueue.",
	}, []string{"name"})

	requestLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "rest_client_request_duration_seconds", Help: "Request latency by verb and host.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	}, []string{"verb", "host"})
	rateLimiterLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "rest_client_rate_limiter_duration_seconds", Help: "Time spent waiting for the client-side rate limiter, by verb and host.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	}, []string{"verb", "host"})
	requestResults = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rest_client_requests_total", Help: "HTTP requests by status code, method and host.",
	}, []string{"code", "method", "host"})
	requestRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rest_client_request_retries_total", Help: "Request retries by status code, method and host.",
	}, []string{"code", "method", "host"})
)

// RegisterClientGo hooks client-go's workqueue and REST client metrics into
// reg. Call it once, before any workqueue is made (client-go takes the
// first provider only).
func RegisterClientGo(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{queueDepth, queueAdds, queueLatency, queueWork, queueUnfinished, queueLongest, queueRetries,
		requestLatency, rateLimiterLatency, requestResults, requestRetries} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	workqueue.SetProvider(queueMetrics{})
	clientmetrics.Register(clientmetrics.RegisterOpts{
		RequestLatency:     latency{requestLatency},
		RateLimiterLatency: latency{rateLimiterLatency},
		RequestResult:      result{requestResults},
		RequestRetry:       retry{requestRetries},
	})
	return nil
}

type queueMetrics struct{}

func (queueMetrics) NewDepthMetric(name string) workqueue.GaugeMetric {
	return queueDepth.WithLabelValues(name)
}
func (queueMetrics) NewAddsMetric(name string) workqueue.CounterMetric {
	return queueAdds.WithLabelValues(name)
}
func (queueMetrics) NewLatencyMetric(name string) workqueue.HistogramMetric {
	return queueLatency.WithLabelValues(name)
}
func (queueMetrics) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	return queueWork.WithLabelValues(name)
}
func (queueMetrics) NewUnfinishedWorkSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return queueUnfinished.WithLabelValues(name)
}
func (queueMetrics) NewLongestRunningProcessorSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return queueLongest.WithLabelValues(name)
}
func (queueMetrics) NewRetriesMetric(name string) workqueue.CounterMetric {
	return queueRetries.WithLabelValues(name)
}

type latency struct{ h *prometheus.HistogramVec }

func (l latency) Observe(_ context.Context, verb string, u url.URL, d time.Duration) {
	l.h.WithLabelValues(verb, u.Host).Observe(d.Seconds())
}

type result struct{ c *prometheus.CounterVec }

func (r result) Increment(_ context.Context, code, method, host string) {
	r.c.WithLabelValues(code, method, host).Inc()
}

type retry struct{ c *prometheus.CounterVec }

func (r retry) IncrementRetry(_ context.Context, code, method, host string) {
	r.c.WithLabelValues(code, method, host).Inc()
}
