package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hubmigrate/hubmigrate/envtest/invariants"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// The crash sweep (issue 14): the controller is crashed at its k-th write —
// before the write is sent, or after it reached the API server with the reply
// lost — and a fresh controller, sharing nothing but the API servers, must
// finish the job: same end state, invariants, tokens revoked, no effect done
// twice. See docs/crash-safety.md.
//
// HUBMIGRATE_CRASHTEST selects the runs:
//
//	(unset)                         4 spread-out k per mode on the forward path, 2 per mode on
//	                                the rollback path (from the rollback decision on), a second
//	                                crash during recovery, a chaos run: 4-6 minutes on 2 cores
//	                                (10 when other suites load the machine)
//	full                            every k in 1..W, both modes, both paths
//	path=rollback,k=17,mode=after   one run again (path defaults to forward; mode to both)
//	seed=7                          the chaos run's seed (default 14)

// The default subset's k's per mode, spread out: it runs in make test, so it
// is kept to a few minutes.
const forwardKs, rollbackKs = 4, 2

// crashResync is the controllers' resync period: long, so what finishes a
// job after a crash is the fresh controller's start, not a periodic resync.
const crashResync = 30 * time.Second

type crashConfig struct {
	full  bool
	path  string    // replay: forward or rollback
	k     int       // replay: this k alone
	mode  faultMode // replay: this mode alone ("" both)
	seed  uint64
	isSet bool
}

func crashTestConfig(t *testing.T) crashConfig {
	c := crashConfig{seed: 14}
	v := os.Getenv("HUBMIGRATE_CRASHTEST")
	for _, part := range strings.Split(v, ",") {
		key, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch key {
		case "":
		case "full":
			c.full = true
		case "path":
			c.path, c.isSet = val, true
		case "k":
			k, err := strconv.Atoi(val)
			require.NoError(t, err, "HUBMIGRATE_CRASHTEST=%s", v)
			c.k, c.isSet = k, true
		case "mode":
			require.Contains(t, []string{"before", "after"}, val, "HUBMIGRATE_CRASHTEST=%s", v)
			c.mode, c.isSet = faultMode(val), true
		case "seed":
			s, err := strconv.ParseUint(val, 10, 64)
			require.NoError(t, err, "HUBMIGRATE_CRASHTEST=%s", v)
			c.seed = s
		default:
			t.Fatalf("HUBMIGRATE_CRASHTEST=%s: unknown %q (full, path=, k=, mode=, seed=)", v, key)
		}
	}
	if c.isSet && c.path == "" {
		c.path = "forward"
	}
	return c
}

// replaying: a single run was asked for; other tests of the sweep skip.
func (c crashConfig) replaying() bool { return c.isSet }

// ks are the k's a path runs: every one in 1..w in full mode, the one
// replayed, else n spread out from first to w less 5% (the writes of a run
// vary by a few re-plans: a k at w itself is often not reached).
func (c crashConfig) ks(w, first, n int) []int {
	if c.k > 0 {
		return []int{c.k}
	}
	var out []int
	if c.full {
		for k := 1; k <= w; k++ {
			out = append(out, k)
		}
		return out
	}
	seen := map[int]bool{}
	for i := 0; i < n; i++ {
		last := w - w/20
		k := max(1, first+(last-first)*i/max(1, n-1))
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

func (c crashConfig) modes() []faultMode {
	if c.mode != "" {
		return []faultMode{c.mode}
	}
	return []faultMode{crashBefore, crashAfter}
}

// knownBugs are runs that find a product bug not fixed yet: skipped, named.
var knownBugs = map[string]string{}

// crashRun is one run of the sweep.
type crashRun struct {
	path      string // forward: every cluster completes; rollback: the last never registers
	k         int    // the first controller crashes at its k-th write (0: no crash)
	mode      faultMode
	k2        int // the recovering controller crashes too, at its k2-th write
	mode2     faultMode
	chaos     float64 // share of the writes answered by an injected fault
	seed      uint64
	clusters  []string
	namespace string // the run's own: its controllers act on it alone
	migration string
}

func (r crashRun) name() string {
	switch {
	case r.chaos > 0:
		return fmt.Sprintf("chaos_seed%d", r.seed)
	case r.k2 > 0:
		return fmt.Sprintf("k%d_%s_then_k%d_%s", r.k, r.mode, r.k2, r.mode2)
	}
	return fmt.Sprintf("k%d_%s", r.k, r.mode)
}

func (r crashRun) replay() string {
	switch {
	case r.chaos > 0:
		return fmt.Sprintf("HUBMIGRATE_CRASHTEST=seed=%d go test -run TestCrashChaos", r.seed)
	case r.k2 > 0:
		return "go test -run TestCrashDuringRecovery"
	}
	return fmt.Sprintf("HUBMIGRATE_CRASHTEST=path=%s,k=%d,mode=%s", r.path, r.k, r.mode)
}

func newCrashRun(path string, k int, mode faultMode) crashRun {
	prefix := map[string]string{"forward": "cs", "rollback": "cr"}[path]
	m := map[faultMode]string{crashBefore: "a", crashAfter: "b"}[mode]
	base := fmt.Sprintf("%s%d%s", prefix, k, m)
	return crashRun{path: path, k: k, mode: mode, clusters: names(base, 3), namespace: "crash-" + base, migration: "crash-" + base}
}

// startScoped is startController for one run: its controllers act only on
// migrations in the run's namespace and have a home id of their own, so runs
// can go in parallel without one controller seeing another's migration (or
// sweeping its scaffolding), and each controller's k-th write is its own run's.
func startScoped(t *testing.T, r crashRun, ft *faultTransport) *controller {
	t.Helper()
	return startController(t, crashResync, withScope(r.namespace), withTransport(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) { return ft.roundTrip(rt, req) })
	}))
}

