package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hubmigrate/hubmigrate/envtest/invariants"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// Of 10 clusters, 3 never file a CSR on the target: 7 complete, 3 are rolled
// back and named, the migration is Failed; a retry then migrates exactly the 3.
func TestMixedOutcomeThenRetry(t *testing.T) {
	ctx := context.Background()
	clusters := names("mixed", 10)
	importClusters(t, "hub1", sim.Default, clusters...)
	silent := clusters[7:]
	for _, c := range silent {
		require.NoError(t, simulator.NeverFileCSROn(c, "hub2", true))
	}
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	ctrl := startController(t, 30*time.Second)
	createMigration(t, migrationSpec{namespace: "ops", name: "mixed", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "2m"})
	_, homeDyn := clients(t, "home")
	ctrl = pastTheDeadline(t, ctrl, "7 clusters completed, the silent 3 registering", func() bool {
		m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, "mixed", metav1.GetOptions{})
		if err != nil {
			return false
		}
		progress, _, _ := unstructured.NestedString(m.Object, "status", "progress")
		for _, c := range silent {
			if sourceLabel(t, c) != "Registering" {
				return false
			}
		}
		return progress == "7/10"
	})
	defer ctrl.stop()
	m := waitMigrationPhase(t, "ops", "mixed", "Failed", 3*time.Minute)
	progress, _, _ := unstructured.NestedString(m.Object, "status", "progress")
	assert.Equal(t, "7/10 (3 failed)", progress, "what did not go forward, in the printer column")
	failed, _, _ := unstructured.NestedSlice(m.Object, "status", "failedClusters")
	var named []string
	for _, f := range failed {
		named = append(named, f.(map[string]any)["name"].(string))
	}
	assert.ElementsMatch(t, silent, named)
	invariants.CheckCompleted(t, snap, hub(t, "hub1"), hub(t, "hub2"), clusters[:7])
	invariants.CheckRolledBack(t, snap, hub(t, "hub1"), hub(t, "hub2"), silent)
	invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), clusters)

	for _, c := range silent {
		_, err := simulator.WaitFor(ctx, c, 30*time.Second, sim.JoinedTo("hub1"))
		require.NoError(t, err, "%s back on the source", c)
		require.NoError(t, simulator.NeverFileCSROn(c, "hub2", false))
	}
	// Through the admin's command (the context's namespace is ops).
	out, code := hubmigrateCLI(t, "retry", "mixed")
	require.Equal(t, 0, code, "%s", out)
	t.Logf("$ hubmigrate retry mixed\n%s", out)
	var retryName, retriedClusters string
	_, err := fmt.Sscanf(out, "managedclustermigration ops/%s created for %s", &retryName, &retriedClusters)
	require.NoError(t, err, "%q", out)
	assert.Equal(t, "mixed-retry-1", retryName)
	assert.Equal(t, strings.Join(silent, ", "), strings.TrimSpace(strings.SplitN(out, " created for ", 2)[1]))
	retried := waitMigrationPhase(t, "ops", retryName, "Completed", 3*time.Minute)
	checkMigrated(t, snap, retried, "hub1", "hub2", silent)
}
