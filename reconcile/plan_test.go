package reconcile

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Each row is a world a reconcile can observe — many of them what a crash
// between two writes, or after a write whose reply was lost, leaves behind —
// and the step the planner must pick from it.
func TestPlanForwardPath(t *testing.T) {
	cases := []struct {
		name  string
		world func(t *testing.T) *world
		want  []string // "Kind hub resource name"
		phase Phase
		check func(t *testing.T, p Plan)
	}{
		{
			name:  "unclaimed and ready: claim it",
			world: func(*testing.T) *world { return newWorld() },
			want:  []string{"Update source managedclusters c1"},
			phase: Validating,
			check: func(t *testing.T, p Plan) {
				obj := p.Actions[0].Object
				assert.Equal(t, testOwner.String(), obj.GetAnnotations()[AnnOwner])
				assert.Equal(t, "Initializing", obj.GetLabels()[LabelPhase])
				assert.Equal(t, "2026-11-29T12:00:00Z", obj.GetAnnotations()[AnnPhaseSince])
				assert.Equal(t, "100", p.Actions[0].Ref.ResourceVersion, "the claim is resourceVersion-guarded")
			},
		},
		{
			name: "claimed by a live migration: left alone",
			world: func(*testing.T) *world {
				w := newWorld()
				w.c().Source.MC.SetAnnotations(map[string]string{AnnOwner: "ops/other/9999"})
				return w
			},
			want:  []string{"Update home managedclustermigrations move"},
			phase: Failed,
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, "ClaimedBy", p.Clusters[0].Reason)
				assert.Equal(t, `{"c1":"ClaimedBy"}`, p.Actions[0].Object.GetAnnotations()[AnnUnclaimedFailures], "recorded on the migration: a decision")
			},
		},
		{
			name: "a terminal migration's record: taken over in the claim write",
			world: func(*testing.T) *world {
				w := newWorld()
				w.f.TerminalOwners = map[string]bool{"ops/old/9999": true}
				w.c().Source.MC.SetLabels(map[string]string{LabelPhase: "Failed"})
				w.c().Source.MC.SetAnnotations(map[string]string{AnnOwner: "ops/old/9999", AnnReason: "RestoredNotReturned", "keep": "me"})
				return w
			},
			want:  []string{"Update source managedclusters c1"},
			phase: Validating,
			check: func(t *testing.T, p Plan) {
				anns := p.Actions[0].Object.GetAnnotations()
				assert.Equal(t, testOwner.String(), anns[AnnOwner])
				assert.NotContains(t, anns, AnnReason)
				assert.Equal(t, "me", anns["keep"])
			},
		},
		{
			name: "the hub itself is never migrated",
			world: func(*testing.T) *world {
				w := newWorld()
				w.c().Source.MC.SetLabels(map[string]string{"local-cluster": "true"})
				return w
			},
			want:  []string{"Update home managedclustermigrations move"},
			phase: Failed,
			check: func(t *testing.T, p Plan) { assert.Equal(t, "IsHub", p.Clusters[0].Reason) },
		},
		{
			name: "already on the target",
			world: func(*testing.T) *world {
				w := newWorld()
				w.c().Target.MC = mc("c1", true, nil, nil)
				return w
			},
			want:  []string{"Update home managedclustermigrations move"},
			phase: Failed,
			check: func(t *testing.T, p Plan) { assert.Equal(t, "AlreadyOnTarget", p.Clusters[0].Reason) },
		},
		{
			name: "an unavailable cluster, seen so since the start, is not claimed; woken at the stage deadline",
			world: func(*testing.T) *world {
				w := newWorld()
				w.c().Source.MC = mc("c1", true, nil, nil, "Joined")
				w.f.Waiting = map[string]time.Time{"c1": testNow.Add(-2 * time.Minute)}
				return w
			},
			phase: Validating,
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, 3*time.Minute+10*time.Millisecond, p.Requeue, "5m from started-at, 2m ago")
			},
		},
		{
			name: "still unavailable past the stage timeout, seen so since the start: failed before a claim",
			world: func(*testing.T) *world {
				w := newWorld()
				w.c().Source.MC = mc("c1", true, nil, nil, "Joined")
				w.f.Now = testNow.Add(4 * time.Minute)
				w.f.Waiting = map[string]time.Time{"c1": testNow.Add(-2 * time.Minute)}
				return w
			},
			want:  []string{"Update home managedclustermigrations move"},
			phase: Failed,
			check: func(t *testing.T, p Plan) { assert.Equal(t, "Unavailable", p.Clusters[0].Reason) },
		},
		{
			name: "unavailable when first looked at, long after the start: not failed for hubmigrate's own slowness; a full timeout from now",
			world: func(*testing.T) *world {
				w := newWorld()
				w.c().Source.MC = mc("c1", true, nil, nil, "Joined")
				w.f.Now = testNow.Add(time.Hour)
				return w
			},
			phase: Validating,
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, "the cluster is not available on the source", p.Clusters[0].Waiting)
				assert.Equal(t, map[string]time.Time{"c1": testNow.Add(time.Hour)}, p.Waiting, "the wait's start, for the next plan")
				assert.Equal(t, 5*time.Minute+10*time.Millisecond, p.Requeue)
			},
		},
		{
			name: "seen unavailable for less than the timeout, the start long past: waits until the timeout from when it was first seen",
			world: func(*testing.T) *world {
				w := newWorld()
				w.c().Source.MC = mc("c1", true, nil, nil, "Joined")
				w.f.Now = testNow.Add(time.Hour)
				w.f.Waiting = map[string]time.Time{"c1": testNow.Add(time.Hour - 4*time.Minute), "gone": testNow}
				return w
			},
			phase: Validating,
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, map[string]time.Time{"c1": testNow.Add(time.Hour - 4*time.Minute)}, p.Waiting, "kept; a cluster no longer waiting is dropped")
				assert.Equal(t, time.Minute+10*time.Millisecond, p.Requeue)
			},
		},
		{
			name: "a wait seen since before the start counts from the start",
			world: func(*testing.T) *world {
				w := newWorld()
				w.c().Source.MC = mc("c1", true, nil, nil, "Joined")
				w.f.Waiting = map[string]time.Time{"c1": testNow.Add(-time.Hour)}
				return w
			},
			phase: Validating,
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, 3*time.Minute+10*time.Millisecond, p.Requeue, "5m from started-at, 2m ago")
			},
		},
		{
			name: "a wait seen since a time after now (the clock went back) starts now",
			world: func(*testing.T) *world {
				w := newWorld()
				w.c().Source.MC = mc("c1", true, nil, nil, "Joined")
				w.f.Now = testNow.Add(time.Hour)
				w.f.Waiting = map[string]time.Time{"c1": testNow.Add(2 * time.Hour)}
				return w
			},
			phase: Validating,
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, map[string]time.Time{"c1": testNow.Add(time.Hour)}, p.Waiting)
				assert.Equal(t, 5*time.Minute+10*time.Millisecond, p.Requeue)
			},
		},
		{
			name: "available and claimable: not waiting",
			world: func(*testing.T) *world {
				w := newWorld()
				w.f.Waiting = map[string]time.Time{"c1": testNow}
				return w
			},
			want:  []string{"Update source managedclusters c1"},
			phase: Validating,
			check: func(t *testing.T, p Plan) { assert.Empty(t, p.Waiting) },
		},
		{
			name: "absent from the source: failed before a claim",
			world: func(*testing.T) *world {
				w := newWorld()
				w.c().Source.MC = nil
				return w
			},
			want:  []string{"Update home managedclustermigrations move"},
			phase: Failed,
			check: func(t *testing.T, p Plan) { assert.Equal(t, "NotFound", p.Clusters[0].Reason) },
		},
		{
			name: "an unclaimed failure recorded: never claimed, even if the cluster is fine now; the last one writes results",
			world: func(*testing.T) *world {
				w := newWorld()
				w.f.Migration.Annotations[AnnUnclaimedFailures] = `{"c1":"NotFound"}`
				return w
			},
			want:  []string{"Update home managedclustermigrations move"},
			phase: Failed,
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, `{"c1":"Failed:NotFound"}`, p.Actions[0].Object.GetAnnotations()[AnnResults])
			},
		},
		{
			name:  "claimed (the claim's reply may have been lost): the bootstrap ServiceAccount first",
			world: func(*testing.T) *world { return newWorld().claimed(Initializing, nil) },
			want:  []string{"Create target serviceaccounts hubmigrate-1234abcd"},
			phase: Initializing,
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, string(testOwner.UID), p.Actions[0].Object.GetLabels()[LabelMigrationUID])
				assert.Equal(t, "home-uid", p.Actions[0].Object.GetLabels()[LabelHome])
			},
		},
		{
			name: "anchor made, token not yet in a bootstrap Secret (a lost TokenRequest reply): mint against the anchor",
			world: func(*testing.T) *world {
				w := newWorld().claimed(Initializing, nil).scaffolding()
				w.c().Source.BootstrapSecret = nil
				return w
			},
			want:  []string{"MintToken source secrets hubmigrate-c1-1234abcd"},
			phase: Initializing,
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, "anchor-uid", string(p.Actions[0].Ref.UID), "bound to the anchor, by UID")
				assert.Equal(t, "multicluster-engine", p.Actions[0].Object.GetNamespace())
			},
		},
		{
			name:  "scaffolding made, cluster not yet pointed at it: annotate, saving the original",
			world: func(*testing.T) *world { return newWorld().claimed(Initializing, map[string]string{}).scaffolding() },
			want:  []string{"UseKlusterletConfig source managedclusters c1"},
			phase: Initializing,
			check: func(t *testing.T, p Plan) {
				anns := p.Actions[0].Object.GetAnnotations()
				assert.Equal(t, scaffold, anns[AnnKlusterletConfig])
				assert.Contains(t, anns, AnnOriginalKlusterletConfig)
				assert.Equal(t, "", anns[AnnOriginalKlusterletConfig], "it had none")
			},
		},
		{
			name: "annotated; the work not yet applied at a newer generation: wait",
			world: func(*testing.T) *world {
				w := newWorld().configured(Initializing, nil)
				w.c().Source.KlusterletWork = work("c1", 4, 3, "11")
				return w
			},
			phase: Initializing,
		},
		{
			name:  "the gate passed: the label moves to Deploying with a new phase-since",
			world: func(*testing.T) *world { return newWorld().configured(Initializing, nil) },
			want:  []string{"Update source managedclusters c1"},
			phase: Deploying,
			check: func(t *testing.T, p Plan) {
				obj := p.Actions[0].Object
				assert.Equal(t, "Deploying", obj.GetLabels()[LabelPhase])
				assert.Equal(t, "2026-11-29T12:00:00Z", obj.GetAnnotations()[AnnPhaseSince])
			},
		},
		{
			name: "label says Deploying, but the cluster was never pointed at the KlusterletConfig: corrected, phase-since kept",
			world: func(*testing.T) *world {
				return newWorld().claimed(Deploying, nil).scaffolding()
			},
			want:  []string{"Update source managedclusters c1"},
			phase: Initializing,
			check: func(t *testing.T, p Plan) {
				obj := p.Actions[0].Object
				assert.Equal(t, "Initializing", obj.GetLabels()[LabelPhase])
				assert.Equal(t, "2026-11-29T11:59:00Z", obj.GetAnnotations()[AnnPhaseSince])
				require.Len(t, p.Notes, 1)
				assert.Contains(t, p.Notes[0], "corrected marker")
			},
		},
		{
			name: "Initializing past its stage timeout: the rollback decision is written first",
			world: func(*testing.T) *world {
				w := newWorld().claimed(Initializing, nil).scaffolding()
				w.f.Now = testNow.Add(5 * time.Minute)
				return w
			},
			want:  []string{"DecideRollback source managedclusters c1"},
			phase: Initializing,
			check: func(t *testing.T, p Plan) {
				obj := p.Actions[0].Object
				assert.Equal(t, "Rollbacking", obj.GetLabels()[LabelPhase])
				assert.Equal(t, "InitializingTimeout", obj.GetAnnotations()[AnnReason])
				assert.Equal(t, "100", p.Actions[0].Ref.ResourceVersion, "guarded: excludes the commit write")
			},
		},
		{
			name: "Registering past its timeout with a CSR that passes: committed, not rolled back",
			world: func(t *testing.T) *world {
				w := newWorld().registering(nil).csr(t, "c1-aaa", nil)
				w.f.Now = testNow.Add(20 * time.Minute)
				return w
			},
			want:  []string{"Commit source certificatesigningrequests c1-aaa"},
			phase: Registering,
		},
		{
			name: "Registering past its timeout without a passing CSR: roll back",
			world: func(t *testing.T) *world {
				w := newWorld().registering(nil).csr(t, "c1-bad", func(c *certificatesv1.CertificateSigningRequest) { c.Labels[LabelAddonName] = "x" })
				w.f.Now = testNow.Add(20 * time.Minute)
				return w
			},
			want:  []string{"DecideRollback source managedclusters c1"},
			phase: Registering,
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, "RegisteringTimeout", p.Actions[0].Object.GetAnnotations()[AnnReason])
			},
		},
		{
			name: "Rollbacking: pending CSRs of the migration's credential denied, the target copy unaccepted",
			world: func(t *testing.T) *world {
				return rollingBack(t, nil).csr(t, "c1-aaa", nil)
			},
			want:  []string{"Deny target certificatesigningrequests c1-aaa", "Update target managedclusters c1"},
			phase: Rollbacking,
		},
		{
			name:  "Rollbacking: then the source restored in one write",
			world: func(t *testing.T) *world { return rollingBack(t, nil, targetUnaccepted) },
			want:  []string{"Restore source managedclusters c1"},
			phase: Rollbacking,
			check: func(t *testing.T, p Plan) {
				obj := p.Actions[0].Object
				accepted, _, _ := unstructured.NestedBool(obj.Object, "spec", "hubAcceptsClient")
				assert.True(t, accepted, "the saved original")
				assert.NotContains(t, obj.GetAnnotations(), AnnKlusterletConfig, "it had none")
				assert.Contains(t, obj.GetAnnotations(), AnnRestoredAt)
			},
		},
		{
			name: "Rollbacking: restored, the agent not back yet (lease unchanged since the restore): wait",
			world: func(t *testing.T) *world {
				return rollingBack(t, map[string]string{AnnRestoredAt: "2026-11-29T11:59:30Z", AnnRestoreLeaseRV: "300"}, targetUnaccepted, sourceLease("300"))
			},
			phase: Rollbacking,
		},
		{
			name: "Rollbacking: the agent waits on a CSR on the target past a minute: AgentRestartRequired",
			world: func(t *testing.T) *world {
				w := rollingBack(t, map[string]string{AnnRestoredAt: "2026-11-29T11:58:30Z", AnnRestoreLeaseRV: "300"}, targetUnaccepted, sourceLease("300"))
				return w.csr(t, "c1-aaa", denied)
			},
			phase: Rollbacking,
			check: func(t *testing.T, p Plan) { assert.Equal(t, "AgentRestartRequired", p.Clusters[0].Reason) },
		},
		{
			name: "Rollbacking: with a 1-minute stage timeout, AgentRestartRequired after half of it (30 s), not after a minute",
			world: func(t *testing.T) *world {
				w := rollingBack(t, map[string]string{AnnPhaseSince: "2026-11-29T11:59:20Z", AnnRestoredAt: "2026-11-29T11:59:20Z", AnnRestoreLeaseRV: "300"}, targetUnaccepted, sourceLease("300"))
				w.f.Migration.StageTimeout = time.Minute
				return w.csr(t, "c1-aaa", denied)
			},
			phase: Rollbacking,
			check: func(t *testing.T, p Plan) { assert.Equal(t, "AgentRestartRequired", p.Clusters[0].Reason) },
		},
		{
			name: "Rollbacking: not back past the bounded wait: the reason changes and the rollback goes on",
			world: func(t *testing.T) *world {
				w := rollingBack(t, map[string]string{AnnRestoredAt: "2026-11-29T11:59:30Z", AnnRestoreLeaseRV: "300"}, targetUnaccepted, sourceLease("300"))
				w.f.Now = testNow.Add(10 * time.Minute)
				return w
			},
			want:  []string{"Update source managedclusters c1"},
			phase: Rollbacking,
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, "RestoredNotReturned", p.Actions[0].Object.GetAnnotations()[AnnReason])
			},
		},
		{
			name: "Rollbacking: back (lease renewed): copies and scaffolding deleted",
			world: func(t *testing.T) *world {
				return rollingBack(t, map[string]string{AnnRestoredAt: "2026-11-29T11:59:30Z", AnnRestoreLeaseRV: "300"}, targetUnaccepted, sourceLease("301"))
			},
			want: []string{"RevokeToken target secrets hubmigrate-c1-1234abcd", "DeleteTargetCluster target managedclusters c1",
				"Delete source secrets hubmigrate-c1-1234abcd", "Delete source klusterletconfigs hubmigrate-c1-1234abcd"},
			phase: Rollbacking,
		},
		{
			name: "Rollbacking: everything gone: Failed, keeping owner and reason",
			world: func(t *testing.T) *world {
				w := rollingBack(t, map[string]string{AnnRestoredAt: "2026-11-29T11:59:30Z", AnnRestoreLeaseRV: "300"}, targetUnaccepted, sourceLease("301"))
				w.c().Target = TargetFacts{}
				w.c().Source.BootstrapSecret, w.c().Source.KlusterletConfig = nil, nil
				return w
			},
			want:  []string{"Update source managedclusters c1"},
			phase: Rollbacking,
			check: func(t *testing.T, p Plan) {
				obj := p.Actions[0].Object
				assert.Equal(t, "Failed", obj.GetLabels()[LabelPhase])
				assert.Equal(t, map[string]string{AnnOwner: testOwner.String(), AnnReason: "RegisteringTimeout"}, obj.GetAnnotations())
			},
		},
		{
			name: "Failed, and a copy of ours appears on the target (a paused old leader's create): deleted again",
			world: func(t *testing.T) *world {
				w := failedWithStrayCopy(t)
				return w
			},
			want:  []string{"RevokeToken target secrets hubmigrate-c1-1234abcd", "DeleteTargetCluster target managedclusters c1", "Update home managedclustermigrations move"},
			phase: Failed,
		},
		{
			name: "Failed, in a terminal migration, with a stray copy: deleted too",
			world: func(t *testing.T) *world {
				w := failedWithStrayCopy(t)
				w.f.Migration.Annotations[AnnResults] = `{"c1":"Failed:RegisteringTimeout"}`
				return w
			},
			want:  []string{"RevokeToken target secrets hubmigrate-c1-1234abcd", "DeleteTargetCluster target managedclusters c1"},
			phase: Failed,
		},
		{
			name: "Failed in a terminal migration, nothing of ours anywhere: zero writes",
			world: func(t *testing.T) *world {
				w := failedWithStrayCopy(t)
				w.c().Target = TargetFacts{}
				w.f.Migration.Annotations[AnnResults] = `{"c1":"Failed:RegisteringTimeout"}`
				return w
			},
			phase: Failed,
		},
		{
			name: "deleted while Initializing: rolled back",
			world: func(*testing.T) *world {
				w := newWorld().claimed(Initializing, nil).scaffolding()
				w.f.Migration.Deleting = true
				return w
			},
			want:  []string{"DecideRollback source managedclusters c1"},
			phase: Initializing,
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, "MigrationDeleted", p.Actions[0].Object.GetAnnotations()[AnnReason])
			},
		},
		{
			name: "deleted while a valid CSR is pending: committed (commit takes precedence)",
			world: func(t *testing.T) *world {
				w := newWorld().registering(nil).csr(t, "c1-aaa", nil)
				w.f.Migration.Deleting = true
				return w
			},
			want:  []string{"Commit source certificatesigningrequests c1-aaa"},
			phase: Registering,
		},
		{
			name: "deleted after it finished: the records that name it go",
			world: func(t *testing.T) *world {
				w := completed(t)
				w.f.ServiceAccount, w.f.Binding = nil, nil
				w.f.Migration.Annotations = map[string]string{AnnResults: `{"c1":"Completed"}`}
				w.f.Migration.Deleting = true
				return w
			},
			want:  []string{"Update target managedclusters c1"},
			phase: Completed,
			check: func(t *testing.T, p Plan) {
				assert.NotContains(t, p.Actions[0].Object.GetLabels(), LabelPhase)
				assert.NotContains(t, p.Actions[0].Object.GetAnnotations(), AnnOwner)
			},
		},
		{
			name: "deleted, nothing of it left: release the finalizer (after live reads)",
			world: func(t *testing.T) *world {
				w := completed(t)
				w.f.ServiceAccount, w.f.Binding = nil, nil
				w.f.Migration.Annotations = map[string]string{AnnResults: `{"c1":"Completed"}`}
				w.f.Migration.Deleting = true
				w.c().Target.MC.SetAnnotations(nil)
				w.c().Target.MC.SetLabels(nil)
				return w
			},
			want:  []string{"ReleaseFinalizer home managedclustermigrations move"},
			phase: Completed,
		},
		{
			name:  "Deploying: the target namespace first",
			world: func(*testing.T) *world { return newWorld().configured(Deploying, nil) },
			want:  []string{"Create target namespaces c1"},
			phase: Deploying,
		},
		{
			name: "Deploying: a ManagedCluster not ours on the target is a collision",
			world: func(*testing.T) *world {
				w := newWorld().configured(Deploying, nil)
				w.c().Target.MC = mc("c1", true, nil, nil)
				return w
			},
			want:  []string{"DecideRollback source managedclusters c1"},
			phase: Deploying,
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, "CopyCollision", p.Clusters[0].Reason)
				obj := p.Actions[0].Object
				assert.Equal(t, "Rollbacking", obj.GetLabels()[LabelPhase], "the decision first")
				assert.Equal(t, "CopyCollision", obj.GetAnnotations()[AnnReason])
			},
		},
		{
			name: "Deploying: a preserved Secret not ours at a copy's name is a collision",
			world: func(*testing.T) *world {
				w := newWorld().configured(Deploying, nil)
				w.c().Source.Migrated.Secrets = []*corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Name: "pull", Namespace: "c1"}}}
				w.c().Target.Migrated.Secrets = []*corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Name: "pull", Namespace: "c1"}}}
				return w
			},
			want:  []string{"DecideRollback source managedclusters c1"},
			phase: Deploying,
			check: func(t *testing.T, p Plan) { assert.Equal(t, "CopyCollision", p.Clusters[0].Reason) },
		},
		{
			name: "Deploying: namespace made, then the ManagedCluster copy, accepted, without the source's hub-owned markers",
			world: func(*testing.T) *world {
				w := newWorld().configured(Deploying, nil)
				w.c().Target.Namespace = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "c1"}}
				w.c().Source.MC.SetLabels(map[string]string{LabelPhase: "Deploying", "env": "prod", "feature.open-cluster-management.io/addon-x": "available"})
				return w
			},
			want:  []string{"Create target managedclusters c1"},
			phase: Deploying,
			check: func(t *testing.T, p Plan) {
				obj := p.Actions[0].Object
				accepted, _, _ := unstructured.NestedBool(obj.Object, "spec", "hubAcceptsClient")
				assert.True(t, accepted)
				assert.Equal(t, "prod", obj.GetLabels()["env"])
				assert.NotContains(t, obj.GetLabels(), "feature.open-cluster-management.io/addon-x")
				assert.NotContains(t, obj.GetAnnotations(), AnnKlusterletConfig, "the migration's KlusterletConfig is never copied")
				assert.Equal(t, testOwner.String(), obj.GetAnnotations()[AnnOwner])
			},
		},
		{
			name: "Deploying: an addon the target's addon controller made from our copy is adopted",
			world: func(*testing.T) *world {
				w := newWorld().configured(Deploying, nil).copied(Deploying)
				w.c().Source.Migrated.Addons = []*unstructured.Unstructured{addon("search", "ns-a")}
				w.c().Target.Migrated.Addons = []*unstructured.Unstructured{addon("search", "ns-b")}
				return w
			},
			want:  []string{"Update target managedclusteraddons search"},
			phase: Deploying,
			check: func(t *testing.T, p Plan) {
				ns, _, _ := unstructured.NestedString(p.Actions[0].Object.Object, "spec", "installNamespace")
				assert.Equal(t, "ns-a", ns, "the source's spec")
				assert.Equal(t, testOwner.String(), p.Actions[0].Object.GetAnnotations()[AnnOwner])
			},
		},
		{
			name:  "Deploying done: the Registering write unaccepts the source and saves the original in one write",
			world: func(*testing.T) *world { return newWorld().configured(Deploying, nil).copied(Deploying) },
			want:  []string{"BeginRegistering source managedclusters c1"},
			phase: Deploying,
			check: func(t *testing.T, p Plan) {
				obj := p.Actions[0].Object
				accepted, _, _ := unstructured.NestedBool(obj.Object, "spec", "hubAcceptsClient")
				assert.False(t, accepted)
				assert.Equal(t, "true", obj.GetAnnotations()[AnnOriginalHubAcceptsClient])
				assert.Equal(t, "Registering", obj.GetLabels()[LabelPhase])
			},
		},
		{
			name:  "Registering: a CSR passing every check is committed first",
			world: func(t *testing.T) *world { return newWorld().registering(nil).csr(t, "c1-aaa", nil) },
			want:  []string{"Commit source certificatesigningrequests c1-aaa"},
			phase: Registering,
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, "c1-aaa/uid-c1-aaa", p.Actions[0].Object.GetAnnotations()[AnnCommitted])
			},
		},
		{
			name:  "Registering: a CSR approved by someone else before the commit is committed all the same (model gap 2)",
			world: func(t *testing.T) *world { return newWorld().registering(nil).csr(t, "c1-aaa", approved) },
			want:  []string{"Commit source certificatesigningrequests c1-aaa"},
			phase: Registering,
			check: func(t *testing.T, p Plan) {
				require.NotEmpty(t, p.Actions)
				assert.Equal(t, "c1-aaa/uid-c1-aaa", p.Actions[0].Object.GetAnnotations()[AnnCommitted])
				assert.Contains(t, p.Actions[0].Why, "approved by someone else")
			},
		},
		{
			name: "Registering: approved by someone else, past the deadline: committed, never rolled back",
			world: func(t *testing.T) *world {
				w := newWorld().registering(nil).csr(t, "c1-aaa", approved)
				w.f.Now = testNow.Add(20 * time.Minute)
				return w
			},
			want:  []string{"Commit source certificatesigningrequests c1-aaa"},
			phase: Registering,
		},
		{
			name: "Registering: an older pending CSR and an approved one of the same CN: the approved one is committed",
			world: func(t *testing.T) *world {
				w := newWorld().registering(nil).csr(t, "c1-aaa", nil).csr(t, "c1-bbb", approved)
				w.c().Target.CSRs[1].CreationTimestamp = metav1.NewTime(testNow.Add(time.Minute))
				return w
			},
			want:  []string{"Commit source certificatesigningrequests c1-bbb"},
			phase: Registering,
		},
		{
			name: "Registering: a CSR approved by someone else but filed before the Registering write is not committed",
			world: func(t *testing.T) *world {
				w := newWorld().registering(map[string]string{AnnCSRsNotBefore: testNow.Format(time.RFC3339)}).csr(t, "c1-aaa", approved)
				w.c().Target.CSRs[0].CreationTimestamp = metav1.NewTime(testNow.Add(-time.Hour))
				return w
			},
			phase: Registering,
		},
		{
			name:  "Registering: a CSR denied by someone else is not committed",
			world: func(t *testing.T) *world { return newWorld().registering(nil).csr(t, "c1-aaa", denied) },
			phase: Registering,
		},
		{
			name: "Registering: a CSR filed with another member's token is never committed",
			world: func(t *testing.T) *world {
				return newWorld().registering(nil).csr(t, "c1-aaa", func(c *certificatesv1.CertificateSigningRequest) {
					c.Spec.Extra[credentialIDExtra] = certificatesv1.ExtraValue{"JTI=jti-c2"}
				})
			},
			phase: Registering,
		},
		{
			name: "Registering: two pending CNs for one cluster: approve nothing",
			world: func(t *testing.T) *world {
				w := newWorld().registering(nil).csr(t, "c1-aaa", nil)
				other := agentCSRWithCN(t, "system:open-cluster-management:c1:agent2")
				other.Name, other.Spec.Username, other.Spec.UID = "c1-bbb", w.c().Target.CSRs[0].Spec.Username, "sa-uid"
				w.c().Target.CSRs = append(w.c().Target.CSRs, other)
				return w
			},
			phase: Registering,
			check: func(t *testing.T, p Plan) { assert.Equal(t, "AmbiguousRegistration", p.Clusters[0].Reason) },
		},
		{
			name: "Registering: two pending CNs past the deadline: rolled back, nothing approved",
			world: func(t *testing.T) *world {
				w := newWorld().registering(nil).csr(t, "c1-aaa", nil)
				other := agentCSRWithCN(t, "system:open-cluster-management:c1:agent2")
				other.Name, other.Spec.Username, other.Spec.UID = "c1-bbb", w.c().Target.CSRs[0].Spec.Username, "sa-uid"
				w.c().Target.CSRs = append(w.c().Target.CSRs, other)
				w.f.Now = testNow.Add(20 * time.Minute)
				return w
			},
			want:  []string{"DecideRollback source managedclusters c1"},
			phase: Registering,
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, "Rollbacking", p.Actions[0].Object.GetLabels()[LabelPhase])
			},
		},
		{
			name: "Registering: the target copy lost its acceptance, past the deadline: rolled back",
			world: func(t *testing.T) *world {
				w := newWorld().registering(nil)
				targetUnaccepted(w)
				w.f.Now = testNow.Add(20 * time.Minute)
				return w
			},
			want:  []string{"DecideRollback source managedclusters c1"},
			phase: Registering,
		},
		{
			name: "Registering: someone accepted the source again: unaccepted again",
			world: func(*testing.T) *world {
				w := newWorld().registering(nil)
				_ = unstructured.SetNestedField(w.c().Source.MC.Object, true, "spec", "hubAcceptsClient")
				return w
			},
			want:  []string{"Update source managedclusters c1"},
			phase: Registering,
		},
		{
			name: "committed, CSR still pending (the commit's reply was lost, or the approval): approve",
			world: func(t *testing.T) *world {
				return newWorld().registering(map[string]string{AnnCommitted: "c1-aaa/uid-c1-aaa", AnnCommitLeaseRV: "500", AnnCommitWorkRV: "absent"}).csr(t, "c1-aaa", nil)
			},
			want:  []string{"Approve target certificatesigningrequests c1-aaa"},
			phase: Registering,
		},
		{
			name: "committed and approved, not yet registered: wait",
			world: func(t *testing.T) *world {
				return newWorld().registering(map[string]string{AnnCommitted: "c1-aaa/uid-c1-aaa", AnnCommitLeaseRV: "500", AnnCommitWorkRV: "absent"}).
					csr(t, "c1-aaa", approved)
			},
			phase: Registering,
		},
		{
			name: "committed CSR denied by someone else: deleted, so the agent files a new one",
			world: func(t *testing.T) *world {
				return newWorld().registering(map[string]string{AnnCommitted: "c1-aaa/uid-c1-aaa"}).csr(t, "c1-aaa", denied)
			},
			want:  []string{"Delete target certificatesigningrequests c1-aaa"},
			phase: Registering,
		},
		{
			name: "joined but the lease is the one the hub made at commit: not registered",
			world: func(t *testing.T) *world {
				w := newWorld().registering(map[string]string{AnnCommitted: "c1-aaa/uid-c1-aaa", AnnCommitLeaseRV: "501", AnnCommitWorkRV: "absent"}).
					csr(t, "c1-aaa", approved).registeredOnTarget()
				return w
			},
			phase: Registering,
		},
		{
			name: "registered: Cleaning starts on the target, which speaks from now on",
			world: func(t *testing.T) *world {
				return newWorld().registering(map[string]string{AnnCommitted: "c1-aaa/uid-c1-aaa", AnnCommitLeaseRV: "500", AnnCommitWorkRV: "absent"}).
					csr(t, "c1-aaa", approved).registeredOnTarget()
			},
			want:  []string{"Update target managedclusters c1"},
			phase: Registering,
			check: func(t *testing.T, p Plan) {
				obj := p.Actions[0].Object
				assert.Equal(t, "Cleaning", obj.GetLabels()[LabelPhase])
				assert.Equal(t, "c1-aaa/uid-c1-aaa", obj.GetAnnotations()[AnnCommitted])
			},
		},
		{
			name:  "Cleaning: migrated resources leave the source first",
			world: func(t *testing.T) *world { return cleaning(t, withKAC) },
			want:  []string{"DeleteMigratedSource source klusterletaddonconfigs c1"},
			phase: Cleaning,
		},
		{
			name:  "Cleaning: then the source ManagedCluster",
			world: func(t *testing.T) *world { return cleaning(t) },
			want:  []string{"DeleteSourceCluster source managedclusters c1"},
			phase: Cleaning,
		},
		{
			name:  "Cleaning: source gone, then the anchor (revoking the token)",
			world: func(t *testing.T) *world { return cleaning(t, sourceGone) },
			want:  []string{"RevokeToken target secrets hubmigrate-c1-1234abcd"},
			phase: Cleaning,
		},
		{
			name: "Cleaning: then leftover CSRs of the migration's credential are denied",
			world: func(t *testing.T) *world {
				w := cleaning(t, sourceGone, anchorGone)
				return w.csr(t, "c1-late", nil)
			},
			want:  []string{"Deny target certificatesigningrequests c1-late"},
			phase: Cleaning,
		},
		{
			name:  "Cleaning: then the rest of the cluster's scaffolding",
			world: func(t *testing.T) *world { return cleaning(t, sourceGone, anchorGone) },
			want:  []string{"Delete source secrets hubmigrate-c1-1234abcd", "Delete source klusterletconfigs hubmigrate-c1-1234abcd"},
			phase: Cleaning,
		},
		{
			name:  "Cleaning: then the namespace and the copies are handed to the cluster",
			world: func(t *testing.T) *world { return cleaning(t, sourceGone, anchorGone, scaffoldingGone) },
			want:  []string{"Update target namespaces c1", "Update target managedclusters c1"},
			phase: Cleaning,
			check: func(t *testing.T, p Plan) {
				ns := p.Actions[0].Object
				assert.NotContains(t, ns.GetLabels(), LabelMigrationUID)
				assert.NotContains(t, ns.GetAnnotations(), AnnOwner)
				mc := p.Actions[1].Object
				assert.Equal(t, testOwner.String(), mc.GetAnnotations()[AnnOwner], "the target ManagedCluster keeps owner as the record")
				assert.NotContains(t, mc.GetAnnotations(), AnnCommitted)
				assert.NotContains(t, mc.GetLabels(), LabelHome)
			},
		},
		{
			name:  "handed over: Completed",
			world: func(t *testing.T) *world { return cleaning(t, sourceGone, anchorGone, scaffoldingGone, handedOver) },
			want:  []string{"Update target managedclusters c1"},
			phase: Cleaning,
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, "Completed", p.Actions[0].Object.GetLabels()[LabelPhase])
				assert.NotContains(t, p.Actions[0].Object.GetAnnotations(), AnnPhaseSince, "a terminal cluster keeps no clock")
			},
		},
		{
			name:  "the last cluster Completed: the migration's bootstrap identity goes",
			world: func(t *testing.T) *world { return completed(t) },
			want:  []string{"Delete target serviceaccounts hubmigrate-1234abcd", "Delete target clusterrolebindings hubmigrate-1234abcd"},
			phase: Completed,
		},
		{
			name: "then results are written on the migration, once",
			world: func(t *testing.T) *world {
				w := completed(t)
				w.f.ServiceAccount, w.f.Binding = nil, nil
				return w
			},
			want:  []string{"Update home managedclustermigrations move"},
			phase: Completed,
			check: func(t *testing.T, p Plan) {
				assert.Equal(t, `{"c1":"Completed"}`, p.Actions[0].Object.GetAnnotations()[AnnResults])
			},
		},
		{
			name: "results written: nothing to do",
			world: func(t *testing.T) *world {
				w := completed(t)
				w.f.ServiceAccount, w.f.Binding = nil, nil
				w.f.Migration.Annotations = map[string]string{AnnResults: `{"c1":"Completed"}`}
				return w
			},
			phase: Completed,
		},
		{
			name: "results written, a stale leader's anchor found: deleted",
			world: func(t *testing.T) *world {
				w := completed(t)
				w.f.ServiceAccount, w.f.Binding = nil, nil
				w.f.Migration.Annotations = map[string]string{AnnResults: `{"c1":"Completed"}`}
				w.c().Target.Anchor = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: scaffold, Namespace: "open-cluster-management", UID: "late-anchor"}}
				return w
			},
			want:  []string{"Delete target secrets hubmigrate-c1-1234abcd"},
			phase: Completed,
		},
		{
			name: "results written: never claims again, even a cluster back on its source",
			world: func(t *testing.T) *world {
				w := newWorld()
				w.f.Migration.Annotations = map[string]string{AnnResults: `{"c1":"Completed"}`}
				return w
			},
			phase: Completed,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world(t)
			p := PlanMigration(&w.f)
			assert.Equal(t, tc.want, describe(p.Actions))
			require.Len(t, p.Clusters, 1)
			assert.Equal(t, tc.phase, p.Clusters[0].Phase, "outcome %+v", p.Clusters[0])
			if tc.check != nil {
				tc.check(t, p)
			}
			// The planner is pure: the same facts give the same plan.
			assert.Equal(t, p, PlanMigration(&w.f))
		})
	}
}

