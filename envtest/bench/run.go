package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/envtest/baseline"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// Options of one row.
type Options struct {
	Binary   string
	Clusters int
	QPS      int
	// Manifests is the kustomization installed on home; default manifests/base.
	Manifests string
	Log       func(format string, args ...any)
}

// Row is one N: both runs, and how they compare.
type Row struct {
	Clusters    int     `json:"clusters"`
	Baseline    Cost    `json:"baseline"`
	Hubmigrate  Cost    `json:"hubmigrate"`
	WallRatio   float64 `json:"wallRatio"`
	WritesRatio float64 `json:"writesRatio"`
}

// Cost is what one migration of the N clusters cost.
type Cost struct {
	WallSeconds float64 `json:"wallSeconds"`
	// HubWritesPerCluster counts the writes to the two hubs (the shared
	// identity's included), per cluster.
	HubWritesPerCluster float64 `json:"hubWritesPerCluster"`
	// HomeWritesPerCluster: the migration's status and Events (hubmigrate only).
	HomeWritesPerCluster float64 `json:"homeWritesPerCluster,omitempty"`
	// Refused writes (4xx/5xx): AlreadyExists, stale resourceVersions, …
	Refused      int     `json:"refused"`
	PeakRSSBytes int64   `json:"peakRSSBytes,omitempty"`
	CPUSeconds   float64 `json:"cpuSeconds,omitempty"`
}

