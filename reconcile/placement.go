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
	if why := p.hubsNotReady(); why != "" {
		p.plan.Clusters = append(p.plan.Clusters, ClusterOutcome{Name: "", Phase: Pending, Waiting: why})
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
	if len(clusters) == 0 || p.f.Migration.Object == nil {
		// Never empty: it waits (until the stage timeout) for decisions.
		return
	}
	slices.Sort(clusters)
	data, _ := json.Marshal(clusters)
	obj, _ := withMarkers(p.f.Migration.Object, nil, map[string]string{AnnClusters: string(data)}, nil, nil)
	p.act(Action{Kind: Update, Hub: Home, Ref: RefOf(MigrationGVR, obj), Object: obj, Why: "resolve the Placement, once"})
}