// importRuns imports the clusters of runs, a batch at a time (the agents join
// in parallel): in the rollback path the last cluster of a run is in Default
// mode, so the restore reaches its klusterlet while it waits on the target.
func importRuns(t *testing.T, runs []crashRun) {
	t.Helper()
	var singleton, dflt []string
	for _, r := range runs {
		if r.path == "rollback" {
			singleton = append(singleton, r.clusters[:2]...)
			dflt = append(dflt, r.clusters[2])
		} else {
			singleton = append(singleton, r.clusters...)
		}
	}
	if len(singleton) > 0 {
		importClusters(t, "hub1", sim.Singleton, singleton...)
	}
	if len(dflt) > 0 {
		importClusters(t, "hub1", sim.Default, dflt...)
	}
}

// retire stops the agents of a finished run and deletes what is left of its
// clusters on both hubs (ManagedCluster, namespace, CSRs), best effort and
// without waiting: hundreds of runs must not leave hundreds of agents
// renewing leases, nor thousands of objects every later controller and the
// simulator list and watch (the full sweep's runs slowed from 16 s to 40 s).
// A failed run's objects are kept, for HUBMIGRATE_KEEP_WORLD.
func retire(clusters []string, failed bool) {
	ctx := context.Background()
	for _, c := range clusters {
		_ = simulator.SetDown(c, true)
	}
	if failed {
		return
	}
	for _, h := range []string{"hub1", "hub2"} {
		cfg := world.Planes[h].AdminConfig()
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			continue
		}
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			continue
		}
		for _, c := range clusters {
			_ = dyn.Resource(reconcile.ManagedClusterGVR).Delete(ctx, c, metav1.DeleteOptions{})
			_ = kube.CoreV1().Namespaces().Delete(ctx, c, metav1.DeleteOptions{})
			_ = kube.CertificatesV1().CertificateSigningRequests().DeleteCollection(ctx, metav1.DeleteOptions{},
				metav1.ListOptions{LabelSelector: reconcile.LabelClusterName + "=" + c})
		}
	}
}

// measured W per path: the writes of a clean run, and (rollback) the first
// write of the rollback decision.
var (
	measureMu sync.Mutex
	measured  = map[string][2]int{}
)

