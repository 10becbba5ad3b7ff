package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/envtest/invariants"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// killConfig: `make killtest` (HUBMIGRATE_KILLTEST=full) SIGKILLs the binary
// 20 times over a migration of 200 clusters; the README's test command a
// few times over a small one.
type killConfig struct {
	clusters, kills int
	seed            uint64
}

func killTestConfig(t *testing.T) killConfig {
	c := killConfig{clusters: 12, kills: 5, seed: 7}
	if os.Getenv("HUBMIGRATE_KILLTEST") == "full" {
		c.clusters, c.kills = 200, 20
	}
	if s := os.Getenv("HUBMIGRATE_KILLTEST_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		c.seed = seed
	}
	return c
}

// product is the hubmigrate binary run as its Deployment runs it, one
// process at a time or as replicas, each SIGKILLable.
type product struct {
	t          *testing.T
	bin, dir   string
	kubeconfig string
	namespace  string // of the migrations it acts on
	lease      time.Duration
}

type replica struct {
	cmd     *exec.Cmd
	pod     string
	metrics string
	started time.Time
	log     string
}

func newProduct(t *testing.T, namespace string, lease time.Duration) *product {
	t.Helper()
	dir := t.TempDir()
	home, err := world.ProductConfig(envtest.HomeName)
	require.NoError(t, err)
	kc, err := envtest.Kubeconfig(home)
	require.NoError(t, err)
	path := filepath.Join(dir, "home.kubeconfig")
	require.NoError(t, os.WriteFile(path, kc, 0o600))
	return &product{t: t, bin: cliBinary(t), dir: dir, kubeconfig: path, namespace: namespace, lease: lease}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// start runs a replica as pod (a restarted container keeps its pod's name).
func (p *product) start(pod string) *replica {
	t := p.t
	r := &replica{pod: pod, metrics: freeAddr(t), log: filepath.Join(p.dir, fmt.Sprintf("%s-%d.log", pod, time.Now().UnixNano()))}
	log, err := os.Create(r.log)
	require.NoError(t, err)
	r.cmd = exec.Command(p.bin, "--kubeconfig="+p.kubeconfig, "--namespace="+envtest.ProductNamespace,
		"--migration-namespaces="+p.namespace, "--metrics-bind-address="+r.metrics, "--health-probe-bind-address="+freeAddr(t),
		"--leader-elect-lease-duration="+p.lease.String(), "--resync-period=30s")
	r.cmd.Env = append(os.Environ(), "POD_NAME="+pod)
	r.cmd.Stdout, r.cmd.Stderr = log, log
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, r.cmd.Start())
	r.started = time.Now()
	t.Cleanup(func() { _ = r.cmd.Process.Kill(); _ = r.cmd.Wait(); log.Close() })
	return r
}

func (r *replica) kill() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	_ = r.cmd.Wait()
}

var okActions = regexp.MustCompile(`(?m)^hubmigrate_actions_total\{kind="[^"]+",result="ok"\} (\d+)$`)

// actions is how many actions the replica has performed (its metrics).
func (r *replica) actions() int {
	resp, err := http.Get("http://" + r.metrics + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	n := 0
	for _, m := range okActions.FindAllStringSubmatch(string(body), -1) {
		v, _ := strconv.Atoi(m[1])
		n += v
	}
	return n
}

// firstWrite waits until the replica has performed an action: how long
// after its start.
func (r *replica) firstWrite(t *testing.T, within time.Duration) (time.Duration, error) {
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, within, true, func(context.Context) (bool, error) {
		return r.actions() > 0, nil
	})
	return time.Since(r.started), err
}

