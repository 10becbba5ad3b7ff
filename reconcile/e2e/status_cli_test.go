package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// `hubmigrate status` shows each cluster as the controller sees it — here
// one Completed and one held in Registering (its agent files no CSR on the
// target) — writes nothing, agrees with the markers in -o json, and with
// --watch follows the migration to its end.
func TestStatusCommand(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"st-done", "st-held"}
	importClusters(t, "hub1", sim.Default, clusters...)
	require.NoError(t, simulator.NeverFileCSROn("st-held", "hub2", true))
	defer func() { _ = simulator.NeverFileCSROn("st-held", "hub2", false) }()
	spec := migrationSpec{namespace: "ops", name: "status", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "10m"}
	c := startController(t, 2*time.Second)
	plan, code := planOf(t, spec)
	assert.Equal(t, 0, code, "nothing refused")
	assert.Equal(t, map[string]string{"st-done": "migrates", "st-held": "migrates"}, plan.verdicts())
	for _, pc := range plan.Clusters {
		require.NotEmpty(t, pc.Next, pc.Name)
		assert.Contains(t, pc.Next[0], "managedclusters "+pc.Name+" on the source hub", "the claim comes first")
	}
	createMigration(t, spec)
	_, homeDyn := clients(t, "home")
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, "status", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		done, _, _ := unstructured.NestedInt64(m.Object, "status", "clusterCounts", "Completed")
		return done == 1 && sourceLabel(t, "st-held") == "Registering", nil
	}), "st-done completes, st-held waits in Registering")
	// The metric's clock is the marker's (hubmigrate_cluster_phase_since_seconds).
	_, hub1 := clients(t, "hub1")
	heldMC, err := hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, "st-held", metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		for _, k := range c.ClusterClocks() {
			if k.Name == "status" && k.Cluster == "st-held" && k.Phase == "Registering" {
				return k.Since.UTC().Format(time.RFC3339) == heldMC.GetAnnotations()[reconcile.AnnPhaseSince], nil
			}
		}
		return false, nil
	}), "st-held's clock: %v", c.ClusterClocks())
	for _, k := range c.ClusterClocks() {
		assert.NotEqual(t, "st-done", k.Cluster, "a Completed cluster has no clock")
	}
	c.stop()

	// Read-only: nothing on home or the hubs changes while it looks.
	before := resourceVersions(t, homeDyn, hub1, clusters...)
	args := []string{"status", "status", "--hubmigrate-namespace", envtest.ProductNamespace}
	out, code := hubmigrateCLI(t, args...)
	require.Equal(t, 0, code, out)
	t.Logf("hubmigrate status:\n%s", out)
	assert.Equal(t, before, resourceVersions(t, homeDyn, hub1, clusters...), "status wrote nothing")
	assert.Contains(t, out, "managedclustermigration ops/status: Registering, hub1 → hub2, 1/2 completed\n")
	assert.Regexp(t, `\nst-done\s+Completed\s+\S+\s+-\s+-\n`, out)
	assert.Regexp(t, `\nst-held\s+Registering\s+\d+[sm]\S*\s+-\s+waiting for the agent's CSR on the target\n`, out)

	out, code = hubmigrateCLI(t, append(args, "-o", "json")...)
	require.Equal(t, 0, code, out)
	var report struct {
		Phase    string
		Progress string
		Clusters []reconcile.ClusterPreview
	}
	require.NoError(t, json.Unmarshal([]byte(out), &report), out)
	assert.Equal(t, "Registering", report.Phase)
	assert.Equal(t, "1/2", report.Progress)
	require.Len(t, report.Clusters, 2, out)
	held := report.Clusters[1]
	assert.Equal(t, "st-held", held.Name)
	assert.Equal(t, reconcile.Registering, held.Phase)
	mc, err := hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, "st-held", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotNil(t, held.Since)
	assert.Equal(t, mc.GetAnnotations()[reconcile.AnnPhaseSince], held.Since.UTC().Format(time.RFC3339), "since is the cluster's own marker")
	assert.Empty(t, held.Next, "nothing to do until its agent files a CSR")
	assert.NotEmpty(t, held.Message)

	out, code = hubmigrateCLI(t, append(args, "-o", "wide")...)
	require.Equal(t, 0, code, out)
	t.Logf("hubmigrate status -o wide:\n%s", out)
	assert.Regexp(t, `\nst-held\s+Registering\s`, out)
	out, code = hubmigrateCLI(t, append(args, "-o", "xml")...)
	assert.Equal(t, 2, code, out)
	out, code = hubmigrateCLI(t, "status", "no-such-migration", "--hubmigrate-namespace", envtest.ProductNamespace)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, `"no-such-migration" not found`)

	// --watch until the end: the held cluster is let go, the controller runs.
	watchCtx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	watch := exec.CommandContext(watchCtx, cliBinary(t), append(args, "--watch", "--interval", "500ms")...)
	watch.Env = append(os.Environ(), "KUBECONFIG="+cliKubeconfig(t, t.TempDir()))
	var watched bytes.Buffer
	watch.Stdout, watch.Stderr = &watched, &watched
	require.NoError(t, watch.Start())
	c = startController(t, 2*time.Second)
	defer c.stop()
	require.NoError(t, simulator.NeverFileCSROn("st-held", "hub2", false))
	require.NoError(t, watch.Wait(), "--watch ends when the migration is finished: %s", watched.String())
	assert.Contains(t, watched.String(), "managedclustermigration ops/status: Completed, hub1 → hub2, 2/2 completed\n")
	assert.Regexp(t, `\nst-held\s+Completed\s+`, watched.String())
	assert.Contains(t, watched.String(), "\n\nmanagedclustermigration ops/status:", "printed again as it changed")
	waitMigrationPhase(t, "ops", "status", "Completed", time.Minute)
	out, code = hubmigrateCLI(t, "plan", "status", "--hubmigrate-namespace", envtest.ProductNamespace)
	assert.Equal(t, 0, code, out)
	assert.Regexp(t, `\nst-held\s+done\s`, out, "plan of a finished migration")
	deleteMigration(t, "ops", "status")
	waitGone(t, "ops", "status")
}

// resourceVersions are the resource versions of every migration on home
// and of the clusters' ManagedClusters on hub1 (others' may change under
// their own agents): a write by the CLI there changes one.
func resourceVersions(t *testing.T, home, hub1 dynamic.Interface, clusters ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	l, err := home.Resource(reconcile.MigrationGVR).Namespace("").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, l.Items)
	for _, item := range l.Items {
		out["migration "+item.GetNamespace()+"/"+item.GetName()] = item.GetResourceVersion()
	}
	for _, c := range clusters {
		mc, err := hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, c, metav1.GetOptions{})
		if err == nil {
			out["managedcluster "+c] = mc.GetResourceVersion()
		}
	}
	return out
}
