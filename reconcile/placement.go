package reconcile

import (
	"encoding/json"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// resolvePlacement records, once and before any claim, the clusters the
// source's PlacementDecisions name (merged across namespaces, as Global Hub
// does): a decision, since the Placement may change afterwards.
func (p *planner) resolvePlacement() {
	if hp := p.hubsNotReady(); hp != nil {
		p.placementWaitOrFail(hp.Reason, hp.Message)
		return
	}
	var clusters []string
	for _, pd := range p.f.PlacementDecisions {
		decisions, _, _ := unstructured.NestedSlice(pd.Object, "status", "decisions")
		for _, d := range decisions {
			m, _ := d.(map[string]any)
			if name, _ := m["clusterName"].(string); name != "" && !slices.Contains(clusters, name) {
				clusters = append(clusters, name)
			}
		}
	}
	if len(clusters) == 0 {
		// Never empty: it waits (until the stage timeout) for decisions.
		p.placementWaitOrFail("EmptyPlacement", "Placement "+p.f.Migration.PlacementRef+" has no decisions on the source hub")
		return
	}
	if p.f.Migration.Object == nil {
		return
	}
	slices.Sort(clusters)
	data, _ := json.Marshal(clusters)
	obj, _ := withMarkers(p.f.Migration.Object, nil, map[string]string{AnnClusters: string(data)}, nil, nil)
	p.act(Action{Kind: Update, Hub: Home, Ref: RefOf(MigrationGVR, obj), Object: obj, Why: "resolve the Placement, once"})
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
		p.plan.Clusters = append(p.plan.Clusters, ClusterOutcome{Name: "", Phase: Failed, Reason: reason, Waiting: message})
		if p.f.Migration.Object == nil {
			return
		}
		data, _ := json.Marshal(map[string]string{"": string(Failed) + ":" + reason})
		obj, _ := withMarkers(p.f.Migration.Object, nil, map[string]string{AnnResults: string(data)}, nil, nil)
		p.act(Action{Kind: Update, Hub: Home, Ref: RefOf(MigrationGVR, obj), Object: obj, Why: message + ": no cluster was claimed", Event: "MigrationFinished"})
		return
	}
	p.plan.Clusters = append(p.plan.Clusters, ClusterOutcome{Name: "", Phase: phase, Waiting: message})
}
