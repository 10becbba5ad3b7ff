package reconcile

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// SPEC "Trust boundaries" rule 1: markers count only under hubmigrate's
// seal. Each row is an attack by someone who may write the object (a
// clusterset admin on a ManagedCluster, a hub user on a copy); the planner
// must do nothing on the forged word.

// unsealedIn marks obj as failing its seal check, as checkSeals would. (The
// fixture gives both hubs' ManagedClusters one UID; API servers never do.)
func unsealedIn(w *world, obj metav1.Object) {
	if tgt := w.c().Target.MC; tgt != nil && obj == metav1.Object(tgt) {
		tgt.SetUID("uid-c1-on-the-target")
	}
	if w.f.Unsealed == nil {
		w.f.Unsealed = map[types.UID]string{}
	}
	w.f.Unsealed[obj.GetUID()] = "forged " + obj.GetName()
}

func TestPlanUnsealedMarkers(t *testing.T) {
	cases := []struct {
		name        string
		world       func(t *testing.T) *world
		wantPhase   Phase
		wantReason  string
		wantActions []string
		// recorded: failed before a claim, written on the migration.
		recorded bool
	}{
		{
			// Finding 15.3a: our owner and a commit on the target copy would
			// send the cluster to Cleaning, deleting the source.
			name: "a commit forged on the target copy",
			world: func(t *testing.T) *world {
				w := newWorld().registering(nil).registeredOnTarget()
				anns := w.c().Target.MC.GetAnnotations()
				anns[AnnCommitted] = "csr/uid"
				w.c().Target.MC.SetAnnotations(anns)
				unsealedIn(w, w.c().Target.MC)
				return w
			},
			wantPhase: Registering, wantReason: UnsealedMarkersReason,
		},
		{
			// Finding 15.3b: rollback would restore hubAcceptsClient from
			// the saved original, by hubmigrate's own permission.
			name: "a saved original forged on the source, past the deadline",
			world: func(t *testing.T) *world {
				w := newWorld().registering(map[string]string{AnnOriginalHubAcceptsClient: "true"})
				w.f.Now = testNow.Add(30 * 60e9)
				unsealedIn(w, w.c().Source.MC)
				return w
			},
			wantPhase: Registering, wantReason: UnsealedMarkersReason,
		},
		{
			name: "a rollback decision forged on the source",
			world: func(t *testing.T) *world {
				w := newWorld().registering(map[string]string{AnnReason: "Forged"})
				labels := w.c().Source.MC.GetLabels()
				labels[LabelPhase] = string(Rollbacking)
				w.c().Source.MC.SetLabels(labels)
				unsealedIn(w, w.c().Source.MC)
				return w
			},
			wantPhase: Rollbacking, wantReason: UnsealedMarkersReason,
		},
		{
			name: "a final phase claimed by unsealed markers is not believed",
			world: func(t *testing.T) *world {
				w := newWorld().registering(map[string]string{AnnReason: "Forged"})
				labels := w.c().Source.MC.GetLabels()
				labels[LabelPhase] = string(Failed)
				w.c().Source.MC.SetLabels(labels)
				unsealedIn(w, w.c().Source.MC)
				return w
			},
			wantPhase: Unknown, wantReason: UnsealedMarkersReason,
		},
		{
			name: "a forged copy on the target of an in-flight cluster",
			world: func(t *testing.T) *world {
				w := newWorld().configured(Deploying, nil).copied(Deploying)
				unsealedIn(w, w.c().Target.Namespace)
				return w
			},
			wantPhase: Deploying, wantReason: UnsealedMarkersReason,
		},
		{
			name: "the shared bootstrap ServiceAccount forged",
			world: func(t *testing.T) *world {
				w := newWorld().configured(Deploying, nil).copied(Deploying)
				unsealedIn(w, w.f.ServiceAccount)
				return w
			},
			wantPhase: Deploying, wantReason: UnsealedMarkersReason,
		},
		{
			// Finding 15.3c: a pre-created target ManagedCluster with forged
			// markers stuck the migration and its finalizer for ever.
			name: "a target ManagedCluster forged before the claim",
			world: func(t *testing.T) *world {
				w := newWorld().copied(Registering)
				unsealedIn(w, w.c().Target.MC)
				return w
			},
			wantPhase: Failed, wantReason: "ClaimedBy", recorded: true,
		},
		{
			name: "our owner forged on an unclaimed source, with a forged copy",
			world: func(t *testing.T) *world {
				w := newWorld().claimed(Initializing, nil).copied(Deploying)
				unsealedIn(w, w.c().Source.MC)
				unsealedIn(w, w.c().Target.MC)
				return w
			},
			// The source names this migration: held, as an in-flight cluster
			// whose markers were changed would be (they cannot be told apart).
			wantPhase: Initializing, wantReason: UnsealedMarkersReason,
		},
		{
			name: "a forged copy left beside a cluster that rolled back",
			world: func(t *testing.T) *world {
				w := newWorld().claimed(Failed, map[string]string{AnnReason: "RegistrationTimeout"})
				anns := w.c().Source.MC.GetAnnotations()
				delete(anns, AnnPhaseSince) // a Failed record keeps no clock
				w.c().Source.MC.SetAnnotations(anns)
				w.copied(Deploying)
				unsealedIn(w, w.c().Target.MC)
				return w
			},
			// Sealed: Failed stands. The forged copy is not ours: not deleted.
			wantPhase: Failed, wantReason: "RegistrationTimeout",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world(t)
			p := PlanMigration(&w.f)
			assert.Equal(t, tc.wantActions, clusterActions(p), "actions on the hubs")
			require.Len(t, p.Clusters, 1)
			assert.Equal(t, tc.wantPhase, p.Clusters[0].Phase)
			assert.Equal(t, tc.wantReason, p.Clusters[0].Reason)
			if tc.recorded {
				require.NotEmpty(t, p.Actions)
				assert.Contains(t, p.Actions[0].Object.GetAnnotations()[AnnUnclaimedFailures], `"c1":"ClaimedBy"`)
			}
		})
	}
}