// refName is the object an action is about: its Ref, or what it creates.
func refName(a Action) string {
	if a.Ref.Name != "" {
		return a.Ref.Name
	}
	if a.Object != nil {
		return a.Object.GetName()
	}
	return ""
}

func addon(name, installNamespace string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "addon.open-cluster-management.io/v1alpha1", "kind": "ManagedClusterAddOn",
		"metadata": map[string]any{"name": name, "namespace": "c1", "resourceVersion": "7"},
		"spec":     map[string]any{"installNamespace": installNamespace},
	}}
}

func approved(c *certificatesv1.CertificateSigningRequest) {
	c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
}

func denied(c *certificatesv1.CertificateSigningRequest) {
	c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue}}
}

func agentCSRWithCN(t *testing.T, cn string) *certificatesv1.CertificateSigningRequest {
	csr := agentCSR(t, nil)
	csr.Spec.Request = nil
	return agentCSRFrom(t, csr, cn)
}

// cleaning is a registered, committed cluster whose target has begun Cleaning,
// with the given steps already done.
func cleaning(t *testing.T, done ...func(*world)) *world {
	w := newWorld().registering(map[string]string{AnnCommitted: "c1-aaa/uid-c1-aaa", AnnCommitLeaseRV: "500", AnnCommitWorkRV: "absent"}).
		csr(t, "c1-aaa", approved).registeredOnTarget()
	tgt := w.c().Target.MC
	tgt.SetLabels(map[string]string{LabelPhase: "Cleaning", LabelHome: "home-uid", LabelMigrationUID: string(testOwner.UID)})
	anns := tgt.GetAnnotations()
	anns[AnnCommitted] = "c1-aaa/uid-c1-aaa"
	tgt.SetAnnotations(anns)
	for _, d := range done {
		d(w)
	}
	return w
}

