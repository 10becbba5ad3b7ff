package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hubmigrate/hubmigrate/envtest/invariants"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// A third party approves the agent's pending CSR right after Rollbacking is
// written: the agent may join the target for a moment, but hubmigrate's
// rollback unaccepts the copy, so it does not stay accepted on both hubs, and
// it ends back on the source with the invariants holding.
func TestRogueApprovalDuringRollback(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"race-1"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	require.NoError(t, simulator.SetCSRMutator("race-1", func(r *x509.CertificateRequest) { r.Subject.CommonName = "system:open-cluster-management:other:agent" }))
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	c := startController(t, 30*time.Second)
	createMigration(t, migrationSpec{namespace: "ops", name: "race", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "2m"})
	c = pastTheDeadline(t, c, "race-1 registering", func() bool { return sourceLabel(t, "race-1") == "Registering" })
	defer c.stop()
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		return sourceLabel(t, "race-1") == "Rollbacking", nil
	}))
	require.NoError(t, simulator.RogueOnNextCSR("race-1", "hub2", true))

	// When hubmigrate's deny wins, the rollback waits its bounded wait (one
	// stage timeout, 2m) for the trapped agent before Failed.
	m := waitMigrationPhase(t, "ops", "race", "Failed", 4*time.Minute)
	if st, _ := simulator.Status("race-1"); st.State == sim.WaitingForCSR {
		// Our deny won the race: the agent waits on a refused CSR, as the
		// AgentRestartRequired reason said; an admin restarts it once.
		require.NoError(t, simulator.RestartAgent("race-1"))
	}
	_, err := simulator.WaitFor(ctx, "race-1", time.Minute, sim.JoinedTo("hub1"))
	require.NoError(t, err, "back on the source")
	invariants.CheckRolledBack(t, snap, hub(t, "hub1"), hub(t, "hub2"), clusters)
	invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), clusters)
}

// Two migrations race for the same clusters. Every claim write is held back
// 300 ms, so both migrations plan their claims from the same cache (each sees
// the clusters unclaimed) and both writes are in flight together: the API
// server's optimistic concurrency lets exactly one through (the other gets a
// 409, re-observes, and reports ClaimedBy). Each cluster ends migrated by
// exactly one of them.
func TestTwoMigrationsRaceForClusters(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"claim-1", "claim-2", "claim-3"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	hub1Host := strings.TrimPrefix(world.Hub("hub1").URL(), "https://")
	var conflicts atomic.Int64
	holdClaims := func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			claim := r.Method == http.MethodPut && r.URL.Host == hub1Host && strings.Contains(r.URL.Path, "/managedclusters/claim-")
			if claim {
				time.Sleep(300 * time.Millisecond)
			}
			resp, err := rt.RoundTrip(r)
			if claim && err == nil && resp.StatusCode == http.StatusConflict {
				conflicts.Add(1)
			}
			return resp, err
		})
	}
	createMigration(t, migrationSpec{namespace: "ops", name: "claim-a", from: "hub1", to: "hub2", clusters: clusters})
	createMigration(t, migrationSpec{namespace: "ops", name: "claim-b", from: "hub1", to: "hub2", clusters: []string{"claim-3", "claim-2", "claim-1"}})
	c := startController(t, 30*time.Second, withTransport(holdClaims))
	defer c.stop()

	a := waitTerminal(t, "ops", "claim-a", 3*time.Minute)
	b := waitTerminal(t, "ops", "claim-b", 3*time.Minute)
	var ra, rb map[string]string
	require.NoError(t, json.Unmarshal([]byte(a.GetAnnotations()[reconcile.AnnResults]), &ra))
	require.NoError(t, json.Unmarshal([]byte(b.GetAnnotations()[reconcile.AnnResults]), &rb))
	_, hub2 := clients(t, "hub2")
	for _, cl := range clusters {
		outcomes := []string{ra[cl], rb[cl]}
		assert.ElementsMatch(t, []string{"Completed", "Failed:ClaimedBy"}, outcomes, "%s: exactly one migration wins it", cl)
		winner := a
		if rb[cl] == "Completed" {
			winner = b
		}
		mc, err := hub2.Resource(reconcile.ManagedClusterGVR).Get(ctx, cl, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, winner.GetNamespace()+"/"+winner.GetName()+"/"+string(winner.GetUID()), mc.GetAnnotations()[reconcile.AnnOwner], cl)
		_, err = simulator.WaitFor(ctx, cl, time.Minute, sim.JoinedTo("hub2"))
		require.NoError(t, err)
	}
	assert.Positive(t, conflicts.Load(), "both claims of some cluster were in flight together, and one was refused")
	t.Logf("claim conflicts refused by the API server: %d; results a=%v b=%v", conflicts.Load(), ra, rb)
	invariants.CheckTerminal(t, snap, allHubs(t), string(a.GetUID()), clusters)
	invariants.CheckTerminal(t, snap, allHubs(t), string(b.GetUID()), clusters)
}

// waitTerminal waits for results, whatever the phase.
func waitTerminal(t *testing.T, namespace, name string, timeout time.Duration) *unstructured.Unstructured {
	t.Helper()
	_, dyn := clients(t, "home")
	var m *unstructured.Unstructured
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var err error
		m, err = dyn.Resource(reconcile.MigrationGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		return err == nil && m.GetAnnotations()[reconcile.AnnResults] != "", nil
	}), "migration %s/%s terminal", namespace, name)
	return m
}