// measure runs a clean migration of 3 clusters hub1→hub2 (the rollback path:
// the last one never registers) through a recording transport and returns W,
// the mutating requests it took, and the number of the first rollback write.
func measure(t *testing.T, path string) (w, firstRollback int) {
	t.Helper()
	measureMu.Lock()
	defer measureMu.Unlock()
	if m, ok := measured[path]; ok {
		return m[0], m[1]
	}
	r := crashRun{path: path, clusters: names(map[string]string{"forward": "cwf", "rollback": "cwr"}[path], 3)}
	r.migration = "crash-clean-" + path
	r.namespace = r.migration
	importRuns(t, []crashRun{r})
	start := time.Now()
	log := &faultLog{}
	ft := newFaultTransport("clean", log, 0, "")
	snap, c := beginRun(t, r, ft)
	m := waitMigrationPhase(t, r.namespace, r.migration, expectedPhase(r), 4*time.Minute)
	time.Sleep(2 * time.Second) // the last writes after the terminal status settle
	w = ft.count()
	elapsed := time.Since(start)
	var tokens tokenChecks
	checkRun(t, r, snap, m, log, &tokens)
	release(t, r)
	c.stop()
	retire(r.clusters, t.Failed())
	tokens.check(t)
	for _, req := range log.all() {
		if req.Rollback && firstRollback == 0 {
			firstRollback = req.N
		}
	}
	var b strings.Builder
	for _, req := range log.all() {
		fmt.Fprintf(&b, "  #%-3d %s -> %d\n", req.N, req, req.Status)
	}
	t.Logf("the writes of a clean %s migration of 3 clusters:\n%s", path, b.String())
	fmt.Printf("crash sweep %s: W=%d mutating requests for a clean migration of 3 clusters (first rollback write: #%d), %.1fs\n",
		path, w, firstRollback, elapsed.Seconds())
	require.Positive(t, w)
	if path == "rollback" {
		require.Positive(t, firstRollback, "the clean rollback run decided no rollback")
	}
	measured[path] = [2]int{w, firstRollback}
	return w, firstRollback
}

func expectedPhase(r crashRun) string {
	if r.path == "rollback" {
		return "Failed"
	}
	return "Completed"
}

// beginRun takes the snapshot, starts the first controller with ft and
// creates the migration.
func beginRun(t *testing.T, r crashRun, ft *faultTransport) (invariants.Snapshot, *controller) {
	t.Helper()
	if r.path == "rollback" {
		require.NoError(t, simulator.NeverFileCSROn(r.clusters[2], "hub2", true))
	}
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), r.clusters)
	c := startScoped(t, r, ft)
	spec := migrationSpec{namespace: r.namespace, name: r.migration, from: "hub1", to: "hub2", clusters: r.clusters}
	if r.path == "rollback" {
		// Long enough that the two others complete each stage on a loaded
		// machine; the third, silent, times out in Registering.
		spec.stageTimeout = "30s"
	}
	createMigration(t, spec)
	return snap, c
}

// release deletes the run's migration once checked, and waits until its
// controller lets it go: a later controller then has no migration of another
// run to warn about (OutOfScope), and the records go.
func release(t *testing.T, r crashRun) {
	t.Helper()
	deleteMigration(t, r.namespace, r.migration)
	waitGone(t, r.namespace, r.migration)
}

// terminal: the migration has written results.
func terminal(t *testing.T, r crashRun) func() bool {
	_, dyn := clients(t, "home")
	return func() bool {
		m, err := dyn.Resource(reconcile.MigrationGVR).Namespace(r.namespace).Get(context.Background(), r.migration, metav1.GetOptions{})
		return err == nil && m.GetAnnotations()[reconcile.AnnResults] != ""
	}
}

// checkRun checks what the run's path promises and no duplicated effect in
// its log, and hands every token minted in the run (lost replies included)
// to tokens, to be checked rejected.
func checkRun(t *testing.T, r crashRun, snap invariants.Snapshot, mig *unstructured.Unstructured, log *faultLog, tokens *tokenChecks) {
	t.Helper()
	switch r.path {
	case "forward":
		checkMigrated(t, snap, mig, "hub1", "hub2", r.clusters)
	case "rollback":
		var results map[string]string
		require.NoError(t, json.Unmarshal([]byte(mig.GetAnnotations()[reconcile.AnnResults]), &results))
		failed := r.clusters[2]
		want := map[string]string{r.clusters[0]: "Completed", r.clusters[1]: "Completed", failed: "Failed:RegisteringTimeout"}
		assert.Equal(t, want, results, "results")
		checkMigrated(t, snap, mig, "hub1", "hub2", r.clusters[:2])
		checkFailedRecord(t, mig, failed, "RegisteringTimeout")
		invariants.CheckRolledBack(t, snap, hub(t, "hub1"), hub(t, "hub2"), []string{failed})
		invariants.CheckTerminal(t, snap, allHubs(t), string(mig.GetUID()), r.clusters)
		st, err := simulator.WaitFor(context.Background(), failed, 30*time.Second, sim.JoinedTo("hub1"))
		require.NoError(t, err)
		assert.Equal(t, "hub1", st.CertificateHub, "%s back on the source", failed)
	}
	entries := log.all()
	minted := mintedTokens(entries)
	assert.GreaterOrEqual(t, len(minted), len(r.clusters), "a token minted per cluster")
	for _, tok := range minted {
		tokens.add(r, tok)
	}
	if problems := duplicateEffects(entries); len(problems) > 0 {
		t.Errorf("duplicated effects:\n  %s\nthe run's writes:\n%s", strings.Join(problems, "\n  "), log.dump())
	}
}

