package reconcile

//hubmigrate:pure

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// LabelPlacement names a PlacementDecision's Placement.
const LabelPlacement = "cluster.open-cluster-management.io/placement"

// placementGroup is the API group of Placement (the owner of its decisions).
const placementGroup = "cluster.open-cluster-management.io"

// placementRecheck is how soon a migration looks again when a decision names
// an owning Placement its cache does not hold yet (events on Placements do
// not wake migrations; events on decisions do).
const placementRecheck = 2 * time.Second

// placementClusters is what the source's decisions say about the Placement
// named ref: the valid cluster names of the decisions it owns, sorted, and
// what was ignored. A decision counts only with the label
// cluster.open-cluster-management.io/placement=<ref> and a controller
// ownerReference to the Placement <ref> in the decision's own namespace,
// carrying that Placement's UID — anyone who can create a PlacementDecision
// somewhere on the source cannot add a cluster to the migration.
type placementClusters struct {
	clusters []string
	// notOwned counts decisions with the label that the Placement does not
	// own; invalid are the cluster names that are not ManagedCluster names.
	notOwned int
	invalid  []string
	// unseenOwner: a decision names an owning Placement the cache does not
	// hold (yet).
	unseenOwner bool
}

func resolveDecisions(ref string, placements, decisions []*unstructured.Unstructured) placementClusters {
	uids := map[string]string{} // namespace → UID of the Placement ref there
	for _, pl := range placements {
		if pl.GetName() == ref && pl.GetUID() != "" {
			uids[pl.GetNamespace()] = string(pl.GetUID())
		}
	}
	var r placementClusters
	for _, pd := range decisions {
		owned, claimsOwner := false, false
		if pd.GetLabels()[LabelPlacement] == ref {
			for _, o := range pd.GetOwnerReferences() {
				gv, err := schema.ParseGroupVersion(o.APIVersion)
				if err != nil || gv.Group != placementGroup || o.Kind != "Placement" || o.Name != ref || o.Controller == nil || !*o.Controller {
					continue
				}
				claimsOwner = true
				if uid, ok := uids[pd.GetNamespace()]; ok && uid == string(o.UID) {
					owned = true
				}
			}
		}
		if !owned {
			r.notOwned++
			if _, seen := uids[pd.GetNamespace()]; claimsOwner && !seen {
				r.unseenOwner = true
			}
			continue
		}
		decided, _, _ := unstructured.NestedSlice(pd.Object, "status", "decisions")
		for _, d := range decided {
			m, _ := d.(map[string]any)
			name, _ := m["clusterName"].(string)
			switch {
			case name == "": // an empty decision: too few clusters matched
			case len(validation.IsDNS1123Label(name)) > 0:
				if !slices.Contains(r.invalid, name) {
					r.invalid = append(r.invalid, name)
				}
			case !slices.Contains(r.clusters, name):
				r.clusters = append(r.clusters, name)
			}
		}
	}
	slices.Sort(r.clusters)
	slices.Sort(r.invalid)
	return r
}

// ignored says what was left out, "" if nothing.
func (r placementClusters) ignored(ref string) string {
	var parts []string
	if r.notOwned == 1 {
		parts = append(parts, "ignored 1 PlacementDecision not owned by Placement "+ref)
	} else if r.notOwned > 1 {
		parts = append(parts, fmt.Sprintf("ignored %d PlacementDecisions not owned by Placement %s", r.notOwned, ref))
	}
	if len(r.invalid) > 0 {
		quoted := make([]string, 0, 3)
		for _, n := range r.invalid[:min(3, len(r.invalid))] {
			quoted = append(quoted, fmt.Sprintf("%q", n))
		}
		more := ""
		if len(r.invalid) > 3 {
			more = ", …"
		}
		noun := "name"
		if len(r.invalid) > 1 {
			noun = "names"
		}
		parts = append(parts, fmt.Sprintf("ignored %d invalid cluster %s (%s%s)", len(r.invalid), noun, strings.Join(quoted, ", "), more))
	}
	return strings.Join(parts, "; ")
}

