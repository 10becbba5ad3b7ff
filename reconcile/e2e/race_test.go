package e2e

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hubmigrate/hubmigrate/envtest/invariants"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
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
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: "race", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "8s"})
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		return sourceLabel(t, "race-1") == "Rollbacking", nil
	}))
	require.NoError(t, simulator.RogueOnNextCSR("race-1", "hub2", true))

	m := waitMigrationPhase(t, "ops", "race", "Failed", 2*time.Minute)
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
