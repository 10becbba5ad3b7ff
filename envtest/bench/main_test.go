package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The bench's smoke run (make bench runs 100 and 300): five clusters there
// with the baseline and back with the real binary, both complete (Measure
// fails otherwise), and the figures are read from real counters — the
// controller cannot carry out SPEC's protocol in fewer hub writes than the
// straight-line baseline, and neither in fewer than the protocol's own.
func TestBenchSmoke(t *testing.T) {
	if os.Getenv("HUBMIGRATE_BENCH") == "" {
		// make bench runs it: beside the end-to-end tests it would add two
		// simulated worlds of load and minutes to make test's cold budget.
		t.Skip("HUBMIGRATE_BENCH is not set: make bench runs this")
	}
	bin := filepath.Join(t.TempDir(), "hubmigrate")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/hubmigrate").CombinedOutput()
	require.NoError(t, err, "%s", out)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	row, err := Measure(ctx, Options{Binary: bin, Clusters: 5, QPS: 50, Manifests: "../../manifests/base", Log: t.Logf})
	require.NoError(t, err)
	printTable(os.Stdout, []Row{row})

	// Per cluster: 2 PATCHes, 4 POSTs on the source side's copies… the
	// protocol's floor for a cluster with addons and preserved objects is
	// 23 hub writes (envtest/baseline), and the shared identity's 4 more.
	assert.GreaterOrEqual(t, row.Baseline.HubWritesPerCluster, 23.0)
	assert.Less(t, row.Baseline.HubWritesPerCluster, 30.0)
	assert.GreaterOrEqual(t, row.Hubmigrate.HubWritesPerCluster, row.Baseline.HubWritesPerCluster)
	assert.Greater(t, row.Hubmigrate.HomeWritesPerCluster, 0.0, "status and Events")
	assert.Greater(t, row.Hubmigrate.PeakRSSBytes, int64(10<<20))
	assert.Greater(t, row.Hubmigrate.CPUSeconds, 0.0)
	assert.Greater(t, row.Baseline.WallSeconds, 0.0)
	assert.InDelta(t, row.Hubmigrate.WallSeconds/row.Baseline.WallSeconds, row.WallRatio, 1e-9)
}
