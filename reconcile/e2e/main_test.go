package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/informers"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

var (
	world     *envtest.World
	simulator *sim.Simulator
)

var (
	homeIDOnce sync.Once
	homeIDOf   string
)

// homeID is the home id the hubmigrate binary reads (kube-system's UID), so
// the in-process controllers, the binary and the CLI agree on it.
func homeID(t *testing.T) string {
	t.Helper()
	homeIDOnce.Do(func() {
		kube, err := kubernetes.NewForConfig(world.Planes[envtest.HomeName].AdminConfig())
		if err != nil {
			t.Fatal(err)
		}
		ns, err := kube.CoreV1().Namespaces().Get(context.Background(), "kube-system", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		homeIDOf = string(ns.UID)
	})
	require.NotEmpty(t, homeIDOf)
	return homeIDOf
}

func TestMain(m *testing.M) {
	if os.Getenv("HUBMIGRATE_UNIT_ONLY") != "" {
		// make mutation runs the planner's own tests once per mutant.
		fmt.Println("HUBMIGRATE_UNIT_ONLY is set: the end-to-end tests are skipped")
		os.Exit(0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// The home cluster is a hub too, as local-cluster.
	w, s, err := sim.StartWorld(ctx, sim.Options{LeaseDuration: time.Second}, informers.LocalCluster)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	world, simulator = w, s
	code := m.Run()
	cancel()
	w.Stop()
	os.Exit(code)
}

// writeCounter counts the API writes hubmigrate makes, on every cluster.
type writeCounter struct {
	n atomic.Int64
	// scope, when set: Events in other namespaces are not counted — the
	// OutOfScope Warning a scoped controller says once per start about each
	// migration it ignores is not a write of its migrations.
	scope string
	mu    sync.Mutex
	// byKind counts the writes by "VERB host resource[/subresource]".
	byKind map[string]int
	// refused counts the writes the API server refused, by the same key
	// and status code ("→ 409"): the wasted ones (AlreadyExists, stale
	// resourceVersions, NotFound deletes).
	refused map[string]int
}

func (w *writeCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			// Reviews are reads that happen to be POSTs (isReview).
			if !isReview(r.URL.Path) && !w.outOfScopeEvent(r.URL.Path) {
				w.n.Add(1)
				w.mu.Lock()
				if w.byKind == nil {
					w.byKind = map[string]int{}
				}
				key := r.Method + " " + hostName(r.URL.Host) + " " + resourceOf(r.URL.Path)
				w.byKind[key]++
				w.mu.Unlock()
				resp, err := rt.RoundTrip(r)
				if err == nil && resp.StatusCode >= 400 {
					w.mu.Lock()
					if w.refused == nil {
						w.refused = map[string]int{}
					}
					w.refused[fmt.Sprintf("%s → %d", key, resp.StatusCode)]++
					w.mu.Unlock()
				}
				return resp, err
			}
		}
		return rt.RoundTrip(r)
	})
}

// breakdown lists the writes by verb, cluster and resource, most first,
// then the refused ones by status code.
func (w *writeCounter) breakdown() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	list := func(counts map[string]int) {
		keys := make([]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if counts[keys[i]] != counts[keys[j]] {
				return counts[keys[i]] > counts[keys[j]]
			}
			return keys[i] < keys[j]
		})
		for _, k := range keys {
			fmt.Fprintf(&b, "  %5d %s\n", counts[k], k)
		}
	}
	list(w.byKind)
	refused := 0
	for _, n := range w.refused {
		refused += n
	}
	fmt.Fprintf(&b, "refused by the API server: %d\n", refused)
	list(w.refused)
	return b.String()
}

// hostName names the API server of host (home, hub1, hub2).
func hostName(host string) string {
	for name, plane := range world.Planes {
		if strings.Contains(plane.AdminConfig().Host, host) {
			return name
		}
	}
	return host
}

