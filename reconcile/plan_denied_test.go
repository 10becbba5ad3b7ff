package reconcile

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A 403 confirmed as an RBAC denial is permanent: the planner, told of it,
// fails an unclaimed cluster or rolls back an uncommitted one; a committed
// one cannot be rolled back and keeps trying.
func TestPlanRBACDenial(t *testing.T) {
	const denial = "hubmigrate's identity may not create serviceaccounts in namespace open-cluster-management on the target hub"
	cases := []struct {
		name   string
		world  func(t *testing.T) *world
		want   []string
		phase  Phase
		reason string
	}{
		{
			name:  "the claim write is denied: failed before a claim",
			world: func(*testing.T) *world { return newWorld() },
			want:  []string{"Update home managedclustermigrations move"},
			phase: Failed, reason: "Forbidden",
		},
		{
			name:  "a scaffolding write is denied in Initializing: the rollback decision, reason Forbidden",
			world: func(*testing.T) *world { return newWorld().claimed(Initializing, nil) },
			want:  []string{"DecideRollback source managedclusters c1"},
			phase: Initializing, reason: "Forbidden",
		},
		{
			name: "denied after the commit: no rollback, the commit's next step again",
			world: func(t *testing.T) *world {
				return newWorld().registering(map[string]string{AnnCommitted: "c1-aaa/uid-c1-aaa", AnnCommitLeaseRV: "500", AnnCommitWorkRV: "absent"}).csr(t, "c1-aaa", nil)
			},
			want:  []string{"Approve target certificatesigningrequests c1-aaa"},
			phase: Registering,
		},
		{
			name: "denied in Registering while a CSR that passes every check is pending: committed (commit takes precedence)",
			world: func(t *testing.T) *world {
				return newWorld().registering(nil).csr(t, "c1-aaa", nil)
			},
			want:  []string{"Commit source certificatesigningrequests c1-aaa"},
			phase: Registering,
		},
		{
			name:  "denied in Cleaning with the source ManagedCluster gone (the target speaks): no failure, Cleaning goes on",
			world: func(t *testing.T) *world { return cleaning(t, sourceGone) },
			phase: Cleaning,
		},
		{
			name:  "denied while rolling back: the rollback goes on",
			world: func(t *testing.T) *world { return rollingBack(t, nil) },
			phase: Rollbacking, reason: "RegisteringTimeout",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world(t)
			before := PlanMigration(&w.f)
			w.f.Denied = map[string]string{"c1": denial}
			p := PlanMigration(&w.f)
			if tc.want != nil {
				assert.Equal(t, tc.want, describe(p.Actions))
			}
			require.Len(t, p.Clusters, 1)
			assert.Equal(t, tc.phase, p.Clusters[0].Phase)
			assert.Equal(t, tc.reason, p.Clusters[0].Reason)
			if tc.reason == "Forbidden" {
				obj := p.Actions[0].Object
				if p.Actions[0].Hub == Home {
					assert.Equal(t, `{"c1":"Forbidden"}`, obj.GetAnnotations()[AnnUnclaimedFailures])
				} else {
					assert.Equal(t, "Rollbacking", obj.GetLabels()[LabelPhase])
					assert.Equal(t, "Forbidden", obj.GetAnnotations()[AnnReason])
				}
			} else {
				assert.Equal(t, describe(before.Actions), describe(p.Actions), "the denial changes nothing")
			}
		})
	}
}
