// Command bench is `make bench`'s side-by-side run (issue 19): for each N it
// starts local hubs, imports N simulated clusters (Singleton mode, each with
// a KlusterletAddonConfig, two addons and a preserved Secret and ConfigMap)
// into hub1, migrates them to hub2 with the minimal-writes baseline
// (envtest/baseline), then back to hub1 with the real hubmigrate binary as a
// process, and prints one table: wall time and its ratio to the baseline,
// writes per cluster, the controller's peak RSS and CPU time. -json writes
// the rows too.
//
// The two runs go in opposite directions between the same two hubs, with
// the same clusters and the same client QPS: the simulator treats both hubs
// alike, and one world serves both runs. The controller's writes are its own
// client-go counters (rest_client_requests_total, scraped from /metrics at
// the end): they include its SelfSubjectAccessReviews, which the baseline's
// counter leaves out (none are expected on a forward path).
// It links the test world and is never part of the product.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/klog/v2"
)

func main() {
	binary := flag.String("hubmigrate", "bin/hubmigrate", "the hubmigrate binary to run")
	sizes := flag.String("clusters", "100,300", "comma-separated cluster counts, one world each")
	qps := flag.Int("kube-api-qps", 50, "client QPS of both the baseline and the controller (burst twice that)")
	jsonOut := flag.String("json", "", "also write the rows as JSON to this file")
	timeout := flag.Duration("timeout", 30*time.Minute, "give up after")
	klog.InitFlags(nil)
	_ = flag.Set("v", "0")
	_ = flag.Set("logtostderr", "false")
	_ = flag.Set("stderrthreshold", "FATAL")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var rows []Row
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench: bad cluster count %q\n", s)
			os.Exit(2)
		}
		fmt.Printf("%s  N=%d: starting\n", time.Now().Format("15:04:05"), n)
		row, err := Measure(ctx, Options{Binary: *binary, Clusters: n, QPS: *qps, Log: func(format string, args ...any) {
			fmt.Printf("%s  N=%d: "+format+"\n", append([]any{time.Now().Format("15:04:05"), n}, args...)...)
		}})
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench N=%d failed: %v\n", n, err)
			os.Exit(1)
		}
		rows = append(rows, row)
	}
	printTable(os.Stdout, rows)
	if *jsonOut != "" {
		data, _ := json.MarshalIndent(rows, "", "  ")
		if err := os.WriteFile(*jsonOut, append(data, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

func printTable(f *os.File, rows []Row) {
	tw := tabwriter.NewWriter(f, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\tbaseline\thubmigrate\tratio\twrites/cluster baseline (hubs)\thubmigrate (hubs)\tratio\t+ home\trefused\tpeak RSS\tCPU\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%.1fs\t%.1fs\t%.2f×\t%.1f\t%.1f\t%.2f×\t%.1f\t%d\t%d MiB\t%.1fs\t\n",
			r.Clusters, r.Baseline.WallSeconds, r.Hubmigrate.WallSeconds, r.WallRatio,
			r.Baseline.HubWritesPerCluster, r.Hubmigrate.HubWritesPerCluster, r.WritesRatio,
			r.Hubmigrate.HomeWritesPerCluster, r.Hubmigrate.Refused, r.Hubmigrate.PeakRSSBytes>>20, r.Hubmigrate.CPUSeconds)
	}
	_ = tw.Flush()
}
