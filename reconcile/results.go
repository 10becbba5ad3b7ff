package reconcile

//hubmigrate:pure

import (
	"encoding/json"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// finish plans what ends a migration once every cluster is terminal: the
// migration's bootstrap ServiceAccount and binding go (the last of the
// scaffolding), then `results` is written on the migration, once. A cluster
// list that cannot be used (an invalid name, a bad recorded list, more than
// MaxClusters) ends it at once: such a list gives no cluster to observe, so
// none was planned, let alone claimed.
func (p *planner) finish() {
	if _, err := p.f.Migration.ClusterList(); err != nil && p.f.Migration.Annotations[AnnResults] == "" {
		reason, message := ReasonInvalidClusterList, err.Error()
		if le, ok := err.(*ClusterListError); ok {
			reason, message = le.Reason, le.Message
		}
		p.failBeforeClaim(reason, message)
		return
	}
	// A claim lives on the source: a cluster recorded as failed while the
	// source was unseen may turn out to be claimed, so only a seen source
	// ends a migration. (With the target unseen, a cluster whose claim could
	// be there is Unknown, not terminal.)
	if len(p.plan.Clusters) == 0 || p.f.Migration.Annotations[AnnResults] != "" || !p.f.Source.Reachable {
		return
	}
	results := map[string]string{}
	for _, c := range p.plan.Clusters {
		if !c.Phase.Terminal() {
			return
		}
		results[c.Name] = string(c.Phase)
		if c.Reason != "" {
			results[c.Name] += ":" + c.Reason
		}
	}
	if sa := p.f.ServiceAccount; sa != nil {
		p.act(Action{Kind: Delete, Hub: Target, Ref: RefOf(ServiceAccountGVR, sa), Why: "the last cluster is terminal"})
	}
	if b := p.f.Binding; b != nil {
		p.act(Action{Kind: Delete, Hub: Target, Ref: RefOf(ClusterRoleBindingGVR, b), Why: "the last cluster is terminal"})
	}
	if r := p.f.ClusterRole; r != nil {
		p.act(Action{Kind: Delete, Hub: Target, Ref: RefOf(ClusterRoleGVR, r), Why: "the last cluster is terminal"})
	}
	if p.f.ServiceAccount != nil || p.f.Binding != nil || p.f.ClusterRole != nil || p.f.Migration.Object == nil {
		return
	}
	data, _ := json.Marshal(results) // keys sorted: the same results, the same string
	obj, _ := withMarkers(p.f.Migration.Object, nil, map[string]string{AnnResults: string(data)}, nil, nil)
	p.act(Action{Kind: Update, Hub: Home, Ref: RefOf(MigrationGVR, obj), Object: obj, Why: "every cluster is terminal", Event: "MigrationFinished"})
}

// outcomesOf reads results back: "Completed", or "Failed:<reason>".
func outcomesOf(results string) []ClusterOutcome {
	var m map[string]string
	if err := json.Unmarshal([]byte(results), &m); err != nil {
		return nil
	}
	out := make([]ClusterOutcome, 0, len(m))
	for name, r := range m {
		phase, reason, _ := strings.Cut(r, ":")
		out = append(out, ClusterOutcome{Name: name, Phase: Phase(phase), Reason: reason})
	}
	// In name order: a status (and its conditions' messages) computed twice
	// from the same results must be the same, or every reconcile rewrites it.
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// markRolledBack marks the Failed outcomes of a finished migration that are
// not failures before a claim (recorded as JSON {cluster: reason}).
func markRolledBack(outcomes []ClusterOutcome, unclaimedFailures string) {
	var unclaimed map[string]string
	_ = json.Unmarshal([]byte(unclaimedFailures), &unclaimed)
	for i := range outcomes {
		_, before := unclaimed[outcomes[i].Name]
		outcomes[i].RolledBack = outcomes[i].Phase == Failed && outcomes[i].Name != "" && !before
	}
}

// removeStrayScaffolding deletes scaffolding found for a terminal migration:
// creates are not fenced, so a paused old leader may have made some after the
// last cluster became terminal.
func (p *planner) removeStrayScaffolding() {
	if !p.hubsObserved() {
		return
	}
	for i := range p.f.Clusters {
		cf := &p.f.Clusters[i]
		if src := cf.Source.MC; p.ours(src) && decided(src) == Failed {
			// Rolled back: a copy of ours on the target is a stale leader's.
			p.deleteCopiesAndScaffolding(cf)
			continue
		}
		if a := cf.Target.Anchor; p.made(a) {
			p.act(Action{Kind: Delete, Hub: Target, Cluster: cf.Name, Ref: RefOf(SecretGVR, a), Why: "stray scaffolding of a terminal migration"})
		}
		if s := cf.Source.BootstrapSecret; p.made(s) {
			p.act(Action{Kind: Delete, Hub: Source, Cluster: cf.Name, Ref: RefOf(SecretGVR, s), Why: "stray scaffolding of a terminal migration"})
		}
		if kc := cf.Source.KlusterletConfig; p.made(kc) {
			p.act(Action{Kind: Delete, Hub: Source, Cluster: cf.Name, Ref: RefOf(KlusterletConfigGVR, kc), Why: "stray scaffolding of a terminal migration"})
		}
	}
	if sa := p.f.ServiceAccount; p.made(sa) {
		p.act(Action{Kind: Delete, Hub: Target, Ref: RefOf(ServiceAccountGVR, sa), Why: "stray scaffolding of a terminal migration"})
	}
	if b := p.f.Binding; p.made(b) {
		p.act(Action{Kind: Delete, Hub: Target, Ref: RefOf(ClusterRoleBindingGVR, b), Why: "stray scaffolding of a terminal migration"})
	}
	if r := p.f.ClusterRole; p.made(r) {
		p.act(Action{Kind: Delete, Hub: Target, Ref: RefOf(ClusterRoleGVR, r), Why: "stray scaffolding of a terminal migration"})
	}
}

// removeRecords runs when a finished migration is deleted: the Completed and
// Failed records that still name it are removed (copies stay), and once
// nothing of the migration remains, the finalizer is released after a live
// re-read (ReleaseFinalizer).
func (p *planner) removeRecords() {
	if !p.hubsObserved() && !p.neverClaimed() {
		return // records on an unseen hub cannot be removed: nothing is released
	}
	n := len(p.plan.Actions)
	for i := range p.f.Clusters {
		cf := &p.f.Clusters[i]
		for _, side := range []struct {
			hub HubRole
			mc  *unstructured.Unstructured
		}{{Source, cf.Source.MC}, {Target, cf.Target.MC}} {
			if !p.ours(side.mc) {
				continue
			}
			obj, _ := withMarkers(side.mc, nil, nil, []string{LabelPhase, LabelHome, LabelMigrationUID}, append(prefixedAnnotations(side.mc), AnnGlobalHubMigrating))
			p.act(Action{Kind: Update, Hub: side.hub, Cluster: cf.Name, Ref: RefOf(ManagedClusterGVR, side.mc), Object: obj, Why: "the migration is deleted: its record goes"})
		}
	}
	if len(p.plan.Actions) > n || p.f.Migration.Object == nil {
		return
	}
	p.act(Action{Kind: ReleaseFinalizer, Hub: Home, Ref: RefOf(MigrationGVR, p.f.Migration.Object), Object: p.f.Migration.Object,
		Why: "nothing of the migration remains", Event: "MigrationReleased"})
}

// neverClaimed: every outcome of a terminal migration is a failure recorded
// before a claim (or it never knew its clusters), so no hub holds anything
// of it and an unseen hub need not be looked at before its release.
func (p *planner) neverClaimed() bool {
	var recorded map[string]string
	_ = json.Unmarshal([]byte(p.f.Migration.Annotations[AnnUnclaimedFailures]), &recorded)
	for _, o := range p.plan.Clusters {
		if _, ok := recorded[o.Name]; o.Name != "" && !ok {
			return false
		}
	}
	return true
}