func (r *replica) tail() string {
	data, _ := os.ReadFile(r.log)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// phaseRank orders the phases of the forward path.
var phaseRank = map[string]int{"": 0, "Validating": 0, "Initializing": 1, "Deploying": 2, "Registering": 3, "Cleaning": 4, "Completed": 5}

// progressOf is how far the clusters are, from the phase labels on both
// hubs (the target's speaks once the source is gone): the sum of their
// ranks, and how many are in each phase. The migration's status is no
// measure here: a process killed before its first reconcile of 200
// clusters ends has not written it.
func progressOf(t *testing.T, clusters []string) (int, map[string]int) {
	phase := map[string]string{}
	for _, h := range []string{"hub1", "hub2"} {
		_, dyn := clients(t, h)
		list, err := dyn.Resource(reconcile.ManagedClusterGVR).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, mc := range list.Items {
			if p := mc.GetLabels()[reconcile.LabelPhase]; phaseRank[p] > phaseRank[phase[mc.GetName()]] {
				phase[mc.GetName()] = p
			}
		}
	}
	score, counts := 0, map[string]int{}
	for _, c := range clusters {
		p := phase[c]
		if p == "" {
			p = "Validating"
		}
		score += phaseRank[p]
		counts[p]++
	}
	return score, counts
}

// The real binary SIGKILLed again and again, at seeded moments spread over
// a whole migration — each time after the new process has acted — with
// some klusterlets restarted mid-switch: the migration completes as if
// nothing happened (every invariant of a clean migration holds), and a
// restarted process (the same pod, so its own Lease) acts again at once.
func TestBinarySurvivesSIGKILL(t *testing.T) {
	cfg := killTestConfig(t)
	clusters := names("kill", cfg.clusters)
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	p := newProduct(t, "kill", 15*time.Second)
	rng := rand.New(rand.NewPCG(cfg.seed, cfg.seed))

	r := p.start("hubmigrate-0")
	createMigration(t, migrationSpec{namespace: "kill", name: "kill", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "10m"})
	var latencies []time.Duration
	var moments []string
	restarted := map[string]bool{}
	// The kills are spread over the whole migration by its progress as the
	// markers show it (each cluster's phase rank, 0 unclaimed … 5
	// Completed): kill i waits for i/(kills+1) of the way.
	total := len(clusters) * phaseRank["Completed"]
	for i := 0; i < cfg.kills; i++ {
		first, err := r.firstWrite(t, 2*time.Minute)
		require.NoError(t, err, "replica %d acts; its log:\n%s", i, r.tail())
		if i > 0 {
			latencies = append(latencies, first)
		}
		goal := (i + 1) * total / (cfg.kills + 1)
		var score int
		var counts map[string]int
		require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 10*time.Minute, true, func(context.Context) (bool, error) {
			score, counts = progressOf(t, clusters)
			return score >= goal, nil
		}), "the migration progresses to %d/%d before kill %d; log:\n%s", goal, total, i+1, r.tail())
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Millisecond)
		if counts["Completed"] == len(clusters) {
			break
		}
		if len(restarted) == 0 && i >= cfg.kills/2 {
			// Klusterlets restarted mid-switch, as a node drain would.
			for _, c := range clusters {
				if sourceLabel(t, c) == "Registering" {
					require.NoError(t, simulator.RestartAgent(c))
					restarted[c] = true
				}
			}
		}
		r.kill()
		moments = append(moments, fmt.Sprintf("%3d%% %v", 100*score/total, counts))
		r = p.start("hubmigrate-0")
	}
	m := waitMigrationPhase(t, "kill", "kill", "Completed", 15*time.Minute)
	checkMigratedRestarted(t, snap, m, "hub1", "hub2", clusters, restarted)

	slices.Sort(latencies)
	fmt.Printf("SIGKILL series (%d clusters, seed %d): %d kills (%d klusterlets restarted mid-Registering), at progress and phases (labels):\n", len(clusters), cfg.seed, len(moments), len(restarted))
	for i, c := range moments {
		fmt.Printf("  kill %2d: %s\n", i+1, c)
	}
	if len(latencies) > 0 {
		fmt.Printf("restart to the first corrective write (the binary, same pod): min %s, median %s, max %s\n",
			latencies[0].Round(time.Millisecond), latencies[len(latencies)/2].Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond))
	}
	require.NotEmpty(t, moments, "the binary was killed at least once before the migration ended")
	deleteMigration(t, "kill", "kill")
	waitGone(t, "kill", "kill")
}

// Two replicas with leader election; the leader SIGKILLed while clusters
// are Registering: the standby takes over once the Lease expires and the
// migration completes.
func TestLeaderKilledMidRegistering(t *testing.T) {
	if os.Getenv("HUBMIGRATE_KILLTEST") != "full" {
		// make killtest runs it; make test keeps the leader's identity
		// test (TestLeaderIdentityIsStableForAPod) and the kill series.
		t.Skip("HUBMIGRATE_KILLTEST=full (make killtest): two replicas, the leader SIGKILLed mid-Registering")
	}
	clusters := names("failover", 4)
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	const lease = 6 * time.Second
	p := newProduct(t, "failover", lease)
	a := p.start("hubmigrate-a")
	b := p.start("hubmigrate-b")
	// Held back on the target until the kill, so the kill is mid-Registering.
	for _, c := range clusters {
		require.NoError(t, simulator.NeverFileCSROn(c, "hub2", true))
	}
	createMigration(t, migrationSpec{namespace: "failover", name: "failover", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "10m"})
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 3*time.Minute, true, func(context.Context) (bool, error) {
		for _, c := range clusters {
			if sourceLabel(t, c) != "Registering" {
				return false, nil
			}
		}
		return true, nil
	}), "every cluster Registering; a: %s\nb: %s", a.tail(), b.tail())
	leader, standby := a, b
	if a.actions() == 0 {
		leader, standby = b, a
	}
	require.Positive(t, leader.actions(), "one replica acted")
	require.Zero(t, standby.actions(), "the standby did nothing")
	leader.kill()
	killed := time.Now()
	kube, _ := clients(t, "home")
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := kube.CoordinationV1().Leases(envtest.ProductNamespace).Get(ctx, "hubmigrate", metav1.GetOptions{})
		return err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == standby.pod, nil
	}), "the standby takes the Lease; its log:\n%s", standby.tail())
	took := time.Since(killed)
	for _, c := range clusters {
		require.NoError(t, simulator.NeverFileCSROn(c, "hub2", false))
	}
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		return standby.actions() > 0, nil
	}), "the standby acts; its log:\n%s", standby.tail())
	fmt.Printf("leader (lease %s) SIGKILLed mid-Registering: the standby held the Lease after %s\n", lease, took.Round(10*time.Millisecond))
	require.Less(t, took, 3*lease, "the standby takes over once the dead leader's Lease expires")
	m := waitMigrationPhase(t, "failover", "failover", "Completed", 5*time.Minute)
	checkMigrated(t, snap, m, "hub1", "hub2", clusters)
	deleteMigration(t, "failover", "failover")
	waitGone(t, "failover", "failover")
}
