package reconcile

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The source's Placements and PlacementDecisions, as the observer hands them
// to the planner: every Placement named by the migration (in any namespace),
// every decision labelled with that name (in any namespace).

func placement(ns, name, uid string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.open-cluster-management.io/v1beta1", "kind": "Placement",
		"metadata": map[string]any{"name": name, "namespace": ns, "uid": uid},
	}}
}

// owner is an ownerReference as OCM's placement controller writes it.
type owner struct {
	apiVersion, kind, name, uid string
	controller                  bool
}

func placementOwner(name, uid string) owner {
	return owner{"cluster.open-cluster-management.io/v1beta1", "Placement", name, uid, true}
}

// decision is a PlacementDecision in ns, labelled for placement (if not ""),
// with the given owners, naming clusters.
func decision(ns, name, placement string, owners []owner, clusters ...string) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.open-cluster-management.io/v1beta1", "kind": "PlacementDecision",
		"metadata": map[string]any{"name": name, "namespace": ns},
	}}
	if placement != "" {
		obj.SetLabels(map[string]string{LabelPlacement: placement})
	}
	var refs []any
	for _, o := range owners {
		refs = append(refs, map[string]any{"apiVersion": o.apiVersion, "kind": o.kind, "name": o.name, "uid": o.uid, "controller": o.controller, "blockOwnerDeletion": true})
	}
	if refs != nil {
		obj.Object["metadata"].(map[string]any)["ownerReferences"] = refs
	}
	var ds []any
	for _, c := range clusters {
		ds = append(ds, map[string]any{"clusterName": c, "reason": ""})
	}
	obj.Object["status"] = map[string]any{"decisions": ds}
	return obj
}

// placed is a migration of Placement "prod" whose list is not resolved yet.
func placed() *world {
	w := newWorld()
	w.f.Migration.Listed, w.f.Migration.PlacementRef, w.f.Clusters = nil, "prod", nil
	w.f.Placements = []*unstructured.Unstructured{placement("a", "prod", "uid-a"), placement("b", "prod", "uid-b")}
	return w
}

// observed rebuilds the per-cluster facts the way the observer does: from the
// migration's cluster list (none when it cannot be used).
func (w *world) observed() *world {
	w.f.Clusters = nil
	for _, c := range w.f.Migration.Clusters() {
		w.f.Clusters = append(w.f.Clusters, ClusterFacts{Name: c, Source: SourceFacts{MC: mc(c, true, nil, nil, "Available", "Joined", "HubAccepted")}})
	}
	return w
}

func manyNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("c%04d", i)
	}
	return out
}