func withKAC(w *world) {
	kac := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "agent.open-cluster-management.io/v1", "kind": "KlusterletAddonConfig",
		"metadata": map[string]any{"name": "c1", "namespace": "c1", "uid": "kac-uid"},
	}}
	w.c().Source.Migrated.KlusterletAddonConfig = kac
	copyOf := kac.DeepCopy()
	copyOf.SetAnnotations(map[string]string{AnnOwner: testOwner.String()})
	w.c().Target.Migrated.KlusterletAddonConfig = copyOf
}

func sourceGone(w *world) { w.c().Source.MC = nil }
func anchorGone(w *world) { w.c().Target.Anchor = nil }
func scaffoldingGone(w *world) {
	w.c().Source.BootstrapSecret, w.c().Source.KlusterletConfig = nil, nil
}
func handedOver(w *world) {
	w.c().Target.Namespace.Labels, w.c().Target.Namespace.Annotations = nil, nil
	tgt := w.c().Target.MC
	tgt.SetLabels(map[string]string{LabelPhase: "Cleaning"})
	tgt.SetAnnotations(map[string]string{AnnOwner: testOwner.String()})
}

func completed(t *testing.T) *world {
	w := cleaning(t, sourceGone, anchorGone, scaffoldingGone, handedOver)
	w.c().Target.MC.SetLabels(map[string]string{LabelPhase: "Completed"})
	w.f.Migration.Object = &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "global-hub.open-cluster-management.io/v1alpha1", "kind": "ManagedClusterMigration",
		"metadata": map[string]any{"name": "move", "namespace": "ops", "uid": string(testOwner.UID), "resourceVersion": "42"},
	}}
	return w
}

