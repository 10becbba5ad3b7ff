package reconcile

// Hand-written replays of the failing sequences the model (model_test.go)
// found, shrunk by rapid and cut to one cluster; each runs the same checks
// as the model. Gaps 1 and 3 are closed (planCommitted) and their replays
// are plain regression tests. Gap 2 is open: its test is skipped with the
// gap ("product gap, still present") while its replay fails, so the suite
// stays green, and the model keeps its faults away from it to look for
// others; once it is closed the test passes (drop mdlExpectGap then) and the
// model walks into that region again. HUBMIGRATE_MODEL_GAPS=1 runs the
// replay as a plain test; -model.knowngaps=false makes the model walk into
// the open gap again.

import (
	"fmt"
	"os"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// mdlGap is one product gap the model found, with its replay.
type mdlGap struct {
	what   string
	replay func(t mdlFataler, m *mdlMachine)
}

// mdlGaps are the open ones.
var mdlGaps = map[int]mdlGap{
	2: {"a CSR approved by a third party before the commit registers the agent on the target, yet the cluster is rolled back at the Registering deadline and the rollback's unaccept of the target strands the re-pointed klusterlet (no valid bootstrap kubeconfig left)", mdlReplayApprovedBeforeTheCommit},
}

// mdlFatal is how a replay run by mdlRunGap fails.
type mdlFatal struct{ msg string }

type mdlRecorder struct{}

func (mdlRecorder) Fatalf(format string, args ...any) { panic(mdlFatal{fmt.Sprintf(format, args...)}) }

// mdlRunGap runs gap n's replay and returns its failure ("" if it passes).
func mdlRunGap(n int, pems map[string][]byte, log func(string, ...any)) (failure string) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(mdlFatal)
			if !ok {
				panic(r)
			}
			failure = f.msg
		}
	}()
	m := &mdlMachine{w: mdlNewWorld([]mdlClusterSpec{{Name: "c1"}}, pems, log), reached: map[Phase]bool{}}
	mdlGaps[n].replay(mdlRecorder{}, m)
	return ""
}

// mdlOpenGaps says which gaps are still there (their replays fail), so that
// the model keeps away from them (unless -model.knowngaps=false).
func mdlOpenGaps(t *testing.T, pems map[string][]byte) map[int]bool {
	open := map[int]bool{}
	if !mdlKnownGaps {
		return open
	}
	for n := range mdlGaps {
		if mdlRunGap(n, pems, nil) != "" {
			open[n] = true
		}
	}
	t.Logf("product gaps still present, avoided by the model: %v", open)
	return open
}

// mdlExpectGap runs gap n's replay as a test: skipped while the gap is
// still there, passing once it is closed.
func mdlExpectGap(t *testing.T, n int) {
	pems := mdlPEMs(t)
	if os.Getenv("HUBMIGRATE_MODEL_GAPS") != "" {
		m := &mdlMachine{w: mdlNewWorld([]mdlClusterSpec{{Name: "c1"}}, pems, t.Logf), reached: map[Phase]bool{}}
		mdlGaps[n].replay(t, m)
		return
	}
	if failure := mdlRunGap(n, pems, nil); failure != "" {
		t.Skipf("product gap, still present: %s\n(the replay fails with: %s)", mdlGaps[n].what, firstLine(failure))
	}
	t.Logf("gap %d is closed: drop mdlExpectGap and make this a plain regression test", n)
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}

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

// Gap 2 (open). Shrunk sequence (TestModelMigration, 2 clusters; c2):
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
// target first) but not this one: an approved CSR that passes every check,
// filed after the Registering write, does not count as registration.
func TestModelRegressionThirdPartyApprovalBeforeTheCommit(t *testing.T) { mdlExpectGap(t, 2) }

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
	m.drain(t, 20*time.Second, false)
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
