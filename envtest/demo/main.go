// Command demo is `make demo`: it starts local hubs (real kube-apiservers),
// imports simulated managed clusters into hub1, runs the real hubmigrate
// binary as a process against them, migrates the clusters to hub2 and shows
// the progress and the end state as an admin would see it with kubectl.
// It is not the product: it links the test world, which hubmigrate never does.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

func main() {
	binary := flag.String("hubmigrate", "bin/hubmigrate", "the hubmigrate binary to run")
	clusters := flag.Int("clusters", 50, "simulated managed clusters to migrate")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after")
	qps := flag.Int("kube-api-qps", 0, "the controller's --kube-api-qps (burst twice that); 0: its default")
	klog.InitFlags(nil)
	_ = flag.Set("v", "0")
	_ = flag.Set("logtostderr", "false")
	_ = flag.Set("stderrthreshold", "FATAL")
	flag.Parse()
	if err := run(*binary, *clusters, *timeout, *qps); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) {
	fmt.Printf("%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(binary string, n int, timeout time.Duration, qps int) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	step("starting three control planes (home, hub1, hub2): etcd, kube-apiserver, kube-controller-manager each, with the OCM and ACM CRDs")
	world, err := envtest.Start(ctx, envtest.Options{})
	if err != nil {
		return err
	}
	defer world.Stop()
	step("world up in %s (data and logs in %s)", time.Since(start).Round(time.Second), world.Dir)

	simulator, err := sim.New(sim.Hubs(world.Hub("hub1"), world.Hub("hub2")), sim.Options{LeaseDuration: 2 * time.Second, Workers: 8})
	if err != nil {
		return err
	}
	if err := simulator.Start(ctx); err != nil {
		return err
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("cluster-%03d", i+1)
	}
	step("importing %d simulated managed clusters into hub1 (klusterlets in Singleton mode, as ACM deploys them)", n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := simulator.AddCluster(ctx, name, "hub1", sim.ClusterOptions{Labels: map[string]string{"env": "demo"}}); err != nil {
				errs <- err
				return
			}
			if _, err := simulator.WaitFor(ctx, name, 5*time.Minute, sim.JoinedTo("hub1")); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	step("all %d joined hub1", n)

	// Installed as docs/install.md says: manifests/base rendered by kustomize
	// and applied server-side; the controller runs as its ServiceAccount.
	productHome, err := envtest.InstallProduct(ctx, world, "manifests/base")
	if err != nil {
		return err
	}
	kubeconfig, err := envtest.Kubeconfig(productHome)
	if err != nil {
		return err
	}
	step("installed manifests/base on home (kustomize, server-side apply)")
	kcPath := filepath.Join(world.Dir, "home.kubeconfig")
	if err := os.WriteFile(kcPath, kubeconfig, 0o600); err != nil {
		return err
	}
	logPath := filepath.Join(world.Dir, "hubmigrate.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	args := []string{"--kubeconfig=" + kcPath, "--namespace=" + envtest.ProductNamespace, "--migration-namespaces=demo",
		"--metrics-bind-address=127.0.0.1:0", "--health-probe-bind-address=", "--resync-period=1m"}
	if qps > 0 {
		args = append(args, fmt.Sprintf("--kube-api-qps=%d", qps), fmt.Sprintf("--kube-api-burst=%d", 2*qps))
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s (run `make demo`, which builds it): %w", binary, err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	step("hubmigrate running as process %d (leader election on; log: %s) as ServiceAccount hubmigrate/hubmigrate on home (the installed manifests' RBAC) and an identity bound to hub-role.yaml on each hub", cmd.Process.Pid, logPath)

	home := world.Home().AdminConfig()
	homeKube, _ := kubernetes.NewForConfig(home)
	homeDyn, _ := dynamic.NewForConfig(home)
	if _, err := homeKube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo"}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	list := make([]any, n)
	for i, name := range names {
		list[i] = name
	}
	migration := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "global-hub.open-cluster-management.io/v1alpha1", "kind": "ManagedClusterMigration",
		"metadata": map[string]any{"name": "hub1-to-hub2", "namespace": "demo"},
		"spec":     map[string]any{"from": "hub1", "to": "hub2", "includedManagedClusters": list},
	}}
	if _, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("demo").Create(ctx, migration, metav1.CreateOptions{}); err != nil {
		return err
	}
	step("applied ManagedClusterMigration demo/hub1-to-hub2 (%d clusters, hub1 → hub2)", n)

	migStart := time.Now()
	last := ""
	var m *unstructured.Unstructured
	for {
		m, err = homeDyn.Resource(reconcile.MigrationGVR).Namespace("demo").Get(ctx, "hub1-to-hub2", metav1.GetOptions{})
		if err != nil {
			return err
		}
		phase, _, _ := unstructured.NestedString(m.Object, "status", "phase")
		progress, _, _ := unstructured.NestedString(m.Object, "status", "progress")
		counts, _, _ := unstructured.NestedMap(m.Object, "status", "clusterCounts")
		line := fmt.Sprintf("phase %-12s progress %-6s clusters: %s", phase, progress, formatCounts(counts))
		if line != last {
			step("%s", line)
			last = line
		}
		if (phase == "Completed" || phase == "Failed") && m.GetAnnotations()[reconcile.AnnResults] != "" {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("migration not finished within %s", timeout)
		case <-time.After(time.Second):
		}
	}
	step("migration finished in %s", time.Since(migStart).Round(time.Second))
	if peak, err := envtest.PeakRSS(cmd.Process.Pid); err == nil {
		cpu, _ := envtest.CPUTime(cmd.Process.Pid)
		step("the controller's peak resident memory (VmHWM): %d MiB for %d clusters; CPU time used: %s", peak>>20, n, cpu)
	}

	for _, hub := range []string{"hub1", "hub2"} {
		fmt.Printf("\n$ kubectl --context %s get managedclusters -L migration-phase\n", hub)
		if err := printClusters(ctx, world.Hub(hub)); err != nil {
			return err
		}
	}
	fmt.Printf("\n$ kubectl get mcm -A\n")
	tw := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
	phase, _, _ := unstructured.NestedString(m.Object, "status", "phase")
	progress, _, _ := unstructured.NestedString(m.Object, "status", "progress")
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tPHASE\tFROM\tTO\tPROGRESS\tAGE")
	fmt.Fprintf(tw, "demo\thub1-to-hub2\t%s\thub1\thub2\t%s\t%s\n", phase, progress, time.Since(m.GetCreationTimestamp().Time).Round(time.Second))
	tw.Flush()
	status, _ := yaml.Marshal(map[string]any{"status": m.Object["status"], "results": m.GetAnnotations()[reconcile.AnnResults]})
	fmt.Printf("\n$ kubectl -n demo get mcm hub1-to-hub2 -o yaml   (status)\n%s", status)
	if phase != "Completed" {
		return fmt.Errorf("migration ended %s", phase)
	}
	step("done in %s", time.Since(start).Round(time.Second))
	return nil
}

func formatCounts(counts map[string]any) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, counts[k]))
	}
	return strings.Join(parts, " ")
}

func printClusters(ctx context.Context, cp *envtest.ControlPlane) error {
	dyn, err := dynamic.NewForConfig(cp.AdminConfig())
	if err != nil {
		return err
	}
	list, err := dyn.Resource(reconcile.ManagedClusterGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	if len(list.Items) == 0 {
		fmt.Println("No resources found")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHUB ACCEPTED\tJOINED\tAVAILABLE\tMIGRATION-PHASE")
	for _, mc := range list.Items {
		accepted, _, _ := unstructured.NestedBool(mc.Object, "spec", "hubAcceptsClient")
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\n", mc.GetName(), accepted, cond(&mc, "ManagedClusterJoined"), cond(&mc, "ManagedClusterConditionAvailable"), mc.GetLabels()[reconcile.LabelPhase])
	}
	return tw.Flush()
}

func cond(obj *unstructured.Unstructured, t string) string {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m := c.(map[string]any)
		if m["type"] == t {
			return fmt.Sprint(m["status"])
		}
	}
	return ""
}