// failedWithStrayCopy: rolled back and Failed on the source; the target holds
// an anchor and a ManagedCluster copy of this migration.
func failedWithStrayCopy(t *testing.T) *world {
	w := newWorld().registering(nil)
	w.c().Source.MC.SetLabels(map[string]string{LabelPhase: "Failed"})
	w.c().Source.MC.SetAnnotations(map[string]string{AnnOwner: testOwner.String(), AnnReason: "RegisteringTimeout"})
	w.c().Source.BootstrapSecret, w.c().Source.KlusterletConfig = nil, nil
	w.c().Target.Namespace, w.c().Target.Migrated = nil, MigratedObjects{}
	w.f.ServiceAccount, w.f.Binding = nil, nil
	return w
}

// describe names each action as the tables do: "Kind hub resource name".
func describe(actions []Action) []string {
	var got []string
	for _, a := range actions {
		got = append(got, fmt.Sprintf("%s %s %s %s", a.Kind, a.Hub, a.Ref.GVR.Resource, refName(a)))
	}
	return got
}

func TestPlanResolvesPlacementOnce(t *testing.T) {
	w := newWorld()
	w.f.Migration.Listed, w.f.Migration.PlacementRef = nil, "prod"
	w.f.Migration.Object = completed(t).f.Migration.Object
	w.f.Clusters = nil
	// Decisions the Placement owns (plan_placement_test.go: only those count).
	w.f.Placements = []*unstructured.Unstructured{placement("a", "prod", "uid-a"), placement("b", "prod", "uid-b")}
	pd := func(ns string, names ...string) *unstructured.Unstructured {
		return decision(ns, "prod-decision-1", "prod", []owner{placementOwner("prod", "uid-"+ns)}, names...)
	}
	p := PlanMigration(&w.f)
	assert.Empty(t, p.Actions, "no decisions: wait, never an empty list")

	w.f.PlacementDecisions = []*unstructured.Unstructured{pd("a", "c2", "c1"), pd("b", "c1", "c3")}
	p = PlanMigration(&w.f)
	require.Len(t, p.Actions, 1)
	assert.Equal(t, `["c1","c2","c3"]`, p.Actions[0].Object.GetAnnotations()[AnnClusters])

	w.f.Migration.Annotations = map[string]string{AnnClusters: `["c1","c2","c3"]`}
	assert.Equal(t, []string{"c1", "c2", "c3"}, w.f.Migration.Clusters(), "the recorded list, not the Placement")
}