// Only the referenced Placement's own decisions count: a decision needs the
// label and a controller ownerReference to the Placement of that name in its
// own namespace, with that Placement's UID. Names are validated and the list
// is capped.
func TestPlanPlacementScope(t *testing.T) {
	ownedA, ownedB := []owner{placementOwner("prod", "uid-a")}, []owner{placementOwner("prod", "uid-b")}
	cases := []struct {
		name      string
		decisions []*unstructured.Unstructured
		resolved  string // the clusters annotation written; "" for none
		why       string // in the resolving action's Why, or in the outcome while waiting
		reason    string // the migration-wide failure written in results
	}{
		{
			name:      "owned correctly in two namespaces: merged",
			decisions: []*unstructured.Unstructured{decision("a", "prod-decision-1", "prod", ownedA, "c2", "c1"), decision("b", "prod-decision-1", "prod", ownedB, "c1", "c3")},
			resolved:  `["c1","c2","c3"]`,
		},
		{
			name: "another namespace's decision with the label but no owner: ignored",
			decisions: []*unstructured.Unstructured{decision("a", "prod-decision-1", "prod", ownedA, "c1", "c2"),
				decision("rogue", "prod-decision-1", "prod", nil, "c9")},
			resolved: `["c1","c2"]`,
			why:      "ignored 1 PlacementDecision not owned by Placement prod",
		},
		{
			name: "the label and no owner in the Placement's own namespace: ignored",
			decisions: []*unstructured.Unstructured{decision("a", "prod-decision-1", "prod", ownedA, "c1"),
				decision("a", "extra", "prod", nil, "c9")},
			resolved: `["c1"]`,
			why:      "ignored 1 PlacementDecision not owned by Placement prod",
		},
		{
			name: "owned by a Placement of that name with another UID (deleted and re-made, or forged): ignored",
			decisions: []*unstructured.Unstructured{decision("a", "prod-decision-1", "prod", ownedA, "c1"),
				decision("b", "prod-decision-1", "prod", []owner{placementOwner("prod", "uid-old")}, "c9")},
			resolved: `["c1"]`,
			why:      "ignored 1 PlacementDecision not owned by Placement prod",
		},
		{
			name: "the owner's UID copied from another namespace's Placement: ignored",
			decisions: []*unstructured.Unstructured{decision("a", "prod-decision-1", "prod", ownedA, "c1"),
				decision("rogue", "prod-decision-1", "prod", ownedA, "c9"), decision("b", "prod-decision-2", "prod", ownedA, "c8")},
			resolved: `["c1"]`,
			why:      "ignored 2 PlacementDecisions not owned by Placement prod",
		},
		{
			name: "an owner that is not the controller, not a Placement, of another group or another name: ignored",
			decisions: []*unstructured.Unstructured{decision("a", "prod-decision-1", "prod", ownedA, "c1"),
				decision("a", "d2", "prod", []owner{{"cluster.open-cluster-management.io/v1beta1", "Placement", "prod", "uid-a", false}}, "c5"),
				decision("a", "d3", "prod", []owner{{"cluster.open-cluster-management.io/v1beta1", "ConfigMap", "prod", "uid-a", true}}, "c6"),
				decision("a", "d4", "prod", []owner{{"example.com/v1", "Placement", "prod", "uid-a", true}}, "c7"),
				decision("a", "d5", "prod", []owner{placementOwner("other", "uid-a")}, "c8")},
			resolved: `["c1"]`,
			why:      "ignored 4 PlacementDecisions not owned by Placement prod",
		},
		{
			name: "owned but without the label: ignored",
			decisions: []*unstructured.Unstructured{decision("a", "prod-decision-1", "prod", ownedA, "c1"),
				decision("a", "d2", "", ownedA, "c9")},
			resolved: `["c1"]`,
			why:      "ignored 1 PlacementDecision not owned by Placement prod",
		},
		{
			name:      "an invalid cluster name in a decision: ignored",
			decisions: []*unstructured.Unstructured{decision("a", "prod-decision-1", "prod", ownedA, "c1", "Bad_Name", strings.Repeat("x", 64), "-c", "c2")},
			resolved:  `["c1","c2"]`,
			why:       "ignored 3 invalid cluster names",
		},
		{
			name:      "only rogue decisions: it waits, saying what it ignored",
			decisions: []*unstructured.Unstructured{decision("rogue", "prod-decision-1", "prod", nil, "c9")},
			why:       "ignored 1 PlacementDecision not owned by Placement prod",
		},
		{
			name:      "3000 decided clusters: resolved",
			decisions: []*unstructured.Unstructured{decision("a", "prod-decision-1", "prod", ownedA, manyNames(MaxClusters)...)},
			resolved:  func() string { data, _ := json.Marshal(manyNames(MaxClusters)); return string(data) }(),
		},
		{
			name: "3001 decided clusters: TooManyClusters, at once",
			decisions: []*unstructured.Unstructured{decision("a", "prod-decision-1", "prod", ownedA, manyNames(2000)...),
				decision("b", "prod-decision-1", "prod", ownedB, manyNames(MaxClusters + 1)[2000:]...)},
			reason: "TooManyClusters",
			why:    "3001 clusters",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := placed()
			w.f.PlacementDecisions = tc.decisions
			p := PlanMigration(&w.f)
			switch {
			case tc.resolved != "":
				require.Equal(t, []string{"Update home managedclustermigrations move"}, describe(p.Actions))
				assert.Equal(t, tc.resolved, p.Actions[0].Object.GetAnnotations()[AnnClusters])
				assert.Empty(t, p.Actions[0].Object.GetAnnotations()[AnnResults])
				assert.Contains(t, p.Actions[0].Why, tc.why)
				if tc.why == "" {
					assert.Empty(t, p.Actions[0].Event, "nothing ignored, nothing to announce")
					assert.Empty(t, p.Notes)
				} else {
					assert.Equal(t, "PlacementDecisionsIgnored", p.Actions[0].Event)
				}
			case tc.reason != "":
				require.Equal(t, []string{"Update home managedclustermigrations move"}, describe(p.Actions), "results, and no claim")
				assert.Equal(t, `{"":"Failed:`+tc.reason+`"}`, p.Actions[0].Object.GetAnnotations()[AnnResults])
				assert.NotContains(t, p.Actions[0].Object.GetAnnotations(), AnnClusters, "no list is recorded")
				assert.Contains(t, p.Actions[0].Why, tc.why)
				require.Len(t, p.Clusters, 1)
				assert.Equal(t, ClusterOutcome{Name: "", Phase: Failed, Reason: tc.reason, Waiting: p.Clusters[0].Waiting}, p.Clusters[0])
				assert.Equal(t, "Failed", Status(p, nil, testNow)["phase"])
			default:
				assert.Empty(t, p.Actions, "nothing of the Placement's own: it waits")
				require.Len(t, p.Clusters, 1)
				assert.Equal(t, Pending, p.Clusters[0].Phase)
				assert.Contains(t, p.Clusters[0].Waiting, "has no decisions")
				assert.Contains(t, p.Clusters[0].Waiting, tc.why)
				pastValidating(w)
				p = PlanMigration(&w.f)
				require.Len(t, p.Actions, 1)
				assert.Equal(t, `{"":"Failed:EmptyPlacement"}`, p.Actions[0].Object.GetAnnotations()[AnnResults])
			}
		})
	}
}

