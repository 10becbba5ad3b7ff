package reconcile

//hubmigrate:pure

import "time"

// planValidating checks a cluster this migration has not claimed, then
// claims it in one resourceVersion-guarded write (owner, label, phase-since),
// taking over the records of a terminal migration if there are any.
func (p *planner) planValidating(cf *ClusterFacts) {
	src := cf.Source.MC
	if p.f.Migration.Deleting {
		p.failUnclaimed(cf.Name, "MigrationDeleted", "the migration was deleted before the cluster was claimed")
		return
	}
	if hp := p.hubsNotReady(); hp != nil {
		p.waitOrFail(cf.Name, hp.Reason, hp.Message)
		return
	}
	if src == nil {
		p.failUnclaimed(cf.Name, "NotFound", "the cluster is not on the source hub")
		return
	}
	if other := annotation(src, AnnOwner); other != "" && !p.f.TerminalOwners[other] {
		p.failUnclaimed(cf.Name, "ClaimedBy", "claimed by "+other)
		return
	}
	switch {
	case cf.Name == "local-cluster" || label(src, "local-cluster") == "true":
		p.failUnclaimed(cf.Name, "IsHub", "the cluster is the hub itself")
		return
	case annotation(src, AnnDeployMode) == "Hosted":
		p.failUnclaimed(cf.Name, "HostedMode", "hosted-mode klusterlets are not migrated")
		return
	case cf.Target.MC != nil && !p.ours(cf.Target.MC):
		p.failUnclaimed(cf.Name, "AlreadyOnTarget", "a ManagedCluster of that name exists on the target")
		return
	case src.GetDeletionTimestamp() != nil:
		p.waitOrFail(cf.Name, "ValidationTimeout", "the cluster is being deleted from the source")
		return
	case !conditionTrue(src, "ManagedClusterConditionAvailable"):
		p.waitOrFail(cf.Name, "Unavailable", "the cluster is not available on the source")
		return
	case cf.Source.KlusterletWork == nil || !workApplied(cf.Source.KlusterletWork):
		p.waitOrFail(cf.Name, "Unavailable", "its klusterlet ManifestWork is not applied on the source")
		return
	}
	// A takeover removes every marker of the terminal migration in the same write.
	claimed, _ := withMarkers(src,
		map[string]string{LabelPhase: string(Initializing)},
		map[string]string{AnnOwner: p.owner.String(), AnnPhaseSince: p.now(), AnnGlobalHubMigrating: ""},
		nil, prefixedAnnotations(src))
	p.act(Action{Kind: Update, Hub: Source, Cluster: cf.Name, Ref: RefOf(ManagedClusterGVR, src), Object: claimed, Why: "claim", Event: "ClusterClaimed"})
	p.outcome(cf.Name, Validating, "claiming")
}

// HubProblem is why no cluster can be claimed: a reason for the status, the
// HubsReady condition and the failure record, and a message naming the hub.
type HubProblem struct{ Reason, Message string }

// hubsNotReady says why no cluster can be claimed yet (nil when they can).
func (p *planner) hubsNotReady() *HubProblem {
	f := p.f
	switch {
	case !f.Source.Reachable:
		return &HubProblem{orDefault(f.Source.Problem, "HubUnreachable"), "source " + orDefault(f.Source.ProblemMessage, "hub "+f.Migration.From+": not reachable")}
	case !f.Target.Reachable:
		return &HubProblem{orDefault(f.Target.Problem, "HubUnreachable"), "target " + orDefault(f.Target.ProblemMessage, "hub "+f.Migration.To+": not reachable")}
	case !f.Source.ServesKlusterletConfig:
		return &HubProblem{"NotACMHub", "source hub " + f.Migration.From + " does not serve the KlusterletConfig API: not an ACM hub"}
	case !f.Target.ServesKlusterletConfig:
		return &HubProblem{"NotACMHub", "target hub " + f.Migration.To + " does not serve the KlusterletConfig API: not an ACM hub"}
	case f.Target.RegistrationAddress == "":
		return &HubProblem{"NoRegistrationAddress", "target hub " + f.Migration.To + ": the address managed clusters register with is not known (annotate its kubeconfig Secret)"}
	}
	return nil
}

// hubsObserved: both hubs' caches are synced, so the facts describe them.
func (p *planner) hubsObserved() bool { return p.f.Source.Reachable && p.f.Target.Reachable }

// planUnobserved is all that can be said of a cluster whose source hub
// cannot be seen: its phase is Unknown. Once it has waited out the Validating
// timeout (waitedOut) it is recorded as failed before a claim; should the hub come
// back showing this migration's claim, the claim wins and the cluster goes
// on (planCluster reads the facts before the record). Until the source is
// seen, results are not written (finish).
func (p *planner) planUnobserved(cf *ClusterFacts) {
	hp := p.hubsNotReady()
	if !p.f.Migration.Deleting && p.waitedOut(cf.Name) {
		p.failUnclaimed(cf.Name, hp.Reason, hp.Message+" (past the stage timeout)")
		return
	}
	p.outcome(cf.Name, Unknown, hp.Message)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// waitOrFail waits for a transient condition until the cluster has waited
// out the Validating timeout (waitedOut).
func (p *planner) waitOrFail(c, reason, why string) {
	if p.waitedOut(c) {
		p.failUnclaimed(c, reason, why+" (past the stage timeout)")
		return
	}
	p.outcome(c, Validating, why)
}

// waitedOut: an unclaimed cluster has been waiting on something transient
// for the whole Validating timeout — from the migration's started-at (there
// is no cluster clock before a claim) and, as well, from when this process
// first saw it waiting. The second clock is what keeps a cluster that
// hubmigrate had not yet looked at (thousands queued for their claims, a
// hub's caches syncing, a restart) from failing the moment it is looked at:
// the condition must have been observed for the timeout. It records the
// wait, so the controller can hand its start back to the next plan.
func (p *planner) waitedOut(c string) bool {
	seen, ok := p.f.Waiting[c]
	if !ok || seen.After(p.f.Now) {
		seen = p.f.Now
	}
	if p.plan.Waiting == nil {
		p.plan.Waiting = map[string]time.Time{}
	}
	p.plan.Waiting[c] = seen
	start := since(p.f.Migration.Annotations[AnnStartedAt])
	if start.IsZero() || seen.After(start) {
		start = seen
	}
	return p.expired(start, Validating)
}

// failUnclaimed fails a cluster this migration never claimed: the reason is
// recorded on the migration (a decision: it is not re-derived later).
func (p *planner) failUnclaimed(c, reason, message string) {
	if p.unclaimed == nil {
		p.unclaimed = map[string]string{}
	}
	p.unclaimed[c] = reason
	p.outcomeFailed(c, Failed, reason, message)
}

func (p *planner) outcomeFailed(c string, phase Phase, reason, message string) {
	p.plan.Clusters = append(p.plan.Clusters, ClusterOutcome{Name: c, Phase: phase, Reason: reason, Waiting: message})
}