// rollingBack is a cluster whose rollback was decided in Registering.
func rollingBack(t *testing.T, extra map[string]string, done ...func(*world)) *world {
	anns := map[string]string{AnnReason: "RegisteringTimeout"}
	for k, v := range extra {
		anns[k] = v
	}
	w := newWorld().registering(anns)
	w.c().Source.MC.SetLabels(map[string]string{LabelPhase: "Rollbacking"})
	if _, restored := anns[AnnRestoredAt]; restored {
		a := w.c().Source.MC.GetAnnotations()
		delete(a, AnnKlusterletConfig)
		w.c().Source.MC.SetAnnotations(a)
		_ = unstructured.SetNestedField(w.c().Source.MC.Object, true, "spec", "hubAcceptsClient")
	}
	for _, d := range done {
		d(w)
	}
	return w
}

func targetUnaccepted(w *world) {
	_ = unstructured.SetNestedField(w.c().Target.MC.Object, false, "spec", "hubAcceptsClient")
}

func sourceLease(rv string) func(*world) {
	return func(w *world) {
		w.c().Source.Lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "managed-cluster-lease", Namespace: "c1", ResourceVersion: rv}}
	}
}

// A label move says what it is: forward (an Event only for Completed), or
// a correction of a marker that disagrees with the facts.
func TestMoveLabelEvents(t *testing.T) {
	move := func(from, to Phase) Action {
		w := newWorld()
		p := &planner{f: &w.f, owner: testOwner}
		mc := w.c().Source.MC.DeepCopy()
		mc.SetLabels(map[string]string{LabelPhase: string(from)})
		require.True(t, p.moveLabel(Source, "c1", mc, to))
		require.Len(t, p.plan.Actions, 1)
		return p.plan.Actions[0]
	}
	assert.Equal(t, "", move(Initializing, Deploying).Event)
	assert.Equal(t, "phase Initializing → Deploying", move(Initializing, Deploying).Why)
	assert.Equal(t, "ClusterCompleted", move(Cleaning, Completed).Event)
	back := move(Registering, Deploying)
	assert.Equal(t, "MarkerCorrected", back.Event)
	assert.Contains(t, back.Why, "corrected marker")
	assert.Equal(t, "MarkerCorrected", move("Bogus", Deploying).Event)
}

