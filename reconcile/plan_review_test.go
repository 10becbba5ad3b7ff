package reconcile

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Rows for the defects an independent review of the planner found (issue
// 14): each failed before its fix.

// committedWithCN is a committed cluster whose commit recorded the CN, the
// committed CSR being gone from the target (denied then deleted, or removed
// by the cluster's CSR cleaner): the agent files again with the same CN.
func committedWithCN(t *testing.T) *world {
	return newWorld().registering(map[string]string{AnnCommitted: "c1-aaa/uid-c1-aaa", AnnCommitCN: "system:open-cluster-management:c1:agent1",
		AnnCommitLeaseRV: "500", AnnCommitWorkRV: "absent"})
}

func TestPlanReviewDefects(t *testing.T) {
	cases := []struct {
		name  string
		world func(t *testing.T) *world
		want  []string
		check func(t *testing.T, p Plan)
	}{
		{
			name:  "the commit write records the committed CN",
			world: func(t *testing.T) *world { return newWorld().registering(nil).csr(t, "c1-aaa", nil) },
			want:  []string{"Commit source certificatesigningrequests c1-aaa"},
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, "system:open-cluster-management:c1:agent1", p.Actions[0].Object.GetAnnotations()[AnnCommitCN])
			},
		},
		{
			name:  "committed, the committed CSR gone: a new CSR of the committed CN is approved",
			world: func(t *testing.T) *world { return committedWithCN(t).csr(t, "c1-bbb", nil) },
			want:  []string{"Approve target certificatesigningrequests c1-bbb"},
		},
		{
			name: "committed, the committed CSR gone: a CSR of another CN is not approved",
			world: func(t *testing.T) *world {
				w := committedWithCN(t)
				other := agentCSRWithCN(t, "system:open-cluster-management:c1:agent2")
				other.Name, other.Spec.Username, other.Spec.UID = "c1-bbb", "system:serviceaccount:open-cluster-management:"+ServiceAccountName(testOwner.UID), "sa-uid"
				w.c().Target.CSRs = append(w.c().Target.CSRs, other)
				return w
			},
		},
		{
			name: "committed: a CSR of the committed CN that fails the checks is not approved",
			world: func(t *testing.T) *world {
				return committedWithCN(t).csr(t, "c1-bbb", func(c *certificatesv1.CertificateSigningRequest) {
					c.Spec.Extra[credentialIDExtra] = certificatesv1.ExtraValue{"JTI=jti-c2"}
				})
			},
		},
		{
			name: "committed, the committed CSR in the cache: a CSR of another CN is not approved",
			world: func(t *testing.T) *world {
				w := committedWithCN(t).csr(t, "c1-aaa", approved)
				other := agentCSRWithCN(t, "system:open-cluster-management:c1:agent2")
				other.Name, other.Spec.Username, other.Spec.UID = "c1-bbb", w.c().Target.CSRs[0].Spec.Username, "sa-uid"
				w.c().Target.CSRs = append(w.c().Target.CSRs, other)
				return w
			},
		},
		{
			name: "Cleaning written, the target copy not available (its agent away): the source ManagedCluster is not deleted yet",
			world: func(t *testing.T) *world {
				w := cleaning(t)
				w.c().Target.MC = mc("c1", true, w.c().Target.MC.GetLabels(), w.c().Target.MC.GetAnnotations(), "HubAccepted", "Joined")
				return w
			},
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, Cleaning, p.Clusters[0].Phase)
				assert.Contains(t, p.Clusters[0].Waiting, "available on the target")
			},
		},
		{
			name: "Registering past its timeout without a passing CSR: the rollback decision re-reads the CSRs live",
			world: func(t *testing.T) *world {
				w := newWorld().registering(nil)
				w.f.Now = testNow.Add(20 * time.Minute)
				return w
			},
			want: []string{"DecideRollback source managedclusters c1"},
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, "Rollbacking", p.Actions[0].Object.GetLabels()[LabelPhase])
				assert.Equal(t, "100", p.Actions[0].Object.GetResourceVersion(), "the decision is resourceVersion-guarded by the written object")
			},
		},
		{
			name: "Cleaning: the anchor is deleted by RevokeToken (re-read live first)",
			world: func(t *testing.T) *world {
				return cleaning(t, sourceGone)
			},
			want: []string{"RevokeToken target secrets " + scaffold},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world(t)
			p := PlanMigration(&w.f)
			assert.Equal(t, tc.want, describe(p.Actions))
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

// A committed cluster that has not registered yet still needs its token:
// its agent files again with it after a restart, and its klusterlet points
// at it until the target's import controller re-renders it.
func TestTokenNearExpiryOfACommittedCluster(t *testing.T) {
	w := committedWithCN(t).csr(t, "c1-bbb", approved)
	w.f.Now = testNow.Add(58 * time.Minute) // the fixture's token expires at testNow+1h
	p := PlanMigration(&w.f)
	require.Len(t, p.Clusters, 1)
	assert.True(t, p.Clusters[0].TokenExpiring)
}

// A create that meets an object the caches cannot see (a Secret without the
// preserve label at a preserved Secret's name) is a collision, not a wait:
// told of it, the planner rolls the cluster back at once.
func TestPlanCollisionFoundByACreate(t *testing.T) {
	w := newWorld().configured(Deploying, nil).copied(Deploying)
	w.f.Collisions = map[string]string{"c1": "secrets c1/bmc-secret"}
	p := PlanMigration(&w.f)
	assert.Equal(t, []string{"DecideRollback source managedclusters c1"}, describe(p.Actions))
	assert.Equal(t, "CopyCollision", p.Actions[0].Object.GetAnnotations()[AnnReason])

	committed := committedWithCN(t).csr(t, "c1-aaa", approved)
	committed.f.Collisions = map[string]string{"c1": "secrets c1/bmc-secret"}
	for _, a := range PlanMigration(&committed.f).Actions {
		assert.NotEqual(t, DecideRollback, a.Kind, "a committed cluster is never rolled back")
	}
}

// abandon lets go of an unreachable hub, not of one that is only syncing
// its caches after a restart: a normal restart of a deleting, abandoned
// migration must not drop everything uncleaned.
func TestAbandonOnlyAnUnusableHub(t *testing.T) {
	ready := HubFacts{Reachable: true}
	syncing := HubFacts{Problem: "HubSyncing"}
	down := HubFacts{Problem: "HubUnreachable"}
	unknown := HubFacts{Problem: "HubUnknown"}
	assert.False(t, abandonNow(ready, ready), "both usable: cleaned, not abandoned")
	assert.False(t, abandonNow(syncing, ready))
	assert.False(t, abandonNow(ready, syncing))
	assert.False(t, abandonNow(syncing, down), "the syncing hub is cleaned first")
	assert.True(t, abandonNow(down, ready))
	assert.True(t, abandonNow(ready, unknown))
}

// Someone deletes the source ManagedCluster mid-flight (issue 14, defect 8).
func TestPlanSourceDeletedMidFlight(t *testing.T) {
	registered := committedWithCN(t).csr(t, "c1-aaa", approved).registeredOnTarget()
	registered.c().Source.MC = nil
	p := PlanMigration(&registered.f)
	require.Equal(t, []string{"Update target managedclusters c1"}, describe(p.Actions), "not Failed:NotFound: the target holds the cluster")
	obj := p.Actions[0].Object
	assert.Equal(t, "Cleaning", obj.GetLabels()[LabelPhase])
	assert.Equal(t, sourceDeleted, obj.GetAnnotations()[AnnCommitted])
	assert.NotEqual(t, Failed, p.Clusters[0].Phase)

	notThere := newWorld().registering(nil)
	notThere.c().Source.MC = nil
	p = PlanMigration(&notThere.f)
	assert.Empty(t, p.Actions, "the copy is not touched: deleting it could leave the cluster on no hub")
	assert.Contains(t, p.Clusters[0].Waiting, "source ManagedCluster was deleted")
}

// The cluster named a KlusterletConfig the target does not have: the copy
// goes without the annotation, and an Event says so (SPEC Deploying).
func TestPlanKlusterletConfigDroppedIsAnnounced(t *testing.T) {
	w := newWorld().configured(Deploying, map[string]string{AnnOriginalKlusterletConfig: "proxy-settings"})
	w.c().Target.Namespace = newWorld().copied(Deploying).c().Target.Namespace
	p := PlanMigration(&w.f)
	require.Equal(t, []string{"Create target managedclusters c1"}, describe(p.Actions))
	assert.Equal(t, "KlusterletConfigDropped", p.Actions[0].Event)
	assert.NotContains(t, p.Actions[0].Object.GetAnnotations(), AnnKlusterletConfig)

	w.c().Target.KlusterletConfigNames = map[string]bool{"proxy-settings": true}
	p = PlanMigration(&w.f)
	assert.Empty(t, p.Actions[0].Event, "kept where the target has it")
	assert.Equal(t, "proxy-settings", p.Actions[0].Object.GetAnnotations()[AnnKlusterletConfig])
}

// Whoever holds a cluster's token (it sits in the source's bootstrap Secret
// and in the klusterlet work) can file a passing CSR before the Registering
// write; the real agent cannot (its source still accepts it). Such a CSR
// never counts: not committed, not the oldest, not a second CN (issue 15
// finding 5).
func TestPlanCSRsFiledBeforeRegisteringDoNotCount(t *testing.T) {
	notBefore := testNow.Add(-time.Minute)
	early := func(c *certificatesv1.CertificateSigningRequest) {
		c.CreationTimestamp = metav1.NewTime(notBefore.Add(-10 * time.Second))
	}
	w := newWorld().registering(map[string]string{AnnCSRsNotBefore: notBefore.Format(time.RFC3339)}).csr(t, "c1-early", early)
	p := PlanMigration(&w.f)
	assert.Empty(t, p.Actions, "a CSR filed before the Registering write is not committed")

	late := func(c *certificatesv1.CertificateSigningRequest) { c.CreationTimestamp = metav1.NewTime(notBefore) }
	w = w.csr(t, "c1-agent", func(c *certificatesv1.CertificateSigningRequest) {
		late(c)
		c.Spec.Request = agentCSRWithCN(t, "system:open-cluster-management:c1:agent2").Spec.Request
	})
	p = PlanMigration(&w.f)
	require.Equal(t, []string{"Commit source certificatesigningrequests c1-agent"}, describe(p.Actions), "the agent's CSR commits; the early one is not a second CN")

	unrecorded := newWorld().registering(nil).csr(t, "c1-aaa", early)
	assert.Equal(t, []string{"Commit source certificatesigningrequests c1-aaa"}, describe(PlanMigration(&unrecorded.f).Actions),
		"markers written before csrs-not-before existed: nothing is filtered")
}

// A later CSR of the committed agent (same CN) refused by someone else is
// deleted like the committed one: the agent would wait on it for ever
// (found by the model, model_regressions_test.go gap 1); a refused CSR of
// another CN is left alone.
func TestPlanRefusedLaterCSROfTheCommittedAgent(t *testing.T) {
	w := committedWithCN(t).csr(t, "c1-aaa", approved).csr(t, "c1-bbb", denied)
	assert.Equal(t, []string{"Delete target certificatesigningrequests c1-bbb"}, describe(PlanMigration(&w.f).Actions))

	other := committedWithCN(t).csr(t, "c1-aaa", approved)
	foreign := agentCSRWithCN(t, "system:open-cluster-management:c1:agent2")
	foreign.Name, foreign.Spec.Username, foreign.Spec.UID = "c1-ccc", other.c().Target.CSRs[0].Spec.Username, "sa-uid"
	denied(foreign)
	other.c().Target.CSRs = append(other.c().Target.CSRs, foreign)
	assert.Empty(t, PlanMigration(&other.f).Actions)
}
