package reconcile

//hubmigrate:pure

import (
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Plan is what the planner decided for one migration.
type Plan struct {
	// Actions: each cluster's are performed in order and stop at the first
	// that fails (other clusters' go on, side by side: perform.go); the next
	// reconcile plans again from what it then observes.
	Actions  []Action
	Clusters []ClusterOutcome
	// Notes are log lines worth one each: a resumption, a corrected marker.
	Notes []string
	// Requeue is when to look again though nothing changes: the next deadline.
	Requeue time.Duration
	// Live: the migration has not written results (its status then shows
	// the hubs' readiness, Hubs being why they are not ready, if they are not).
	Live bool
	Hubs *HubProblem
	// Waiting: the unclaimed clusters waiting on something transient, each
	// with when it was first seen waiting (Facts.Waiting of the next plan).
	Waiting map[string]time.Time
}

// ClusterOutcome is where one cluster is, and why it is not moving if it is not.
type ClusterOutcome struct {
	Name    string
	Phase   Phase
	Reason  string
	Waiting string
	// Overdue: committed, Cleaning or Rollbacking past its stage timeout.
	// Such a cluster cannot be rolled back (or is being); it keeps trying
	// and the StageTimeoutExceeded condition (and alert) names it.
	Overdue bool
	// Since is when the cluster entered its phase (its phase-since
	// marker); zero when no marker says.
	Since time.Time
	// TokenExpiring: not yet registered (committed or not), and the
	// bootstrap token it must register with expires within tokenWarning (or has).
	TokenExpiring bool
	// RolledBack: claimed, then rolled back (Rollbacking, or Failed after it)
	// — not a failure before the claim.
	RolledBack bool
}

type planner struct {
	f     *Facts
	owner Owner
	plan  Plan
	// unclaimed are failures of clusters never claimed, found this time.
	unclaimed map[string]string
	// recorded are those already on the migration.
	recorded map[string]string
	// sharedPlanned: a write of the migration's shared bootstrap identity
	// is in this plan already (one cluster makes it; the others wait).
	sharedPlanned bool
}

// PlanMigration is the pure planner: from the facts of one migration and the
// clock, the next writes. The same facts always give the same plan, and a
// crash between any two writes leaves facts from which it picks the right
// next step (reconcile/plan_test.go).
func PlanMigration(f *Facts) Plan {
	plan := planMigration(f)
	stampSince(f, plan.Clusters)
	return plan
}

// stampSince gives each outcome its cluster's phase-since marker — this
// migration's own (sealed) only: on the source while it is there, on the
// target once the source is gone.
func stampSince(f *Facts, outcomes []ClusterOutcome) {
	p := &planner{f: f, owner: f.Migration.Owner}
	stamps := map[string]time.Time{}
	for _, cf := range f.Clusters {
		for _, mc := range []*unstructured.Unstructured{cf.Source.MC, cf.Target.MC} {
			if t := since(annotation(mc, AnnPhaseSince)); p.ours(mc) && !t.IsZero() {
				stamps[cf.Name] = t
				break
			}
		}
	}
	for i := range outcomes {
		outcomes[i].Since = stamps[outcomes[i].Name]
	}
}

func planMigration(f *Facts) Plan {
	p := &planner{f: f, owner: f.Migration.Owner}
	if results := f.Migration.Annotations[AnnResults]; results != "" {
		// Terminal for good: its status comes from results, and it never
		// claims a cluster again.
		p.plan.Clusters = outcomesOf(results)
		markRolledBack(p.plan.Clusters, f.Migration.Annotations[AnnUnclaimedFailures])
		p.removeStrayScaffolding()
		if f.Migration.Deleting {
			p.removeRecords()
		}
		return p.plan
	}
	p.plan.Live, p.plan.Hubs = true, p.hubsNotReady()
	if f.Migration.PlacementRef != "" && f.Migration.Annotations[AnnClusters] == "" {
		p.resolvePlacement()
		return p.plan
	}
	p.recorded = map[string]string{}
	if s := f.Migration.Annotations[AnnUnclaimedFailures]; s != "" {
		_ = json.Unmarshal([]byte(s), &p.recorded)
	}
	for i := range f.Clusters {
		n := len(p.plan.Clusters)
		p.planCluster(&f.Clusters[i])
		if len(p.plan.Clusters) == n+1 {
			o := &p.plan.Clusters[n]
			p.checkOverdue(&f.Clusters[i], o)
			p.checkToken(&f.Clusters[i], o)
			_, unclaimed := p.unclaimed[o.Name]
			_, recorded := p.recorded[o.Name]
			o.RolledBack = o.Phase == Rollbacking || (o.Phase == Failed && !unclaimed && !recorded)
		}
	}
	if p.recordUnclaimed() {
		return p.plan // recorded first; the rest follows once it is observed
	}
	p.finish()
	return p.plan
}

// ours: obj carries this migration's owner under a seal that verifies.
func (p *planner) ours(obj metaObject) bool {
	return !absent(obj) && annotation(obj, AnnOwner) == p.owner.String() && !p.unsealed(obj)
}

func (p *planner) act(a Action) { p.plan.Actions = append(p.plan.Actions, a) }

// create plans making obj; its Ref names it for the executor and the log.
func (p *planner) create(hub HubRole, cluster string, gvr schemaGVR, obj *unstructured.Unstructured, why string) {
	p.act(Action{Kind: Create, Hub: hub, Cluster: cluster, Ref: Ref{GVR: gvr, Namespace: obj.GetNamespace(), Name: obj.GetName()}, Object: obj, Why: why})
}

func (p *planner) outcome(c string, phase Phase, waiting string) {
	p.plan.Clusters = append(p.plan.Clusters, ClusterOutcome{Name: c, Phase: phase, Waiting: waiting})
}

func (p *planner) now() string { return p.f.Now.UTC().Format(time.RFC3339) }

// planCluster derives the cluster's phase from the facts and plans its next step.
func (p *planner) planCluster(cf *ClusterFacts) {
	src, tgt := cf.Source.MC, cf.Target.MC
	if reason, ok := p.recorded[cf.Name]; ok && !p.ours(src) && !p.ours(tgt) {
		p.outcomeFailed(cf.Name, Failed, reason, "failed before it was claimed")
		return
	}
	if !p.f.Source.Reachable {
		p.planUnobserved(cf)
		return
	}
	if !p.f.Target.Reachable && (src == nil || p.ours(src)) {
		// In flight, or past the point where the target speaks: only the
		// target can tell, and it cannot be seen.
		p.outcome(cf.Name, Unknown, p.hubsNotReady().Message+"; the cluster's progress there cannot be seen")
		return
	}
	if what := p.unsealedOf(cf); len(what) > 0 && p.planUnsealed(cf, what) {
		return
	}
	if denial, ok := p.f.Denied[cf.Name]; ok && p.planDenied(cf, denial) {
		return
	}
	if _, ok := p.f.Collisions[cf.Name]; ok && p.planCollision(cf) {
		return
	}
	if p.commitsDisagree(cf) {
		p.outcome(cf.Name, Registering, "the target's commit is not the source's: waiting for the hubs' caches to agree")
		return
	}
	switch {
	case p.targetSpeaks(cf):
		// From Cleaning on, the target's ManagedCluster speaks for the cluster.
		p.planCleaning(cf)
	case src == nil && p.ours(tgt):
		p.planSourceGone(cf)
	case src == nil || !p.ours(src):
		p.planValidating(cf)
	case decided(src) == Failed:
		if p.moveLabel(Source, cf.Name, src, Failed) {
			p.outcomeFailed(cf.Name, Failed, annotation(src, AnnReason), "rolled back")
			return
		}
		// Creates are not fenced: a paused old leader may have made a copy
		// or scaffolding after the rollback; each reconcile removes it.
		p.deleteCopiesAndScaffolding(cf)
		p.outcomeFailed(cf.Name, Failed, annotation(src, AnnReason), "rolled back")
	case decided(src) == Rollbacking:
		if p.moveLabel(Source, cf.Name, src, Rollbacking) {
			p.outcomeFailed(cf.Name, Rollbacking, annotation(src, AnnReason), "")
			return
		}
		p.planRollback(cf)
	case hasAnnotation(src, AnnCommitted):
		p.planCommitted(cf)
	case hasAnnotation(src, AnnOriginalHubAcceptsClient):
		p.planRegistering(cf)
	case p.klusterletConfigured(cf):
		p.planDeploying(cf)
	default:
		p.planInitializing(cf)
	}
}

// targetSpeaks: the target's ManagedCluster speaks for the cluster (SPEC
// "Trust boundaries" rule 2) — by its sealed commit, or, once handed over
// (the migration's UID label gone from it, which only hubmigrate's sealed
// handover write does), by its phase. The phase label alone is a
// projection anyone may edit: it never makes an in-flight copy speak.
func (p *planner) targetSpeaks(cf *ClusterFacts) bool {
	tgt := cf.Target.MC
	if !p.ours(tgt) {
		return false
	}
	if hasAnnotation(tgt, AnnCommitted) {
		return true
	}
	phase := Phase(label(tgt, LabelPhase))
	return label(tgt, LabelMigrationUID) == "" && (phase == Cleaning || phase == Completed)
}

// commitsDisagree: the target's sealed commit is not the one the source
// (still this migration's) carries. hubmigrate writes the target's from the
// source's, so only caches of different ages show this; neither hub is
// believed until they agree (SPEC "Trust boundaries" rule 2).
func (p *planner) commitsDisagree(cf *ClusterFacts) bool {
	src, tgt := cf.Source.MC, cf.Target.MC
	committed := annotation(tgt, AnnCommitted)
	return committed != "" && p.ours(tgt) && p.ours(src) && annotation(src, AnnCommitted) != committed
}

// decided is the rollback decision the source's sealed markers carry: its
// reason, with the phase clock while rolling back, without it once Failed
// ("" for none). The phase label shows it but is no part of it.
func decided(src metaObject) Phase {
	switch {
	case !hasAnnotation(src, AnnReason):
		return ""
	case hasAnnotation(src, AnnPhaseSince):
		return Rollbacking
	}
	return Failed
}

// sourcePhase is where the source's markers say the cluster is: a sealed
// decision, else the phase label.
func sourcePhase(src metaObject) Phase {
	if d := decided(src); d != "" {
		return d
	}
	return Phase(label(src, LabelPhase))
}

// made: obj is there and its seal, if it carries markers, verifies — what
// hubmigrate may delete as its own scaffolding.
func (p *planner) made(obj metaObject) bool { return !absent(obj) && !p.unsealed(obj) }

// moveLabel keeps the phase label of the speaking ManagedCluster in step with
// the facts: a label behind them moves forward (new phase-since); any other
// disagreement is a marker to correct, keeping phase-since. It reports
// whether a write was planned (the caller then waits for it to be observed).
func (p *planner) moveLabel(hub HubRole, cluster string, mc *unstructured.Unstructured, phase Phase) bool {
	current := Phase(label(mc, LabelPhase))
	if current == phase {
		return false
	}
	set := map[string]string{AnnPhaseSince: p.now()}
	var del []string
	if phase.Terminal() {
		// A terminal cluster keeps its label and owner, no clock.
		set, del = nil, []string{AnnPhaseSince}
	}
	why := fmt.Sprintf("phase %s → %s", current, phase)
	event := ""
	if phase == Completed {
		event = "ClusterCompleted"
	}
	// (`>` or `>=` alike: current == phase returned above — an equivalent mutant.)
	if forwardOrder[current] == 0 || forwardOrder[current] > forwardOrder[phase] {
		set = nil
		why = fmt.Sprintf("corrected marker %s=%s to %s (the facts say %s)", LabelPhase, current, phase, phase)
		event = "MarkerCorrected"
		p.plan.Notes = append(p.plan.Notes, cluster+": "+why)
	}
	obj, _ := withMarkers(mc, map[string]string{LabelPhase: string(phase)}, set, nil, del)
	p.act(Action{Kind: Update, Hub: hub, Cluster: cluster, Ref: RefOf(ManagedClusterGVR, mc), Object: obj, Why: why, Event: event})
	return true
}

// mirrorLabel keeps the target copy's phase label equal to the source's
// while the source speaks, so either hub shows where the cluster is.
func (p *planner) mirrorLabel(cf *ClusterFacts, phase Phase) {
	tgt := cf.Target.MC
	if !p.ours(tgt) || Phase(label(tgt, LabelPhase)) == phase {
		return
	}
	obj, _ := withMarkers(tgt, map[string]string{LabelPhase: string(phase)}, nil, nil, nil)
	p.act(Action{Kind: Update, Hub: Target, Cluster: cf.Name, Ref: RefOf(ManagedClusterGVR, tgt), Object: obj, Why: "mirror the source's phase"})
}

// recordUnclaimed writes the new unclaimed failures on the migration, merged
// with those recorded, resourceVersion-guarded. It reports whether it did.
func (p *planner) recordUnclaimed() bool {
	if len(p.unclaimed) == 0 || p.f.Migration.Object == nil {
		return false
	}
	merged := map[string]string{}
	for k, v := range p.recorded {
		merged[k] = v
	}
	for k, v := range p.unclaimed {
		merged[k] = v
	}
	data, _ := json.Marshal(merged)
	obj, _ := withMarkers(p.f.Migration.Object, nil, map[string]string{AnnUnclaimedFailures: string(data)}, nil, nil)
	p.plan.Actions = append([]Action{{Kind: Update, Hub: Home, Ref: RefOf(MigrationGVR, obj), Object: obj,
		Why: "record clusters that failed before a claim", Event: "ClustersNotMigrated"}}, p.plan.Actions...)
	return true
}

// planDenied handles a permanent RBAC denial met by one of the cluster's
// actions: an unclaimed cluster fails before a claim, an uncommitted one is
// rolled back, both with reason Forbidden. A committed, Cleaning,
// Rollbacking or Failed cluster cannot be: it keeps trying (false), its
// status saying what is denied.
func (p *planner) planDenied(cf *ClusterFacts, denial string) bool {
	src, tgt := cf.Source.MC, cf.Target.MC
	switch {
	case src == nil && p.ours(tgt), src != nil && p.ours(src) && hasAnnotation(src, AnnCommitted):
		return false
	case src == nil || !p.ours(src):
		p.failUnclaimed(cf.Name, "Forbidden", denial)
		return true
	}
	switch phase := sourcePhase(src); phase {
	case Rollbacking, Failed, Cleaning, Completed:
		return false
	case Registering:
		if p.commitPending(cf) {
			// Commit takes precedence over a rollback, this one included.
			return false
		}
		p.decideRollback(cf, phase, "Forbidden")
		return true
	default:
		p.decideRollback(cf, phase, "Forbidden")
		return true
	}
}

// planCollision handles an object not made by this migration found in the
// way of a create (one the caches do not hold, like a Secret without the
// preserve label at a preserved Secret's name): the same permanent failure
// as Deploying's collision check, for a cluster that can still roll back.
func (p *planner) planCollision(cf *ClusterFacts) bool {
	src := cf.Source.MC
	if !p.ours(src) || hasAnnotation(src, AnnCommitted) {
		return false
	}
	switch phase := sourcePhase(src); phase {
	case Initializing, Deploying:
		p.decideRollback(cf, phase, "CopyCollision")
		return true
	}
	return false
}

// only is the plan cut to one cluster's actions and those on the migration.
func (p Plan) only(cluster string) Plan {
	out := p
	out.Actions = nil
	for _, a := range p.Actions {
		if a.Cluster == cluster || a.Hub == Home {
			out.Actions = append(out.Actions, a)
		}
	}
	return out
}