// A plan cut to one cluster keeps that cluster's actions and the
// migration's own, in order.
func TestPlanOnly(t *testing.T) {
	p := Plan{Actions: []Action{
		{Kind: Update, Hub: Source, Cluster: "c1", Why: "1"},
		{Kind: Update, Hub: Source, Cluster: "c2", Why: "2"},
		{Kind: Update, Hub: Home, Why: "3"},
		{Kind: Update, Hub: Target, Cluster: "c1", Why: "4"},
	}}
	var whys []string
	for _, a := range p.only("c1").Actions {
		whys = append(whys, a.Why)
	}
	assert.Equal(t, []string{"1", "3", "4"}, whys)
	assert.Len(t, p.Actions, 4, "the plan itself is left as it was")
}

// Cleaning deletes from the source only what has its copy on the target: a
// source object whose copy is not there (not made, or removed by someone)
// stays, so nothing of the cluster is lost.
func TestMigratedSourceObjectsHaveCopies(t *testing.T) {
	kac := func() *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "c1", "namespace": "c1"}}}
	}
	secret := func(n string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: "c1"}}
	}
	cm := func(n string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: "c1"}}
	}
	cf := &ClusterFacts{Name: "c1"}
	cf.Source.Migrated = MigratedObjects{KlusterletAddonConfig: kac(),
		Addons:  []*unstructured.Unstructured{addon("search", "a"), addon("policy", "a")},
		Secrets: []*corev1.Secret{secret("bmc"), secret("extra")}, ConfigMaps: []*corev1.ConfigMap{cm("site"), cm("other")}}
	cf.Target.Migrated = MigratedObjects{
		Addons:  []*unstructured.Unstructured{addon("search", "a")},
		Secrets: []*corev1.Secret{secret("bmc")}, ConfigMaps: []*corev1.ConfigMap{cm("site")}}
	p := &planner{f: &Facts{}, owner: testOwner}
	var names []string
	for _, r := range p.migratedSourceObjects(cf) {
		names = append(names, r.GVR.Resource+"/"+r.Name)
	}
	assert.Equal(t, []string{"managedclusteraddons/search", "secrets/bmc", "configmaps/site"}, names, "no KlusterletAddonConfig copy: the source's stays")
	cf.Target.Migrated.KlusterletAddonConfig = kac()
	assert.Len(t, p.migratedSourceObjects(cf), 4)
}