// tokenChecks are the tokens of a test's runs, checked rejected at its end:
// the API server caches a successful token authentication for ~10 s, and
// waiting that out run by run would cost most of the sweep's time.
type tokenChecks struct {
	mu   sync.Mutex
	list []pendingToken
}

type pendingToken struct{ run, replay, token string }

func (tc *tokenChecks) add(r crashRun, token string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.list = append(tc.list, pendingToken{r.path + "/" + r.name(), r.replay(), token})
}

// check: no token minted by a finished run still authenticates on the
// target; a failure names its run.
func (tc *tokenChecks) check(t *testing.T) {
	t.Helper()
	tc.mu.Lock()
	list := tc.list
	tc.mu.Unlock()
	hub2 := world.Hub("hub2")
	for _, p := range list {
		client, err := kubernetes.NewForConfig(&rest.Config{Host: hub2.URL(), BearerToken: p.token, TLSClientConfig: rest.TLSClientConfig{CAData: hub2.CA.CertPEM}})
		require.NoError(t, err)
		var last error
		err = wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			_, last = client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
			return apierrors.IsUnauthorized(last), nil
		})
		if err != nil {
			t.Errorf("run %s: a token it minted still authenticates on the target (last answer: %v); replay alone: %s", p.run, last, p.replay)
		}
	}
	t.Logf("%d tokens minted by the runs are rejected by the target", len(list))
}

// sweepStats collect the figures of one test of the sweep.
type sweepStats struct {
	mu       sync.Mutex
	tokens   tokenChecks
	runs     int
	failed   []string
	notFired int
	start    time.Time
}

func (s *sweepStats) add(r crashRun, failed, fired bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs++
	if failed {
		s.failed = append(s.failed, r.path+"/"+r.name()+" ("+r.replay()+")")
	}
	if !fired {
		s.notFired++
	}
}