func clusterActions(p Plan) []string {
	var out []string
	for _, a := range p.Actions {
		if a.Hub != Home {
			out = append(out, a.String())
		}
	}
	return out
}

// The same worlds, sealed, are planned as usual: the rows above are held
// by the seal check alone.
func TestPlanSealedMarkersMove(t *testing.T) {
	w := newWorld().registering(map[string]string{AnnCommitted: "csr/uid"}).registeredOnTarget()
	anns := w.c().Target.MC.GetAnnotations()
	anns[AnnCommitted] = "csr/uid"
	w.c().Target.MC.SetAnnotations(anns)
	p := PlanMigration(&w.f)
	assert.NotEmpty(t, clusterActions(p), "a sealed commit on the target speaks for the cluster")
	assert.Equal(t, Cleaning, p.Clusters[0].Phase)
}

// The phase label is outside the seal (a projection anyone may edit, SPEC
// "Trust boundaries" rule 1): no label makes a decision or makes the
// target speak. Each row edits only the label of a sealed object.
func TestPlanPhaseLabelIsNoDecision(t *testing.T) {
	relabel := func(obj metav1.Object, phase Phase) {
		labels := obj.GetLabels()
		labels[LabelPhase] = string(phase)
		obj.SetLabels(labels)
	}
	cases := []struct {
		name      string
		world     func(t *testing.T) *world
		wantPhase Phase
		// notWanted are actions the forged label would have caused.
		notWanted []string
		// corrected: the label is put back by a write on that hub.
		corrected HubRole
	}{
		{
			name: "Cleaning on an in-flight target copy (15.3a by label)",
			world: func(t *testing.T) *world {
				w := newWorld().registering(nil).registeredOnTarget()
				relabel(w.c().Target.MC, Cleaning)
				return w
			},
			wantPhase: Registering,
			notWanted: []string{"DeleteSourceCluster", "DeleteMigratedSource", "RevokeToken"},
			corrected: Target,
		},
		{
			name: "Completed on a target copy still Cleaning",
			world: func(t *testing.T) *world {
				w := cleaning(t)
				relabel(w.c().Target.MC, Completed)
				return w
			},
			wantPhase: Cleaning,
			corrected: Target,
		},
		{
			name: "Failed on an in-flight source",
			world: func(t *testing.T) *world {
				w := newWorld().configured(Deploying, nil).copied(Deploying)
				relabel(w.c().Source.MC, Failed)
				return w
			},
			wantPhase: Deploying,
			notWanted: []string{"DeleteTargetCluster", "Delete", "RevokeToken"},
			corrected: Source,
		},
		{
			name: "Rollbacking on a committed source",
			world: func(t *testing.T) *world {
				w := newWorld().registering(map[string]string{AnnCommitted: "c1-aaa/uid-c1-aaa", AnnCommitLeaseRV: "500", AnnCommitWorkRV: "absent"}).csr(t, "c1-aaa", nil)
				relabel(w.c().Source.MC, Rollbacking)
				return w
			},
			wantPhase: Registering,
			notWanted: []string{"Restore", "Deny", "RevokeToken"},
			corrected: Source,
		},
		{
			name: "Registering on a source that is rolling back",
			world: func(t *testing.T) *world {
				w := newWorld().registering(map[string]string{AnnReason: "RegisteringTimeout"})
				return w // label Registering, sealed reason and clock: Rollbacking
			},
			wantPhase: Rollbacking,
			notWanted: []string{"Commit", "Approve"},
			corrected: Source,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world(t)
			p := PlanMigration(&w.f)
			require.Len(t, p.Clusters, 1)
			assert.Equal(t, tc.wantPhase, p.Clusters[0].Phase, "%v", describe(p.Actions))
			for _, a := range p.Actions {
				assert.NotContains(t, tc.notWanted, string(a.Kind), "%s", a)
			}
			found := false
			for _, a := range p.Actions {
				if a.Kind == Update && a.Hub == tc.corrected && a.Ref.GVR == ManagedClusterGVR {
					found = true
				}
			}
			assert.True(t, found, "the label is corrected on the %s: %v", tc.corrected, describe(p.Actions))
		})
	}
}