// resolvePlacement records, once and before any claim, the clusters the
// source's PlacementDecisions of the Placement name (merged across the
// namespaces that hold a Placement of that name): a decision, since the
// Placement may change afterwards. Decisions the Placement does not own and
// invalid names are ignored and said; more than MaxClusters fails the
// migration before any claim.
func (p *planner) resolvePlacement() {
	if hp := p.hubsNotReady(); hp != nil {
		p.placementWaitOrFail(hp.Reason, hp.Message)
		return
	}
	ref := p.f.Migration.PlacementRef
	r := resolveDecisions(ref, p.f.Placements, p.f.PlacementDecisions)
	ignored := r.ignored(ref)
	withIgnored := func(message string) string {
		if ignored == "" {
			return message
		}
		return message + " (" + ignored + ")"
	}
	if len(r.clusters) > MaxClusters {
		p.failBeforeClaim(ReasonTooManyClusters, withIgnored(fmt.Sprintf("Placement %s resolves to %d clusters, more than %d", ref, len(r.clusters), MaxClusters)))
		return
	}
	if len(r.clusters) == 0 {
		if r.unseenOwner {
			// Its Placement may reach the cache after the decision.
			p.wakeAt(p.f.Now.Add(placementRecheck))
		}
		// Never empty: it waits (until the stage timeout) for decisions.
		p.placementWaitOrFail("EmptyPlacement", withIgnored("Placement "+ref+" has no decisions on the source hub"))
		return
	}
	if p.f.Migration.Object == nil {
		return
	}
	data, _ := json.Marshal(r.clusters)
	obj, _ := withMarkers(p.f.Migration.Object, nil, map[string]string{AnnClusters: string(data)}, nil, nil)
	a := Action{Kind: Update, Hub: Home, Ref: RefOf(MigrationGVR, obj), Object: obj, Why: withIgnored("resolve the Placement, once")}
	if ignored != "" {
		a.Event = "PlacementDecisionsIgnored"
		p.plan.Notes = append(p.plan.Notes, "Placement "+ref+": "+ignored)
	}
	p.act(a)
}

// placementWaitOrFail waits for the cluster list until the Validating
// timeout; past it the migration ends with no cluster claimed: results hold
// the one migration-wide outcome (the empty name) with the reason.
func (p *planner) placementWaitOrFail(reason, message string) {
	phase := Pending
	if !p.hubsObserved() {
		phase = Unknown
	}
	if p.f.Migration.Deleting || p.expired(since(p.f.Migration.Annotations[AnnStartedAt]), Validating) {
		if p.f.Migration.Deleting {
			reason, message = "MigrationDeleted", "the migration was deleted before its clusters were known"
		}
		p.failBeforeClaim(reason, message)
		return
	}
	p.plan.Clusters = append(p.plan.Clusters, ClusterOutcome{Name: "", Phase: phase, Waiting: message})
}

// failBeforeClaim ends a migration that has claimed no cluster: results hold
// the one migration-wide outcome (the empty name) with the reason.
func (p *planner) failBeforeClaim(reason, message string) {
	p.plan.Clusters = append(p.plan.Clusters, ClusterOutcome{Name: "", Phase: Failed, Reason: reason, Waiting: message})
	if p.f.Migration.Object == nil {
		return
	}
	data, _ := json.Marshal(map[string]string{"": string(Failed) + ":" + reason})
	obj, _ := withMarkers(p.f.Migration.Object, nil, map[string]string{AnnResults: string(data)}, nil, nil)
	p.act(Action{Kind: Update, Hub: Home, Ref: RefOf(MigrationGVR, obj), Object: obj, Why: message + ": no cluster was claimed", Event: "MigrationFinished"})
}