func (s *sweepStats) summary(t *testing.T, name string, w int) {
	s.tokens.check(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Printf("crash sweep %s: W=%d, runs=%d, failures=%d, fault not reached=%d, %.0fs\n",
		name, w, s.runs, len(s.failed), s.notFired, time.Since(s.start).Seconds())
	for _, f := range s.failed {
		fmt.Printf("  failed: %s\n", f)
	}
}

// crashAndRecover runs r: the first controller crashes at k, a fresh one
// (which may crash at k2, then a third) finishes; then the checks.
func crashAndRecover(t *testing.T, r crashRun, stats *sweepStats) {
	key := r.path + "/" + r.name()
	if why, ok := knownBugs[key]; ok {
		t.Skipf("known product bug, skipped: %s", why)
	}
	start := time.Now()
	log := &faultLog{}
	var interrupted []string
	fired := r.k == 0
	t.Cleanup(func() {
		retire(r.clusters, t.Failed())
		stats.add(r, t.Failed(), fired)
		if t.Failed() {
			t.Logf("FAILED run %s (%s); interrupted: %s; replay alone: %s\nthe run's writes:\n%s",
				key, r.path, strings.Join(interrupted, "; then "), r.replay(), log.dump())
		}
	})
	ft := newFaultTransport("first", log, r.k, r.mode)
	if r.chaos > 0 {
		ft.withChaos(r.chaos, r.seed)
	}
	snap, c := beginRun(t, r, ft)
	defer func() { c.stop() }()
	done := terminal(t, r)
	outcome := ""
	if r.k > 0 {
		req, ok := ft.waitFired(4*time.Minute, done)
		c.stop()
		if !ok {
			outcome = fmt.Sprintf("fault not reached (%d writes), ", ft.count())
			c = startScoped(t, r, newFaultTransport("recovery", log, 0, ""))
		} else {
			fired = true
			interrupted = append(interrupted, fmt.Sprintf("first #%d %s", req.N, req))
			ft2 := newFaultTransport("recovery", log, r.k2, r.mode2)
			c = startScoped(t, r, ft2)
			if r.k2 > 0 {
				if req2, ok := ft2.waitFired(4*time.Minute, done); ok {
					interrupted = append(interrupted, fmt.Sprintf("recovery #%d %s", req2.N, req2))
				} else {
					outcome = "second fault not reached, "
				}
				c.stop()
				c = startScoped(t, r, newFaultTransport("third", log, 0, ""))
			}
		}
	}
	m := waitMigrationPhase(t, r.namespace, r.migration, expectedPhase(r), 4*time.Minute)
	if r.chaos > 0 {
		outcome += fmt.Sprintf("injected %v, ", ft.injectedSummary())
	}
	checkRun(t, r, snap, m, log, &stats.tokens)
	release(t, r)
	result := expectedPhase(r)
	if t.Failed() {
		result = "FAILED"
	}
	line := fmt.Sprintf("crash %s %s mode=%s k=%d: %s -> %s%s, %.1fs",
		r.path, r.name(), r.mode, r.k, strings.Join(interrupted, "; then "), outcome, result, time.Since(start).Seconds())
	fmt.Println(line)
	t.Log(line)
}

// sweep runs the runs of one path, importing their clusters a batch at a
// time (from the test itself: importClusters labels them with its name), the
// runs of a batch in parallel (go test's -parallel, GOMAXPROCS by default).
func sweep(t *testing.T, runs []crashRun, stats *sweepStats) {
	const batch = 8
	for i := 0; i < len(runs); i += batch {
		chunk := runs[i:min(i+batch, len(runs))]
		importRuns(t, chunk)
		t.Run(fmt.Sprintf("batch%d", i/batch), func(t *testing.T) {
			for _, r := range chunk {
				t.Run(r.name(), func(t *testing.T) {
					t.Parallel()
					crashAndRecover(t, r, stats)
				})
			}
		})
	}
}

// The forward path: 3 clusters hub1→hub2, every one completes.
func TestCrashSweepForward(t *testing.T) {
	cfg := crashTestConfig(t)
	if cfg.replaying() && cfg.path != "forward" {
		t.Skip("replaying a run of another path")
	}
	stats := &sweepStats{start: time.Now()}
	w := 0
	if cfg.k == 0 { // a replay of one k needs no W
		w, _ = measure(t, "forward")
	}
	var runs []crashRun
	for _, mode := range cfg.modes() {
		for _, k := range cfg.ks(w, 1, forwardKs) {
			runs = append(runs, newCrashRun("forward", k, mode))
		}
	}
	sweep(t, runs, stats)
	stats.summary(t, "forward", w)
}

// The rollback path: of 3 clusters the last never files a CSR on the target;
// it is rolled back (RegisteringTimeout) while the other two complete. By
// default the k's are spread over the writes from the rollback decision on.
func TestCrashSweepRollback(t *testing.T) {
	cfg := crashTestConfig(t)
	if cfg.replaying() && cfg.path != "rollback" {
		t.Skip("replaying a run of another path")
	}
	stats := &sweepStats{start: time.Now()}
	w, first := 0, 0
	if cfg.k == 0 {
		w, first = measure(t, "rollback")
	}
	var runs []crashRun
	for _, mode := range cfg.modes() {
		for _, k := range cfg.ks(w, first, rollbackKs) {
			runs = append(runs, newCrashRun("rollback", k, mode))
		}
	}
	sweep(t, runs, stats)
	stats.summary(t, "rollback", w)
}

// A second crash during recovery: the recovering controller crashes too.
func TestCrashDuringRecovery(t *testing.T) {
	cfg := crashTestConfig(t)
	if cfg.replaying() {
		t.Skip("replaying one run")
	}
	stats := &sweepStats{start: time.Now()}
	w, _ := measure(t, "forward")
	r := crashRun{path: "forward", k: max(1, w/3), mode: crashAfter, k2: max(1, w/3), mode2: crashBefore,
		clusters: names("cd", 3), namespace: "crash-twice", migration: "crash-twice"}
	sweep(t, []crashRun{r}, stats)
	stats.summary(t, "second crash", w)
}

// Chaos: one write in ten answered by an injected 409, 429 or 500, or timed
// out before or after it reached the server; no crash. The job completes.
func TestCrashChaos(t *testing.T) {
	cfg := crashTestConfig(t)
	if cfg.replaying() {
		t.Skip("replaying one run")
	}
	stats := &sweepStats{start: time.Now()}
	r := crashRun{path: "forward", chaos: 0.1, seed: cfg.seed, clusters: names(fmt.Sprintf("cx%d", cfg.seed), 3),
		namespace: fmt.Sprintf("crash-chaos-%d", cfg.seed), migration: fmt.Sprintf("crash-chaos-%d", cfg.seed)}
	sweep(t, []crashRun{r}, stats)
	stats.summary(t, "chaos", 0)
}