// resourceOf is the resource (and subresource) a request path names:
// /api/v1/namespaces/ns/secrets/x → secrets, …/managedclusters/c/status → managedclusters/status.
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	// Drop the group/version prefix: api/v1 or apis/<group>/<version>.
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	}
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) > 2 {
		parts = parts[2:]
	}
	switch len(parts) {
	case 0:
		return path
	case 1, 2:
		return parts[0]
	}
	return parts[0] + "/" + parts[2]
}

func (w *writeCounter) outOfScopeEvent(path string) bool {
	if w.scope == "" || !strings.HasSuffix(strings.TrimRight(path, "/"), "/events") && !strings.Contains(path, "/events/") {
		return false
	}
	return !strings.Contains(path, "/namespaces/"+w.scope+"/")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// controller is hubmigrate's controller running in this process.
type controller struct {
	*reconcile.Controller
	writes *writeCounter
	stop   func()
}

// startController runs hubmigrate's controller in this process until stop:
// on the hubs it acts as the product identity bound to the hub role (the
// <hub>-kubeconfig Secrets the world wrote); local-cluster is the home cluster.
// controllerOption changes how a test's controller runs.
type controllerOption func(*controllerOptions)

type controllerOptions struct {
	wraps []func(http.RoundTripper) http.RoundTripper
	clock clock.Clock
	home  *rest.Config
	scope string
}

// withScope runs a controller that acts only on the migrations of
// namespace, under a home id of its own: it neither sees nor sweeps what
// the other tests' migrations left (the crash runs, the restart test).
func withScope(namespace string) controllerOption {
	return func(o *controllerOptions) { o.scope = namespace }
}

// withHomeConfig runs the controller on home as another identity (the
// installed ServiceAccount's).
func withHomeConfig(cfg *rest.Config) controllerOption {
	return func(o *controllerOptions) { o.home = rest.CopyConfig(cfg) }
}

// withTransport wraps every client the controller uses (after the write counter).
func withTransport(w func(http.RoundTripper) http.RoundTripper) controllerOption {
	return func(o *controllerOptions) { o.wraps = append(o.wraps, w) }
}

// withClock gives the controller its clock (the hubs keep theirs).
func withClock(c clock.Clock) controllerOption {
	return func(o *controllerOptions) { o.clock = c }
}

func startController(t *testing.T, resync time.Duration, opts ...controllerOption) *controller {
	t.Helper()
	var o controllerOptions
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	writes := &writeCounter{scope: o.scope}
	wrap := writes.wrap
	for _, w := range o.wraps {
		inner := wrap
		wrap = func(rt http.RoundTripper) http.RoundTripper { return inner(w(rt)) }
	}
	// On home too the product runs as its own identity, held to
	// manifests/base/home-role.yaml (and hub-role.yaml, home being local-cluster).
	home, err := world.ProductConfig(envtest.HomeName)
	if err != nil {
		t.Fatal(err)
	}
	if o.home != nil {
		home = o.home
	}
	home.Wrap(wrap)
	kube, err := kubernetes.NewForConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	id, namespaces := homeID(t), []string{"ops"}
	if o.scope != "" {
		id, namespaces = "e2e-"+o.scope, []string{o.scope}
	}
	c := reconcile.NewController(reconcile.Config{
		HomeID: id, BootstrapNamespace: "open-cluster-management", BootstrapSecretNamespace: sim.BootstrapSecretNamespace,
		Resync: resync, Clock: o.clock, MigrationNamespaces: namespaces,
	}, dyn, func(onEvent informers.EventHandler, onRebuild func(string)) *informers.Registry {
		return informers.NewRegistry(home, kube, informers.Options{
			Namespace: envtest.ProductNamespace, Resync: resync, QPS: 50, Burst: 100,
			OnEvent: onEvent, OnRebuild: onRebuild, WrapTransport: wrap,
		})
	})
	recorder, stopEvents := reconcile.NewEventRecorder(ctx, kube)
	c.SetEventRecorder(recorder)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer stopEvents()
		if err := c.Run(ctx, 4); err != nil {
			t.Errorf("controller: %v", err)
		}
	}()
	// A test that fails half-way must not leave its controller acting on the
	// next test's migrations: stop is idempotent and runs at cleanup too.
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return &controller{Controller: c, writes: writes, stop: stop}
}
