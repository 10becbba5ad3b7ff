package reconcile

//hubmigrate:pure

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// planCleaning runs once the target speaks for the cluster, in SPEC's order:
// the migrated resources and then the ManagedCluster leave the source; the
// anchor Secret goes (revoking the token); leftover CSRs of the migration's
// credential are denied; the rest of the cluster's scaffolding goes; the
// target namespace and the copies are handed to the cluster; then Completed.
func (p *planner) planCleaning(cf *ClusterFacts) {
	src, tgt := cf.Source.MC, cf.Target.MC
	if Phase(label(tgt, LabelPhase)) == Completed && !hasAnnotation(tgt, AnnCommitted) && label(tgt, LabelMigrationUID) == "" {
		// Handed over: the label is all that changes after that.
		p.outcome(cf.Name, Completed, "")
		return
	}
	if p.moveLabel(Target, cf.Name, tgt, Cleaning) {
		p.outcome(cf.Name, Cleaning, "")
		return
	}
	if p.alignCopies(cf) {
		// The sources go next: their copies must equal them first.
		p.outcome(cf.Name, Cleaning, "")
		return
	}
	if refs := p.migratedSourceObjects(cf); len(refs) > 0 {
		for _, r := range refs {
			p.act(Action{Kind: DeleteMigratedSource, Hub: Source, Cluster: cf.Name, Ref: r, Why: "its copy is on the target"})
		}
		p.outcome(cf.Name, Cleaning, "")
		return
	}
	if src != nil {
		if !availableOn(tgt) {
			// The executor checks this live before deleting (rule 5); until
			// the cache shows it there is nothing to try (a copy whose agent
			// is away would re-plan for as long as it is away).
			p.outcome(cf.Name, Cleaning, "waiting for the cluster to be available on the target before it leaves the source")
			return
		}
		if src.GetDeletionTimestamp() == nil {
			p.act(Action{Kind: DeleteSourceCluster, Hub: Source, Cluster: cf.Name, Ref: RefOf(ManagedClusterGVR, src), Why: "registered on the target"})
		}
		p.outcome(cf.Name, Cleaning, "waiting for the source ManagedCluster to go")
		return
	}
	if a := cf.Target.Anchor; a != nil {
		p.act(Action{Kind: RevokeToken, Hub: Target, Cluster: cf.Name, Ref: RefOf(SecretGVR, a), Why: "revoke the cluster's token"})
		p.outcome(cf.Name, Cleaning, "")
		return
	}
	denied := false
	if sa := p.f.ServiceAccount; sa != nil {
		user := "system:serviceaccount:" + sa.Namespace + ":" + sa.Name
		for _, csr := range cf.Target.CSRs {
			if csrPending(csr) && csr.Spec.Username == user {
				p.act(Action{Kind: Deny, Hub: Target, Cluster: cf.Name, Ref: RefOf(CSRGVR, csr), Why: "a CSR of the migration's credential left over"})
				denied = true
			}
		}
	}
	if denied {
		p.outcome(cf.Name, Cleaning, "")
		return
	}
	scaffolding := false
	if s := cf.Source.BootstrapSecret; s != nil {
		p.act(Action{Kind: Delete, Hub: Source, Cluster: cf.Name, Ref: RefOf(SecretGVR, s), Why: "scaffolding"})
		scaffolding = true
	}
	if kc := cf.Source.KlusterletConfig; kc != nil {
		p.act(Action{Kind: Delete, Hub: Source, Cluster: cf.Name, Ref: RefOf(KlusterletConfigGVR, kc), Why: "scaffolding"})
		scaffolding = true
	}
	if scaffolding {
		p.outcome(cf.Name, Cleaning, "")
		return
	}
	if p.handOver(cf) {
		p.outcome(cf.Name, Cleaning, "")
		return
	}
	p.moveLabel(Target, cf.Name, tgt, Completed)
	p.outcome(cf.Name, Cleaning, "")
}

// sourceDeleted is the committed marker the target gets when someone deleted
// the source ManagedCluster mid-flight and the cluster is registered on the
// target: no commit can be read from the source any more.
const sourceDeleted = "source-deleted"

