package reconcile

//hubmigrate:pure

import (
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// decideRollback writes the decision to roll a cluster back, with its reason,
// on the source ManagedCluster (resourceVersion-guarded, so it and the commit
// write exclude each other) before any rollback step.
func (p *planner) decideRollback(cf *ClusterFacts, phase Phase, reason string) {
	src := cf.Source.MC
	obj, _ := withMarkers(src, map[string]string{LabelPhase: string(Rollbacking)},
		map[string]string{AnnReason: reason, AnnPhaseSince: p.now()}, nil, nil)
	p.act(Action{Kind: DecideRollback, Hub: Source, Cluster: cf.Name, Ref: RefOf(ManagedClusterGVR, src), Object: obj,
		Why: "roll back: " + reason, Event: "ClusterRollingBack"})
	p.outcomeFailed(cf.Name, phase, reason, "rolling back")
}

// planRollback undoes a cluster that is not committed, in SPEC's order: the
// migration's pending CSRs denied and the target copy unaccepted; the source
// restored in one write; (if its source was unaccepted) a bounded wait for
// the agent's return; the copies and scaffolding deleted; then Failed.
func (p *planner) planRollback(cf *ClusterFacts) {
	src, tgt := cf.Source.MC, cf.Target.MC
	reason := annotation(src, AnnReason)
	user := "system:serviceaccount:" + p.f.BootstrapNamespace + ":" + ServiceAccountName(p.owner.UID)
	acted := false
	for _, csr := range cf.Target.CSRs {
		if csrPending(csr) && csr.Spec.Username == user {
			p.act(Action{Kind: Deny, Hub: Target, Cluster: cf.Name, Ref: RefOf(CSRGVR, csr), Why: "rolling back"})
			acted = true
		}
	}
	if p.ours(tgt) && hubAcceptsClient(tgt) {
		obj := tgt.DeepCopy()
		_ = unstructured.SetNestedField(obj.Object, false, "spec", "hubAcceptsClient")
		p.act(Action{Kind: Update, Hub: Target, Cluster: cf.Name, Ref: RefOf(ManagedClusterGVR, tgt), Object: obj,
			Why: "a late approval must not keep the agent on the target"})
		acted = true
	}
	if acted {
		p.outcomeFailed(cf.Name, Rollbacking, reason, "")
		return
	}
	if !hasAnnotation(src, AnnRestoredAt) {
		p.act(Action{Kind: Restore, Hub: Source, Cluster: cf.Name, Ref: RefOf(ManagedClusterGVR, src), Object: p.restored(src),
			Why: "restore the source's originals"})
		p.outcomeFailed(cf.Name, Rollbacking, reason, "")
		return
	}
	if hasAnnotation(src, AnnOriginalHubAcceptsClient) && reason != "AgentRestartRequired" && reason != "RestoredNotReturned" && !p.back(cf) {
		trapped := p.trappedOnTarget(cf, user)
		if p.expired(since(annotation(src, AnnPhaseSince)), Rollbacking) {
			// The one bounded wait: the cluster is restored and accepted on
			// the source, so its agent rejoins once it runs again.
			next := "RestoredNotReturned"
			if trapped {
				next = "AgentRestartRequired"
			}
			obj, _ := withMarkers(src, nil, map[string]string{AnnReason: next, AnnPhaseSince: p.now()}, nil, nil)
			p.act(Action{Kind: Update, Hub: Source, Cluster: cf.Name, Ref: RefOf(ManagedClusterGVR, src), Object: obj,
				Why: "the agent has not returned to the source", Event: "ClusterNotReturned"})
			p.outcomeFailed(cf.Name, Rollbacking, next, "")
			return
		}
		waiting := "waiting for the agent to return to the source"
		restart := min(time.Minute, p.stageTimeout(Rollbacking)/2)
		if trapped && !p.f.Now.Before(since(annotation(src, AnnRestoredAt)).Add(restart)) {
			p.outcomeFailed(cf.Name, Rollbacking, "AgentRestartRequired", "the klusterlet waits on a CSR on the target: restart its pod once")
			return
		}
		p.wakeAt(since(annotation(src, AnnRestoredAt)).Add(restart))
		p.outcomeFailed(cf.Name, Rollbacking, reason, waiting)
		return
	}
	if p.deleteCopiesAndScaffolding(cf) {
		p.outcomeFailed(cf.Name, Rollbacking, reason, "")
		return
	}
	// Failed: the source keeps the label, owner and reason as the record.
	var drop []string
	for _, k := range prefixedAnnotations(src) {
		if k != AnnOwner && k != AnnReason {
			drop = append(drop, k)
		}
	}
	obj, _ := withMarkers(src, map[string]string{LabelPhase: string(Failed)}, nil, nil, append(drop, AnnGlobalHubMigrating))
	p.act(Action{Kind: Update, Hub: Source, Cluster: cf.Name, Ref: RefOf(ManagedClusterGVR, src), Object: obj,
		Why: "rolled back", Event: "ClusterFailed"})
	p.outcomeFailed(cf.Name, Rollbacking, reason, "")
}

// restored is the source with its saved originals back, in one write.
func (p *planner) restored(src *unstructured.Unstructured) *unstructured.Unstructured {
	set := map[string]string{AnnRestoredAt: p.now()}
	var del []string
	if hasAnnotation(src, AnnOriginalKlusterletConfig) {
		if original := annotation(src, AnnOriginalKlusterletConfig); original != "" {
			set[AnnKlusterletConfig] = original
		} else {
			del = append(del, AnnKlusterletConfig)
		}
	}
	obj, _ := withMarkers(src, nil, set, nil, del)
	if original, ok := src.GetAnnotations()[AnnOriginalHubAcceptsClient]; ok {
		_ = unstructured.SetNestedField(obj.Object, original == "true", "spec", "hubAcceptsClient")
	}
	return obj
}

// back: the agent renews its lease on the source again since the restore
// (Available alone proves nothing: it stays True for 5 lease durations).
func (p *planner) back(cf *ClusterFacts) bool {
	src, lease := cf.Source.MC, cf.Source.Lease
	return conditionTrue(src, "ManagedClusterConditionAvailable") && lease != nil &&
		lease.ResourceVersion != annotation(src, AnnRestoreLeaseRV)
}

// trappedOnTarget: a CSR of the cluster from the migration's credential is
// pending or denied on the target — its agent waits there.
func (p *planner) trappedOnTarget(cf *ClusterFacts, user string) bool {
	for _, csr := range cf.Target.CSRs {
		if csr.Spec.Username == user && (csrPending(csr) || csrRefused(csr)) {
			return true
		}
	}
	return false
}

// deleteCopiesAndScaffolding plans the deletions of step 5; it reports
// whether any is still to happen.
func (p *planner) deleteCopiesAndScaffolding(cf *ClusterFacts) bool {
	n := len(p.plan.Actions)
	del := func(hub HubRole, gvr schemaGVR, obj metaNamed, uid string) {
		p.act(Action{Kind: Delete, Hub: hub, Cluster: cf.Name, Ref: Ref{GVR: gvr, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: typesUID(uid)}, Why: "rolling back"})
	}
	if a := cf.Target.Anchor; p.made(a) {
		p.act(Action{Kind: RevokeToken, Hub: Target, Cluster: cf.Name, Ref: RefOf(SecretGVR, a), Why: "rolling back: revoke the cluster's token"})
	}
	tgt := cf.Target
	if p.ours(tgt.MC) {
		p.act(Action{Kind: DeleteTargetCluster, Hub: Target, Cluster: cf.Name, Ref: RefOf(ManagedClusterGVR, tgt.MC), Why: "rolling back"})
	}
	if kac := tgt.Migrated.KlusterletAddonConfig; kac != nil && p.ours(kac) {
		del(Target, KlusterletAddonConfigGVR, kac, string(kac.GetUID()))
	}
	for _, a := range tgt.Migrated.Addons {
		if p.ours(a) {
			del(Target, ManagedClusterAddOnGVR, a, string(a.GetUID()))
		}
	}
	for _, s := range tgt.Migrated.Secrets {
		if p.ours(s) {
			del(Target, SecretGVR, s, string(s.UID))
		}
	}
	for _, c := range tgt.Migrated.ConfigMaps {
		if p.ours(c) {
			del(Target, ConfigMapGVR, c, string(c.UID))
		}
	}
	nsPending := false
	if ns := tgt.Namespace; p.made(ns) && ns.Labels[LabelMigrationUID] == string(p.owner.UID) {
		// The owned namespace goes once the copy is gone; its deletion is
		// observed before Failed.
		if tgt.MC == nil && ns.DeletionTimestamp == nil {
			del(Target, NamespaceGVR, ns, string(ns.UID))
		}
		nsPending = true
	}
	if s := cf.Source.BootstrapSecret; p.made(s) {
		del(Source, SecretGVR, s, string(s.UID))
	}
	if kc := cf.Source.KlusterletConfig; p.made(kc) {
		del(Source, KlusterletConfigGVR, kc, string(kc.GetUID()))
	}
	return len(p.plan.Actions) > n || nsPending
}