// The CSR committed among several of one CN: one approved by someone else
// first, then the oldest, then by name — the same one on every reconcile.
func TestPassingCSRsOrder(t *testing.T) {
	w := newWorld().registering(nil).csr(t, "c1-ccc", nil).csr(t, "c1-bbb", nil).csr(t, "c1-aaa", nil).csr(t, "c1-old", nil)
	csrs := w.c().Target.CSRs
	for _, c := range csrs[:3] {
		c.CreationTimestamp = metav1.NewTime(testNow.Add(time.Minute))
	}
	csrs[3].CreationTimestamp = metav1.NewTime(testNow)
	p := &planner{f: &w.f, owner: testOwner}
	cred, ok := p.credential(w.c())
	require.True(t, ok)
	names := func() []string {
		var out []string
		for _, c := range passingCSRs(csrs, cred, time.Time{}) {
			out = append(out, c.Name)
		}
		return out
	}
	assert.Equal(t, []string{"c1-old", "c1-aaa", "c1-bbb", "c1-ccc"}, names())
	approved(csrs[1])
	assert.Equal(t, []string{"c1-bbb", "c1-old", "c1-aaa", "c1-ccc"}, names())
}

// After the commit: which CSRs are the committed agent's. A commit written
// before commit-cn existed reads the CN from the committed CSR (name and
// UID); a CSR that matches the committed one by name or by UID only is
// another CSR.
func TestPlanCommittedWhichCSRsAreTheAgents(t *testing.T) {
	// Legacy commit (no commit-cn): a later CSR of the committed CN is approved.
	w := newWorld().registering(map[string]string{AnnCommitted: "c1-aaa/uid-c1-aaa", AnnCommitLeaseRV: "500", AnnCommitWorkRV: "absent"}).
		csr(t, "c1-aaa", approved).csr(t, "c1-bbb", nil)
	assert.Equal(t, []string{"Approve target certificatesigningrequests c1-bbb"}, describe(PlanMigration(&w.f).Actions))

	// The same, but the cached "committed" CSR is another one of that name.
	w = newWorld().registering(map[string]string{AnnCommitted: "c1-aaa/uid-c1-aaa", AnnCommitLeaseRV: "500", AnnCommitWorkRV: "absent"}).
		csr(t, "c1-aaa", func(c *certificatesv1.CertificateSigningRequest) { approved(c); c.UID = "uid-recreated" }).csr(t, "c1-bbb", nil)
	assert.Empty(t, PlanMigration(&w.f).Actions, "the CN is not known: nothing approved")

	// commit-cn recorded: a pending CSR of another CN is not the agent's,
	// whether it shares the committed CSR's name or its UID.
	cn := csrCommonName(agentCSR(t, nil))
	w = newWorld().registering(map[string]string{AnnCommitted: "c1-aaa/uid-c1-aaa", AnnCommitCN: cn, AnnCommitLeaseRV: "500", AnnCommitWorkRV: "absent"})
	for _, name := range []string{"c1-aaa", "c1-zzz"} {
		other := agentCSRWithCN(t, "system:open-cluster-management:c1:agent2")
		other.Name, other.UID = name, "uid-c1-aaa"
		if name == "c1-aaa" {
			other.UID = "uid-new"
		}
		other.Spec.Username, other.Spec.UID = "system:serviceaccount:open-cluster-management:"+ServiceAccountName(testOwner.UID), "sa-uid"
		w.c().Target.CSRs = append(w.c().Target.CSRs, other)
	}
	assert.Empty(t, PlanMigration(&w.f).Actions, "neither is the committed agent's")
}
