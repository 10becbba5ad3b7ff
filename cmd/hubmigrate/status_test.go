package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hubmigrate/hubmigrate/reconcile"
)

func TestStatusTable(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	since := now.Add(-90 * time.Second)
	r := statusReport{Namespace: "ops", Name: "move", Phase: "Registering", From: "hub1", To: "hub2", Progress: "1/3",
		Next: []string{"Delete serviceaccounts x on the target hub"},
		Clusters: []reconcile.ClusterPreview{
			{Name: "c1", Phase: reconcile.Completed},
			{Name: "c2", Phase: reconcile.Registering, Since: &since, Message: "the agent's CSR on the target"},
			{Name: "c3", Phase: reconcile.Deploying, Since: &since, Next: []string{"Create a", "Create b"}},
			{Name: "c4", Phase: reconcile.Failed, Reason: "Unavailable", Message: "not available"},
		}}
	var out bytes.Buffer
	require.NoError(t, printStatusTable(&out, r, false, now))
	assert.Equal(t, `managedclustermigration ops/move: Registering, hub1 → hub2, 1/3 completed
next: Delete serviceaccounts x on the target hub
CLUSTER  PHASE        SINCE  REASON       NEXT
c1       Completed    -      -            -
c2       Registering  90s    -            the agent's CSR on the target
c3       Deploying    90s    -            Create a (+1 more)
c4       Failed       -      Unavailable  not available
`, out.String())
	out.Reset()
	require.NoError(t, printStatusTable(&out, r, true, now))
	assert.Contains(t, out.String(), "Create a; Create b")
}

// --watch stops only when every cluster is terminal and nothing is left to do.
func TestFinished(t *testing.T) {
	done := statusReport{Phase: "Completed", Clusters: []reconcile.ClusterPreview{{Name: "c1", Phase: reconcile.Completed}}}
	assert.True(t, finished(done))
	failed := statusReport{Phase: "Failed", Clusters: []reconcile.ClusterPreview{{Name: "c1", Phase: reconcile.Failed}}}
	assert.True(t, finished(failed))
	cleanup := done
	cleanup.Next = []string{"Delete the scaffolding"}
	assert.False(t, finished(cleanup), "the migration's own cleanup is left")
	stray := statusReport{Phase: "Failed", Clusters: []reconcile.ClusterPreview{{Name: "c1", Phase: reconcile.Failed, Next: []string{"Delete a stray copy"}}}}
	assert.False(t, finished(stray))
	assert.False(t, finished(statusReport{Phase: "Registering"}))
}

func TestPlanTable(t *testing.T) {
	r := &planReport{Namespace: "ops", Name: "move", From: "hub1", To: "hub2",
		Hubs: []hubReadiness{{Hub: "hub1", Role: "source"}, {Hub: "hub2", Role: "target", Missing: []string{"create serviceaccounts"}}},
		Clusters: []plannedCluster{
			{Name: "c1", Verdict: verdictMigrates, Next: []string{"Update managedclusters c1 on the source hub: claim"}},
			{Name: "c2", Verdict: verdictRefused, Reason: "IsHub", Message: "the hub itself"},
		}}
	var out bytes.Buffer
	require.NoError(t, printPlanTable(&out, r))
	assert.Equal(t, `managedclustermigration ops/move (not created yet): hub1 → hub2, 2 clusters: 1 would migrate, 1 refused
target hub hub2: hubmigrate may not create serviceaccounts
CLUSTER  VERDICT   REASON  DETAIL
c1       migrates  -       first: Update managedclusters c1 on the source hub: claim
c2       refused   IsHub   the hub itself
`, out.String())
}
