package reconcile

// Hand-written replays of the failing sequences the model (model_test.go)
// found, shrunk by rapid and cut to one cluster; each runs the same checks
// as the model. Every gap found so far is closed, and its replay is a plain
// regression test that failed before the fix.

import (
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// mdlReplay is a model world with one cluster for a hand-written sequence.
func mdlReplay(t *testing.T) *mdlMachine {
	return &mdlMachine{w: mdlNewWorld([]mdlClusterSpec{{Name: "c1"}}, mdlPEMs(t), t.Logf), reached: map[Phase]bool{}}
}

// round is the model's "Progress" step: every agent and hub controller once,
// then a reconcile from fresh caches; the invariants after it.
func (m *mdlMachine) round(t mdlFataler) {
	m.normalRound()
	m.reconcile(m.w.currentView(), -1)
	m.record()
	m.check(t)
}

// roundsUntil runs rounds until cond holds (at most 60).
func (m *mdlMachine) roundsUntil(t mdlFataler, what string, cond func() bool) {
	for range 60 {
		if cond() {
			return
		}
		m.round(t)
	}
	t.Fatalf("never %s\n%s", what, m.w.dump())
}

// Gap 1 (closed). Shrunk sequence (TestModelMigration, 2 clusters; c2):
// normal rounds until the commit and its approval → the klusterlet pod
// restarts before it picked up its certificate, and files a new CSR with the
// same CN → a third party denies that CSR. The planner deleted a refused CSR
// only when it was the committed one (planCommitted); this later one stayed
// Denied, the agent waited on it for ever (SPEC: "a denied one is waited on
// forever"), the cluster is committed so it never rolls back, and the
// source no longer accepts it: stuck — committed, unregistered, overdue —
// until someone restarts its klusterlet or deletes the CSR.
func TestModelRegressionLaterCSROfACommittedClusterDenied(t *testing.T) {
	mdlReplayLaterCSRDenied(t, mdlReplay(t))
}

func mdlReplayLaterCSRDenied(t mdlFataler, m *mdlMachine) {
	w := m.w
	m.roundsUntil(t, "committed and approved", func() bool {
		if !hasAnnotation(w.mc(mdlSource, "c1"), AnnCommitted) {
			return false
		}
		u := w.hubs[mdlTarget].get("certificatesigningrequests", "", w.agent("c1").CSR)
		return u != nil && !csrPending(mdlTyped[certificatesv1.CertificateSigningRequest](u))
	})
	w.restart("c1") // before it used its certificate: a new CSR, same CN
	m.check(t)
	csr := w.pendingCSR("c1")
	if csr == nil {
		t.Fatalf("the restarted agent filed no CSR\n%s", w.dump())
	}
	w.rogueDenied["c1"] = true
	w.decideCSR(csr, certificatesv1.CertificateDenied, "Rogue")
	m.round(t) // the planner must free the agent (delete the refused CSR)
	m.drain(t, 20*time.Second, true)
}

// Gap 2 (closed). Shrunk sequence (TestModelMigration, 2 clusters; c2):
// normal rounds until the Registering write → the agent files its CSR on
// the target → a third party approves it before hubmigrate commits (say, a
// hub admin running `clusteradm accept`) → the agent joins the target, whose
// import controller re-renders the klusterlet with the target's own
// bootstrap credential, and the work agent applies it → no pending CSR ever
// passes the checks, so at the Registering deadline the cluster is rolled
// back: the target copy is unaccepted, and the agent — registered there,
// with no bootstrap kubeconfig for the source any more — has no valid hub
// left (it crash-loops); the restored source cannot be reached by it. SPEC
// handles a *late* approval (after the rollback decision, by unaccepting the
// target first) but did not say what an *early* one means. Now an approved
// CSR that passes every check, filed after the Registering write, is
// committed like a pending one (passingCSRs): the cluster goes on to
// Cleaning on the target.
func TestModelRegressionThirdPartyApprovalBeforeTheCommit(t *testing.T) {
	mdlReplayApprovedBeforeTheCommit(t, mdlReplay(t))
}

func mdlReplayApprovedBeforeTheCommit(t mdlFataler, m *mdlMachine) {
	w := m.w
	m.roundsUntil(t, "in Registering", func() bool {
		return hasAnnotation(w.mc(mdlSource, "c1"), AnnOriginalHubAcceptsClient)
	})
	w.agentTick("c1") // leaves the unaccepted source, files its CSR on the target
	csr := w.pendingCSR("c1")
	if csr == nil {
		t.Fatalf("no CSR filed\n%s", w.dump())
	}
	w.rogueApproved["c1"] = true
	w.decideCSR(csr, certificatesv1.CertificateApproved, "Rogue")
	for range 5 {
		m.round(t) // joins the target; the target's import controller re-points it
	}
	w.now = w.now.Add(12*time.Minute + time.Second) // past the Registering deadline
	for range 5 {
		m.round(t)
	}
	m.drain(t, 20*time.Second, true) // committed despite the deadline, then Completed
}

// Gap 2, second form (found by the model after gap 2's fix, closed): the
// third party's approval, the agent's join and the target import
// controller's re-rendering of the klusterlet work all happen before
// hubmigrate looks again. The commit then read the work's resourceVersion
// as its baseline, and "registered" waited for a work that never changes
// again: committed, never registered, for ever. A commit of an approved CSR
// takes no work baseline (the lease's renewal since the commit still proves
// the agent).
func TestModelRegressionApprovedAndJoinedBeforeTheCommit(t *testing.T) {
	m := mdlReplay(t)
	w := m.w
	m.roundsUntil(t, "in Registering", func() bool {
		return hasAnnotation(w.mc(mdlSource, "c1"), AnnOriginalHubAcceptsClient)
	})
	w.agentTick("c1")
	csr := w.pendingCSR("c1")
	if csr == nil {
		t.Fatalf("no CSR filed\n%s", w.dump())
	}
	w.rogueApproved["c1"] = true
	w.decideCSR(csr, certificatesv1.CertificateApproved, "Rogue")
	for range 6 {
		m.normalRound() // the agents and hub controllers only: hubmigrate is away
	}
	m.drain(t, 20*time.Second, true)
}

// Gap 3 (closed). Shrunk sequence (TestModelMigration, 3 clusters; c3):
// normal rounds until the commit → an admin sets hubAcceptsClient=true on
// the source again → the klusterlet pod restarts before the approval
// reached it, and its matched current hub (the source) is valid again, so
// it rejoins the source with its old certificate → hubmigrate approves the
// committed CSR, which nobody uses. planRegistering unaccepts a source that
// was accepted again ("keep the source unaccepted while Registering"), but
// planCommitted did not: the cluster stayed committed on an accepted source,
// never registered on the target and could never roll back — nothing was
// planned any more (the drain ended with "no progress", plan []).
func TestModelRegressionSourceAcceptedAgainAfterTheCommit(t *testing.T) {
	mdlReplaySourceAcceptedAfterTheCommit(t, mdlReplay(t))
}

func mdlReplaySourceAcceptedAfterTheCommit(t mdlFataler, m *mdlMachine) {
	w := m.w
	m.roundsUntil(t, "committed", func() bool { return hasAnnotation(w.mc(mdlSource, "c1"), AnnCommitted) })
	src := w.mc(mdlSource, "c1").DeepCopy()
	_ = unstructured.SetNestedField(src.Object, true, "spec", "hubAcceptsClient")
	if _, err := w.update(mdlSource, "managedclusters", src); err != nil {
		t.Fatalf("%v", err)
	}
	w.rogueAccepted["c1"] = true
	w.restart("c1") // back to the source, accepted again, with its old certificate
	m.check(t)
	m.drain(t, 20*time.Second, true)
}
