package sim_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubmigrate/hubmigrate/envtest/sim"
)

var benchClusters atomic.Int64

// BenchmarkImport imports clusters into hub1 in batches of 100 and reports
// how long each takes to join, and the simulator's heap per cluster.
// Run with `make bench`.
func BenchmarkImport(b *testing.B) {
	ctx := context.Background()
	const batch = 100
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		errs := make(chan error, batch)
		for range batch {
			name := fmt.Sprintf("bench-%d", benchClusters.Add(1))
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := simulator.AddCluster(ctx, name, "hub1", sim.ClusterOptions{}); err != nil {
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
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	clusters := float64(b.N * batch)
	b.ReportMetric(elapsed.Seconds()*1000/clusters, "ms/cluster")
	b.ReportMetric(float64(after.HeapAlloc-min(before.HeapAlloc, after.HeapAlloc))/clusters/1024, "KiB-heap/cluster")
}