// The target's sealed commit is written from the source's: when they
// differ, caches of different ages are showing, and nothing is done.
func TestPlanCommitsDisagree(t *testing.T) {
	w := cleaning(t)
	anns := w.c().Source.MC.GetAnnotations()
	delete(anns, AnnCommitted) // the source's cache is older than the commit
	w.c().Source.MC.SetAnnotations(anns)
	w.f.Now = testNow.Add(time.Hour) // past every deadline
	p := PlanMigration(&w.f)
	assert.Empty(t, clusterActions(p))
	assert.Equal(t, Registering, p.Clusters[0].Phase)
}

// checkSeals finds, among the facts, exactly the objects that claim to be
// the migration's and whose seal does not verify.
func TestCheckSeals(t *testing.T) {
	s := testSealer(t, 1)
	w := newWorld().registering(nil).registeredOnTarget()
	cf := w.c()
	sealAll := func(objs ...metav1.Object) {
		for _, m := range append(w.f.sharedMarkables(), cf.markables()...) {
			s.Seal(m.resource, m.obj)
		}
	}
	sealAll()
	checkSeals(&w.f, s)
	assert.Empty(t, w.f.Unsealed, "all sealed")

	anns := cf.Target.MC.GetAnnotations()
	anns[AnnCommitted] = "csr/uid"
	cf.Target.MC.SetAnnotations(anns)
	other := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "addon.open-cluster-management.io/v1alpha1", "kind": "ManagedClusterAddOn",
		"metadata": map[string]any{"name": "theirs", "namespace": "c1", "uid": "theirs-uid",
			"annotations": map[string]any{AnnOwner: "ops/other/another-uid"}}}}
	cf.Target.Migrated.Addons = append(cf.Target.Migrated.Addons, other)
	forgedLabel := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "addon.open-cluster-management.io/v1alpha1", "kind": "ManagedClusterAddOn",
		"metadata": map[string]any{"name": "labelled", "namespace": "c1", "uid": "labelled-uid",
			"labels": map[string]any{LabelMigrationUID: string(testOwner.UID)}}}}
	cf.Target.Migrated.Addons = append(cf.Target.Migrated.Addons, forgedLabel)
	w.f.Unsealed = nil
	checkSeals(&w.f, s)
	assert.Equal(t, map[types.UID]string{
		cf.Target.MC.GetUID(): "managedclusters c1 on the target hub",
		"labelled-uid":        "managedclusteraddons c1/labelled on the target hub",
	}, w.f.Unsealed, "another migration's object is not checked; ours by its UID label is")
}