// planSourceGone: someone deleted the source ManagedCluster while the
// cluster was in flight (before Cleaning). Where its agent is registered on
// the target (accepted, joined, available there), the target is the only
// hub that holds it: Cleaning starts there and hands it over. Otherwise
// nothing is done to the copy — deleting it could leave the cluster on no
// hub — and the cluster waits, named in its status.
func (p *planner) planSourceGone(cf *ClusterFacts) {
	tgt := cf.Target.MC
	if !availableOn(tgt) {
		p.outcome(cf.Name, Registering, "the source ManagedCluster was deleted; waiting for the cluster to be available on the target")
		return
	}
	obj, _ := withMarkers(tgt, map[string]string{LabelPhase: string(Cleaning)},
		map[string]string{AnnCommitted: sourceDeleted, AnnOwner: p.owner.String(), AnnPhaseSince: p.now()}, nil, nil)
	p.act(Action{Kind: Update, Hub: Target, Cluster: cf.Name, Ref: RefOf(ManagedClusterGVR, tgt), Object: obj,
		Why: "the source ManagedCluster was deleted and the cluster is registered on the target: Cleaning there", Event: "SourceDeleted"})
	p.outcome(cf.Name, Registering, "")
}

// migratedSourceObjects are the source resources whose copies are on the
// target, still to be deleted from the source.
func (p *planner) migratedSourceObjects(cf *ClusterFacts) []Ref {
	var refs []Ref
	src, tgt := cf.Source.Migrated, cf.Target.Migrated
	if src.KlusterletAddonConfig != nil && tgt.KlusterletAddonConfig != nil {
		refs = append(refs, RefOf(KlusterletAddonConfigGVR, src.KlusterletAddonConfig))
	}
	for _, a := range src.Addons {
		if findUnstructured(tgt.Addons, a.GetName()) != nil {
			refs = append(refs, RefOf(ManagedClusterAddOnGVR, a))
		}
	}
	for _, s := range src.Secrets {
		if findSecret(tgt.Secrets, s.Name) != nil {
			refs = append(refs, RefOf(SecretGVR, s))
		}
	}
	for _, c := range src.ConfigMaps {
		if findConfigMap(tgt.ConfigMaps, c.Name) != nil {
			refs = append(refs, RefOf(ConfigMapGVR, c))
		}
	}
	return refs
}

// handOver gives the target namespace and the copies to the cluster: the home
// and migration labels and the owner go (the target ManagedCluster keeps
// owner as the record) and the in-flight annotations leave the ManagedCluster.
// It reports whether any write was planned.
func (p *planner) handOver(cf *ClusterFacts) bool {
	planned := false
	release := func(gvr schemaGVR, obj *unstructured.Unstructured, keepOwner bool, dropAnnotations []string) {
		if label(obj, LabelMigrationUID) != string(p.owner.UID) && !(keepOwner && hasAnyAnnotation(obj, dropAnnotations)) {
			return
		}
		del := dropAnnotations
		if !keepOwner {
			del = append(del, AnnOwner)
		}
		out, changed := withMarkers(obj, nil, nil, []string{LabelHome, LabelMigrationUID}, del)
		if changed {
			p.act(Action{Kind: Update, Hub: Target, Cluster: cf.Name, Ref: RefOf(gvr, obj), Object: out, Why: "hand over to the cluster"})
			planned = true
		}
	}
	tgt := cf.Target
	if ns := tgt.Namespace; ns != nil {
		release(NamespaceGVR, toUnstructured(ns, "v1", "Namespace"), false, nil)
	}
	if kac := tgt.Migrated.KlusterletAddonConfig; kac != nil {
		release(KlusterletAddonConfigGVR, kac, false, nil)
	}
	for _, a := range tgt.Migrated.Addons {
		release(ManagedClusterAddOnGVR, a, false, nil)
	}
	for _, s := range tgt.Migrated.Secrets {
		release(SecretGVR, toUnstructured(s, "v1", "Secret"), false, nil)
	}
	for _, c := range tgt.Migrated.ConfigMaps {
		release(ConfigMapGVR, toUnstructured(c, "v1", "ConfigMap"), false, nil)
	}
	release(ManagedClusterGVR, tgt.MC, true, inFlightAnnotations)
	return planned
}

// availableOn: accepted, joined and available on that hub.
func availableOn(mc *unstructured.Unstructured) bool {
	return mc != nil && hubAcceptsClient(mc) && conditionTrue(mc, "ManagedClusterJoined") && conditionTrue(mc, "ManagedClusterConditionAvailable")
}

func hasAnyAnnotation(obj metaObject, keys []string) bool {
	for _, k := range keys {
		if hasAnnotation(obj, k) {
			return true
		}
	}
	return false
}
