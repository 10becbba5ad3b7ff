// Package baseline is the floor hubmigrate's controller is measured against:
// a straight-line program that migrates ManagedClusters from one hub to
// another with SPEC's protocol — the same objects, the same steps per
// cluster in the same order — and nothing else. No reconcile loop, no
// progress markers (phase labels, owner and phase-since annotations, status,
// Events, seals), no crash safety, no rollback, and no retries beyond waiting
// for the world (a CSR approval that meets a 409 is the one write repeated).
// The two edits of the source ManagedCluster are JSON merge patches: one
// write each, whatever the hub and the agent wrote to it meanwhile. Whatever the controller spends above this floor, in writes
// or in wall time, is the price of keeping no progress of its own.
//
// It runs as an admin of both hubs, not as the product's identity: the
// product's fence (manifests/base/hub-fence.yaml) lets hubmigrate delete only
// ManagedClusters that carry its sealed markers, and the baseline writes none.
// It lives in the test tree and is never linked into the product.
package baseline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// Options of a run; the zero value is hubmigrate's defaults.
type Options struct {
	// Concurrency is how many requests are in flight at once, over both
	// hubs; default 16, the controller's --action-concurrency. Every
	// cluster is under way at once (each one's steps in order): a cluster
	// waiting for its klusterlet holds nothing, as in the controller.
	Concurrency int
	// QPS and Burst bound the requests to each API server: one token bucket
	// per hub, shared by every client of that hub. Default 50 and 100, the
	// controller's --kube-api-qps and --kube-api-burst.
	QPS   float32
	Burst int
	// BootstrapNamespace holds the bootstrap ServiceAccount and the anchor
	// Secrets on the target; default open-cluster-management.
	BootstrapNamespace string
	// BootstrapSecretNamespace holds the bootstrap kubeconfig Secrets on the
	// source, where ACM's import controller reads them; default multicluster-engine.
	BootstrapSecretNamespace string
	// RegistrationAddress and RegistrationCA are how managed clusters reach
	// the target; default the target config's host and CA.
	RegistrationAddress string
	RegistrationCA      []byte
	// Timeout bounds each wait for the world; default 5 minutes (a stage's).
	Timeout time.Duration
	// TokenLifetime of each cluster's bootstrap token; default 32 minutes,
	// what hubmigrate mints with its default stage timeouts.
	TokenLifetime time.Duration
	// UID names the run's scaffolding as a migration's UID names
	// hubmigrate's (hubmigrate-<cluster>-<first 8>); default a new one.
	UID types.UID
}

func (o *Options) defaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.QPS <= 0 {
		o.QPS = 50
	}
	if o.Burst <= 0 {
		o.Burst = 100
	}
	if o.BootstrapNamespace == "" {
		o.BootstrapNamespace = "open-cluster-management"
	}
	if o.BootstrapSecretNamespace == "" {
		o.BootstrapSecretNamespace = "multicluster-engine"
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.TokenLifetime <= 0 {
		o.TokenLifetime = 32 * time.Minute
	}
	if o.UID == "" {
		o.UID = uuid.NewUUID()
	}
}

// Result is what a run cost.
type Result struct {
	// UID named the run's scaffolding.
	UID types.UID
	// Wall is the whole run, caches' sync and the shared identity included.
	Wall time.Duration
	// Clusters has every cluster asked for.
	Clusters map[string]ClusterResult
	// Writes are every write sent to a hub (POST, PUT, PATCH, DELETE; not
	// reviews); Failed are those of them that did not succeed.
	Writes, Failed Writes
}

// ClusterResult is one cluster's run.
type ClusterResult struct {
	// Duration from the cluster's turn (a free slot) to its end.
	Duration time.Duration
	// Steps say where that time went.
	Steps []Step
	// Err is why the cluster stopped, nil when it was migrated.
	Err error
}

// Step is one step of a cluster and how long it took (waits included).
type Step struct {
	Name string
	Took time.Duration
}

// clients of one hub, sharing its rate limit and its write counter.
type clients struct {
	kube kubernetes.Interface
	dyn  dynamic.Interface
}

func newClients(cfg *rest.Config, opts Options, count func(http.RoundTripper) http.RoundTripper) (clients, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = opts.QPS, opts.Burst
	cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(opts.QPS, opts.Burst)
	cfg.Wrap(count)
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return clients{}, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return clients{}, err
	}
	return clients{kube: kube, dyn: dyn}, nil
}

// run is one migration of a list of clusters.
type run struct {
	opts           Options
	uid            types.UID
	source, target clients
	watch          *watcher
	id             identity
	registration   struct {
		server string
		ca     []byte
	}
}

// Migrate moves clusters from source to target (admin configs of both hubs)
// and returns what it cost. Each cluster's steps run in order, clusters side
// by side. A cluster that fails stops where it is and is reported, with no
// rollback; the shared identity is then left in place too, since a stopped
// cluster's agent may still need it.
func Migrate(ctx context.Context, source, target *rest.Config, clusters []string, opts Options) (res Result, err error) {
	start := time.Now()
	opts.defaults()
	res = Result{UID: opts.UID, Clusters: map[string]ClusterResult{}}
	count := newCounter()
	inFlight := make(chan struct{}, opts.Concurrency)
	limited := func(wrap func(http.RoundTripper) http.RoundTripper) func(http.RoundTripper) http.RoundTripper {
		return func(rt http.RoundTripper) http.RoundTripper {
			return limitInFlight(inFlight, wrap(rt))
		}
	}
	// Named results: what is returned, on every path, carries the time and
	// the writes spent until then.
	defer func() {
		res.Wall = time.Since(start)
		res.Writes, res.Failed = count.snapshot()
	}()
	r := &run{opts: opts, uid: opts.UID}
	if r.source, err = newClients(source, opts, limited(count.wrap("source"))); err != nil {
		return res, err
	}
	if r.target, err = newClients(target, opts, limited(count.wrap("target"))); err != nil {
		return res, err
	}
	r.registration.server, r.registration.ca = opts.RegistrationAddress, opts.RegistrationCA
	if r.registration.server == "" {
		r.registration.server = target.Host
	}
	if r.registration.ca == nil {
		if r.registration.ca, err = caOf(target); err != nil {
			return res, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the informers
	if r.watch, err = watch(ctx, r.source, r.target); err != nil {
		return res, err
	}
	if r.id, err = r.makeIdentity(ctx); err != nil {
		return res, fmt.Errorf("the bootstrap identity: %w", err)
	}

	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range clusters {
		wg.Go(func() {
			began := time.Now()
			steps, err := r.migrate(ctx, c)
			mu.Lock()
			res.Clusters[c] = ClusterResult{Duration: time.Since(began), Steps: steps, Err: err}
			mu.Unlock()
		})
	}
	wg.Wait()
	var errs []error
	for _, c := range clusters {
		if err := res.Clusters[c].Err; err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	return res, r.removeIdentity(ctx, r.id)
}

// caOf is the CA a config trusts the API server with.
func caOf(cfg *rest.Config) ([]byte, error) {
	if len(cfg.CAData) > 0 || cfg.CAFile == "" {
		return cfg.CAData, nil
	}
	return os.ReadFile(cfg.CAFile)
}

// limitInFlight lets at most cap(slots) requests through at once; a watch
// holds its slot only until its response headers arrive.
func limitInFlight(slots chan struct{}, rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		select {
		case slots <- struct{}{}:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
		defer func() { <-slots }()
		return rt.RoundTrip(r)
	})
}