// A decision owned by a Placement the cache does not show yet (its event may
// come after the decision's): it is looked at again soon, not only at the
// Validating deadline.
func TestPlanPlacementNotSeenYet(t *testing.T) {
	w := placed()
	w.f.Placements = nil
	w.f.PlacementDecisions = []*unstructured.Unstructured{decision("a", "prod-decision-1", "prod", []owner{placementOwner("prod", "uid-a")}, "c1")}
	p := PlanMigration(&w.f)
	assert.Empty(t, p.Actions)
	assert.Positive(t, p.Requeue)
	assert.LessOrEqual(t, p.Requeue, 5*time.Second)
}

// The recorded list (and the spec's) is used only when it is a valid list:
// one that cannot be read, names an invalid cluster, names one twice, is
// empty or too long ends the migration before any claim — never an empty
// list that silently does nothing.
func TestPlanInvalidClusterList(t *testing.T) {
	tooMany, _ := json.Marshal(manyNames(MaxClusters + 1))
	cases := []struct {
		name     string
		resolved string   // the clusters annotation of a Placement migration
		listed   []string // or the spec's list (the CRD rejects these; older CRDs did not all)
		reason   string
	}{
		{name: "an invalid name", resolved: `["c1","Bad_Name"]`, reason: "InvalidClusterList"},
		{name: "a name too long", resolved: `["c1","` + strings.Repeat("x", 64) + `"]`, reason: "InvalidClusterList"},
		{name: "not JSON", resolved: `c1,c2`, reason: "InvalidClusterList"},
		{name: "not a list of names", resolved: `{"c1":true}`, reason: "InvalidClusterList"},
		{name: "null", resolved: `null`, reason: "InvalidClusterList"},
		{name: "empty", resolved: `[]`, reason: "InvalidClusterList"},
		{name: "a name twice", resolved: `["c1","c1"]`, reason: "InvalidClusterList"},
		{name: "3001 recorded", resolved: string(tooMany), reason: "TooManyClusters"},
		{name: "an invalid listed name", listed: []string{"c1", "Bad_Name"}, reason: "InvalidClusterList"},
		{name: "3001 listed", listed: manyNames(MaxClusters + 1), reason: "TooManyClusters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			if tc.listed != nil {
				w.f.Migration.Listed = tc.listed
			} else {
				w.f.Migration.Listed, w.f.Migration.PlacementRef = nil, "prod"
				w.f.Migration.Annotations[AnnClusters] = tc.resolved
			}
			clusters, err := w.f.Migration.ClusterList()
			var listErr *ClusterListError
			require.ErrorAs(t, err, &listErr, "Clusters() must not silently make it an empty list")
			assert.Equal(t, tc.reason, listErr.Reason)
			assert.Nil(t, clusters)
			assert.Nil(t, w.f.Migration.Clusters(), "nothing is observed, nothing claimed")

			p := PlanMigration(&w.observed().f)
			require.Equal(t, []string{"Update home managedclustermigrations move"}, describe(p.Actions), "results, and no claim")
			assert.Equal(t, `{"":"Failed:`+tc.reason+`"}`, p.Actions[0].Object.GetAnnotations()[AnnResults])
			s := Status(p, nil, testNow)
			assert.Equal(t, "Failed", s["phase"])
			assert.Equal(t, tc.reason, statusCondition(s, "MigrationStarted")["reason"])

			// Terminal for good; deleted, it lets go at once.
			w.f.Migration.Annotations[AnnResults] = p.Actions[0].Object.GetAnnotations()[AnnResults]
			assert.Empty(t, PlanMigration(&w.f).Actions)
			w.f.Migration.Deleting = true
			assert.Equal(t, []string{"ReleaseFinalizer home managedclustermigrations move"}, describe(PlanMigration(&w.f).Actions))
		})
	}

	// A valid recorded list is the list.
	w := newWorld()
	w.f.Migration.Listed, w.f.Migration.PlacementRef = nil, "prod"
	w.f.Migration.Annotations[AnnClusters] = `["c1","c2"]`
	clusters, err := w.f.Migration.ClusterList()
	require.NoError(t, err)
	assert.Equal(t, []string{"c1", "c2"}, clusters)
	listed := newWorld()
	listed.f.Migration.Listed = manyNames(MaxClusters)
	clusters, err = listed.f.Migration.ClusterList()
	require.NoError(t, err)
	assert.Len(t, clusters, MaxClusters)
}

// What the resolving write says it left out: counted, named up to three,
// singular and plural.
func TestPlacementIgnoredSaysWhatWasLeftOut(t *testing.T) {
	cases := []struct {
		r    placementClusters
		want string
	}{
		{placementClusters{}, ""},
		{placementClusters{notOwned: 1}, "ignored 1 PlacementDecision not owned by Placement prod"},
		{placementClusters{notOwned: 2}, "ignored 2 PlacementDecisions not owned by Placement prod"},
		{placementClusters{invalid: []string{"A"}}, `ignored 1 invalid cluster name ("A")`},
		{placementClusters{invalid: []string{"A", "B"}}, `ignored 2 invalid cluster names ("A", "B")`},
		{placementClusters{invalid: []string{"A", "B", "C"}}, `ignored 3 invalid cluster names ("A", "B", "C")`},
		{placementClusters{notOwned: 1, invalid: []string{"A", "B", "C", "D"}},
			`ignored 1 PlacementDecision not owned by Placement prod; ignored 4 invalid cluster names ("A", "B", "C", …)`},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, tc.r.ignored("prod"), "%+v", tc.r)
	}
}
