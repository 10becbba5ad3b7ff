package reconcile

// planValidating checks a cluster this migration has not claimed, then
// claims it in one resourceVersion-guarded write (owner, label, phase-since),
// taking over the records of a terminal migration if there are any.
func (p *planner) planValidating(cf *ClusterFacts) {
	src := cf.Source.MC
	if p.f.Migration.Deleting {
		p.failUnclaimed(cf.Name, "MigrationDeleted", "the migration was deleted before the cluster was claimed")
		return
	}
	if why := p.hubsNotReady(); why != "" {
		p.waitOrFail(cf.Name, "ValidationTimeout", why)
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

// hubsNotReady says why no cluster can be claimed yet ("" when they can).
func (p *planner) hubsNotReady() string {
	switch {
	case !p.f.Source.Reachable:
		return "the source hub is not reachable"
	case !p.f.Target.Reachable:
		return "the target hub is not reachable"
	case !p.f.Source.ServesKlusterletConfig:
		return "the source hub does not serve KlusterletConfig (not an ACM hub)"
	case !p.f.Target.ServesKlusterletConfig:
		return "the target hub does not serve KlusterletConfig (not an ACM hub)"
	case p.f.Target.RegistrationAddress == "":
		return "the target hub's registration address is not known"
	}
	return ""
}

// waitOrFail waits for a transient condition until the Validating timeout,
// measured from the migration's started-at (no cluster clock before a claim).
func (p *planner) waitOrFail(c, reason, why string) {
	if p.expired(since(p.f.Migration.Annotations[AnnStartedAt]), Validating) {
		p.failUnclaimed(c, reason, why+" (past the stage timeout)")
		return
	}
	p.outcome(c, Validating, why)
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
