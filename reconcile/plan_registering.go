package reconcile

//hubmigrate:pure

import (
	"sort"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// planRegistering waits for the agent's CSR on the target and commits the
// one that passes every check: the commit marker goes on the source
// ManagedCluster (resourceVersion-guarded) before the approval.
func (p *planner) planRegistering(cf *ClusterFacts) {
	src, tgt := cf.Source.MC, cf.Target.MC
	if p.moveLabel(Source, cf.Name, src, Registering) {
		p.outcome(cf.Name, Registering, "")
		return
	}
	p.mirrorLabel(cf, Registering)
	p.alignCopies(cf)
	if hubAcceptsClient(src) {
		// Someone accepted the source again after the Registering write.
		obj, _ := withMarkers(src, nil, nil, nil, nil)
		_ = unstructured.SetNestedField(obj.Object, false, "spec", "hubAcceptsClient")
		p.act(Action{Kind: Update, Hub: Source, Cluster: cf.Name, Ref: RefOf(ManagedClusterGVR, src), Object: obj, Why: "keep the source unaccepted while Registering"})
		p.outcome(cf.Name, Registering, "")
		return
	}
	if tgt == nil || !hubAcceptsClient(tgt) {
		p.waitOrRollBack(cf, "the target copy is not accepted")
		return
	}
	cred, ok := p.credential(cf)
	if !ok {
		p.waitOrRollBack(cf, "the migration's bootstrap identity is not known")
		return
	}
	passing := passingCSRs(cf.Target.CSRs, cred, csrsNotBefore(src))
	cns := map[string]bool{}
	for _, csr := range passing {
		cns[csrCommonName(csr)] = true
	}
	switch {
	case len(cns) > 1 && (p.f.Migration.Deleting || p.expired(since(annotation(src, AnnPhaseSince)), Registering)):
		// Nothing can be committed: the timeout rolls it back.
		p.decideRollback(cf, Registering, "RegisteringTimeout")
	case len(cns) > 1:
		p.outcomeFailed(cf.Name, Registering, "AmbiguousRegistration", "more than one CN for the cluster passes the checks: approving none")
	case len(passing) == 1 || len(cns) == 1:
		csr := passing[0]
		why := "commit: a CSR passes every check"
		if !csrPending(csr) {
			why = "commit: a CSR that passes every check was approved by someone else"
		}
		obj, _ := withMarkers(src, nil, map[string]string{AnnCommitted: csr.Name + "/" + string(csr.UID), AnnCommitCN: csrCommonName(csr)}, nil, nil)
		p.act(Action{Kind: Commit, Hub: Source, Cluster: cf.Name, Ref: RefOf(CSRGVR, csr), Object: obj, Why: why, Event: "ClusterCommitted"})
		p.outcome(cf.Name, Registering, "")
	case p.f.Migration.Deleting:
		p.decideRollback(cf, Registering, "MigrationDeleted")
	case p.expired(since(annotation(src, AnnPhaseSince)), Registering):
		// No CSR passes the checks (else it would be committed: commit
		// takes precedence over rollback).
		p.decideRollback(cf, Registering, "RegisteringTimeout")
	default:
		p.outcome(cf.Name, Registering, "waiting for the agent's CSR on the target")
	}
}

// commitPending: the cluster waits in Registering with exactly one CN
// passing every check (pending, or approved by someone else) — it is committed next, whatever else happens.
func (p *planner) commitPending(cf *ClusterFacts) bool {
	src := cf.Source.MC
	if !hasAnnotation(src, AnnOriginalHubAcceptsClient) || hasAnnotation(src, AnnCommitted) {
		return false
	}
	cred, ok := p.credential(cf)
	if !ok {
		return false
	}
	cns := map[string]bool{}
	for _, csr := range passingCSRs(cf.Target.CSRs, cred, csrsNotBefore(src)) {
		cns[csrCommonName(csr)] = true
	}
	return len(cns) == 1
}

// csrsNotBefore is the target's time at the Registering write, less a
// second of slack for API server replicas' clocks (zero: not recorded, as
// by a version that did not record it — nothing is filtered).
func csrsNotBefore(src metaObject) time.Time {
	t, err := time.Parse(time.RFC3339, annotation(src, AnnCSRsNotBefore))
	if err != nil {
		return time.Time{}
	}
	return t.Add(-time.Second)
}

// passingCSRs are the CSRs that pass every check, were created at or after
// notBefore and are not refused: pending, or approved by someone else before
// the commit (say, a hub admin running `clusteradm accept`). An approved one
// is committed all the same: its agent holds a certificate of the target and
// is on its way there, so rolling the cluster back would strand it (model
// gap 2, model_regressions_test.go). Approved ones come first, then the
// oldest.
func passingCSRs(csrs []*certificatesv1.CertificateSigningRequest, cred registrationCredential, notBefore time.Time) []*certificatesv1.CertificateSigningRequest {
	var out []*certificatesv1.CertificateSigningRequest
	for _, csr := range csrs {
		if csr.CreationTimestamp.Time.Before(notBefore) {
			continue
		}
		if !csrRefused(csr) && checkRegistrationCSR(csr, cred) == nil {
			out = append(out, csr)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if ai, aj := !csrPending(out[i]), !csrPending(out[j]); ai != aj {
			return ai
		}
		ti, tj := out[i].CreationTimestamp, out[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return out[i].Name < out[j].Name // names are unique: `<=` is an equivalent mutant
	})
	return out
}

// credential is what the cluster's CSRs must have been filed with.
func (p *planner) credential(cf *ClusterFacts) (registrationCredential, bool) {
	sa := p.f.ServiceAccount
	if sa == nil || cf.Source.BootstrapSecret == nil {
		return registrationCredential{}, false
	}
	token, err := bootstrapToken(cf.Source.BootstrapSecret)
	if err != nil {
		return registrationCredential{}, false
	}
	claims, err := parseTokenClaims(token)
	if err != nil {
		return registrationCredential{}, false
	}
	return registrationCredential{
		Cluster:  cf.Name,
		Username: "system:serviceaccount:" + sa.Namespace + ":" + sa.Name,
		UID:      sa.UID,
		JTI:      claims.JTI,
	}, true
}

// planCommitted approves the committed CSR (and later ones of the same CN,
// from an agent that restarted before using its certificate), deletes a
// committed CSR someone else refused (the agent files a new one at once),
// and starts Cleaning once the cluster is registered on the target.
func (p *planner) planCommitted(cf *ClusterFacts) {
	src := cf.Source.MC
	if p.moveLabel(Source, cf.Name, src, Registering) {
		p.outcome(cf.Name, Registering, "")
		return
	}
	p.mirrorLabel(cf, Registering)
	p.alignCopies(cf)
	if hubAcceptsClient(src) {
		// Someone accepted the source again after the commit: the agent
		// would stay there after a restart, and the cluster never register
		// on the target (found by the model, model_regressions_test.go).
		obj, _ := withMarkers(src, nil, nil, nil, nil)
		_ = unstructured.SetNestedField(obj.Object, false, "spec", "hubAcceptsClient")
		p.act(Action{Kind: Update, Hub: Source, Cluster: cf.Name, Ref: RefOf(ManagedClusterGVR, src), Object: obj, Why: "keep the committed cluster's source unaccepted"})
		p.outcome(cf.Name, Registering, "")
		return
	}
	committedName, committedUID, _ := strings.Cut(annotation(src, AnnCommitted), "/")
	cred, credOK := p.credential(cf)
	// The commit records the CN; a commit written before it did is read
	// from the committed CSR while the cache still holds it.
	cn := annotation(src, AnnCommitCN)
	for _, csr := range cf.Target.CSRs {
		if cn == "" && csr.Name == committedName && csr.UID == types.UID(committedUID) {
			cn = csrCommonName(csr)
		}
	}
	for _, csr := range cf.Target.CSRs {
		committed := csr.Name == committedName && csr.UID == types.UID(committedUID)
		sameAgent := cn != "" && csrCommonName(csr) == cn && credOK && checkRegistrationCSR(csr, cred) == nil
		switch {
		case (committed || sameAgent) && csrRefused(csr):
			// Refused by someone else: the agent waits on a denied CSR for
			// ever; deleted, it files a new one at once.
			p.act(Action{Kind: Delete, Hub: Target, Cluster: cf.Name, Ref: RefOf(CSRGVR, csr), Why: "a CSR of the committed agent was refused by someone else; the agent files a new one"})
		case !csrPending(csr) || !credOK || checkRegistrationCSR(csr, cred) != nil:
		case committed || (cn != "" && csrCommonName(csr) == cn):
			p.act(Action{Kind: Approve, Hub: Target, Cluster: cf.Name, Ref: RefOf(CSRGVR, csr), Why: "approve the committed registration"})
		}
	}
	if !p.registered(cf) {
		p.outcome(cf.Name, Registering, "waiting for the cluster to register on the target")
		return
	}
	tgt := cf.Target.MC
	obj, _ := withMarkers(tgt, map[string]string{LabelPhase: string(Cleaning)},
		map[string]string{AnnCommitted: annotation(src, AnnCommitted), AnnOwner: p.owner.String(), AnnPhaseSince: p.now()}, nil, nil)
	p.act(Action{Kind: Update, Hub: Target, Cluster: cf.Name, Ref: RefOf(ManagedClusterGVR, tgt), Object: obj, Why: "Cleaning: the target speaks for the cluster from now on"})
	p.outcome(cf.Name, Registering, "")
}

// registered: the agent is connected to the target and re-pointed at the
// target's own credential — the lease renewed since the commit by the agent
// and the target's klusterlet work replaced since the commit and applied.
func (p *planner) registered(cf *ClusterFacts) bool {
	src, tgt := cf.Source.MC, cf.Target.MC
	if tgt == nil || !conditionTrue(tgt, "HubAcceptedManagedCluster") || !conditionTrue(tgt, "ManagedClusterJoined") ||
		!conditionTrue(tgt, "ManagedClusterConditionAvailable") {
		return false
	}
	lease, work := cf.Target.Lease, cf.Target.KlusterletWork
	if lease == nil || lease.ResourceVersion == annotation(src, AnnCommitLeaseRV) {
		return false
	}
	return work != nil && work.GetResourceVersion() != annotation(src, AnnCommitWorkRV) && workApplied(work)
}

// waitOrRollBack waits in Registering until the deadline (or the migration's
// deletion), then decides the rollback: nothing can be committed meanwhile.
func (p *planner) waitOrRollBack(cf *ClusterFacts, why string) {
	if p.f.Migration.Deleting {
		p.decideRollback(cf, Registering, "MigrationDeleted")
		return
	}
	if p.expired(since(annotation(cf.Source.MC, AnnPhaseSince)), Registering) {
		p.decideRollback(cf, Registering, "RegisteringTimeout")
		return
	}
	p.outcome(cf.Name, Registering, why)
}