// Measure measures one N in a world of its own.
func Measure(ctx context.Context, o Options) (Row, error) {
	if o.Manifests == "" {
		o.Manifests = "manifests/base"
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	row := Row{Clusters: o.Clusters}
	world, simulator, err := sim.StartWorld(ctx, sim.Options{LeaseDuration: 2 * time.Second, Workers: 8}, "")
	if err != nil {
		return row, err
	}
	defer world.Stop()
	names := make([]string, o.Clusters)
	for i := range names {
		names[i] = fmt.Sprintf("bench-%04d", i+1)
	}
	start := time.Now()
	if err := baseline.ImportClusters(ctx, simulator, world.Hub("hub1"), sim.Singleton, names...); err != nil {
		return row, err
	}
	o.Log("%d clusters joined hub1 with their addons and preserved objects (%s)", o.Clusters, time.Since(start).Round(time.Second))

	res, err := baseline.Migrate(ctx, world.Hub("hub1").AdminConfig(), world.Hub("hub2").AdminConfig(), names,
		baseline.Options{QPS: float32(o.QPS), Burst: 2 * o.QPS})
	if err != nil {
		return row, fmt.Errorf("baseline: %w", err)
	}
	for _, c := range names {
		if _, err := simulator.WaitFor(ctx, c, time.Minute, sim.JoinedTo("hub2")); err != nil {
			return row, fmt.Errorf("baseline: %w", err)
		}
	}
	row.Baseline = Cost{WallSeconds: res.Wall.Seconds(), HubWritesPerCluster: float64(res.Writes.Total()) / float64(o.Clusters), Refused: res.Failed.Total()}
	o.Log("baseline hub1 → hub2: %s, %.1f writes per cluster", res.Wall.Round(100*time.Millisecond), row.Baseline.HubWritesPerCluster)

	hm, err := runHubmigrate(ctx, world, names, o)
	if err != nil {
		return row, fmt.Errorf("hubmigrate: %w", err)
	}
	row.Hubmigrate = hm
	o.Log("hubmigrate hub2 → hub1: %.1fs, %.1f hub writes per cluster", hm.WallSeconds, hm.HubWritesPerCluster)
	row.WallRatio = hm.WallSeconds / row.Baseline.WallSeconds
	row.WritesRatio = hm.HubWritesPerCluster / row.Baseline.HubWritesPerCluster
	return row, nil
}

// runHubmigrate installs the product on home, starts the binary, applies a
// migration of names from hub2 to hub1 and waits for it to complete.
func runHubmigrate(ctx context.Context, world *envtest.World, names []string, o Options) (Cost, error) {
	var run Cost
	productHome, err := envtest.InstallProduct(ctx, world, o.Manifests)
	if err != nil {
		return run, err
	}
	kubeconfig, err := envtest.Kubeconfig(productHome)
	if err != nil {
		return run, err
	}
	kcPath := filepath.Join(world.Dir, "home.kubeconfig")
	if err := os.WriteFile(kcPath, kubeconfig, 0o600); err != nil {
		return run, err
	}
	metricsAddr, err := freeAddress()
	if err != nil {
		return run, err
	}
	logFile, err := os.Create(filepath.Join(world.Dir, "hubmigrate.log"))
	if err != nil {
		return run, err
	}
	defer logFile.Close()
	cmd := exec.Command(o.Binary, "--kubeconfig="+kcPath, "--namespace="+envtest.ProductNamespace, "--migration-namespaces=bench",
		"--metrics-bind-address="+metricsAddr, "--health-probe-bind-address=", "--resync-period=1m",
		fmt.Sprintf("--kube-api-qps=%d", o.QPS), fmt.Sprintf("--kube-api-burst=%d", 2*o.QPS))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return run, fmt.Errorf("starting %s: %w", o.Binary, err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()

	home := world.Home().AdminConfig()
	homeKube, err := kubernetes.NewForConfig(home)
	if err != nil {
		return run, err
	}
	homeDyn, err := dynamic.NewForConfig(home)
	if err != nil {
		return run, err
	}
	if _, err := homeKube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{}); err != nil {
		return run, err
	}
	// The counters before the migration: the caches' start and leader
	// election are not the migration's writes.
	before, err := scrapeWrites(ctx, metricsAddr, world)
	if err != nil {
		return run, err
	}
	list := make([]any, len(names))
	for i, n := range names {
		list[i] = n
	}
	migration := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "global-hub.open-cluster-management.io/v1alpha1", "kind": "ManagedClusterMigration",
		"metadata": map[string]any{"name": "back", "namespace": "bench"},
		"spec":     map[string]any{"from": "hub2", "to": "hub1", "includedManagedClusters": list},
	}}
	start := time.Now()
	if _, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("bench").Create(ctx, migration, metav1.CreateOptions{}); err != nil {
		return run, err
	}
	for {
		m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("bench").Get(ctx, "back", metav1.GetOptions{})
		if err != nil {
			return run, err
		}
		phase, _, _ := unstructured.NestedString(m.Object, "status", "phase")
		if m.GetAnnotations()[reconcile.AnnResults] != "" && (phase == "Completed" || phase == "Failed") {
			if phase != "Completed" {
				return run, fmt.Errorf("the migration ended %s: %s", phase, m.GetAnnotations()[reconcile.AnnResults])
			}
			break
		}
		select {
		case <-ctx.Done():
			return run, fmt.Errorf("not finished: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	run.WallSeconds = time.Since(start).Seconds()
	after, err := scrapeWrites(ctx, metricsAddr, world)
	if err != nil {
		return run, err
	}
	n := float64(len(names))
	run.HubWritesPerCluster = float64(after.hubs-before.hubs) / n
	run.HomeWritesPerCluster = float64(after.home-before.home) / n
	run.Refused = after.refused - before.refused
	if run.PeakRSSBytes, err = envtest.PeakRSS(cmd.Process.Pid); err != nil {
		return run, err
	}
	cpu, err := envtest.CPUTime(cmd.Process.Pid)
	if err != nil {
		return run, err
	}
	run.CPUSeconds = cpu.Seconds()
	return run, nil
}

// writeCounts are the controller's writes so far, from its client-go
// counters, by where they went.
type writeCounts struct{ hubs, home, refused int }

func scrapeWrites(ctx context.Context, addr string, world *envtest.World) (writeCounts, error) {
	var wc writeCounts
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return wc, err
	}
	var resp *http.Response
	for range 50 { // the metrics server starts with the process
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return wc, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return wc, err
	}
	homeHost := hostOf(world.Home().AdminConfig().Host)
	fam := families["rest_client_requests_total"]
	if fam == nil {
		return wc, fmt.Errorf("no rest_client_requests_total on %s/metrics", addr)
	}
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		switch labels["method"] {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			continue
		}
		count := int(m.GetCounter().GetValue())
		if labels["host"] == homeHost {
			wc.home += count
		} else {
			wc.hubs += count
		}
		if code := labels["code"]; code != "" && code[0] >= '4' {
			wc.refused += count
		}
	}
	return wc, nil
}

func hostOf(url string) string {
	url = strings.TrimPrefix(strings.TrimPrefix(url, "https://"), "http://")
	host, _, _ := strings.Cut(url, "/")
	return host
}

// freeAddress is a loopback address no one listens on just now.
func freeAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
