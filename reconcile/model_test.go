package reconcile

// A model-checked planner (issue 14, item 4): a rapid state machine drives
// the real pure planner (PlanMigration) over the in-memory model of two hubs
// in model_world_test.go. A step is one of:
//   - a reconcile: observe, plan, and perform every action in order the way
//     controller.perform does (an action that fails ends its cluster's turn,
//     one on the migration ends every cluster's), from fresh caches or from
//     stale ones (each informer of each hub, and the migration's, lagging
//     0–6 steps on its own), or cut short after its k-th write (a crash; a
//     lost reply is the same: nothing is kept, the write happened);
//   - what the klusterlets and the hubs' controllers do by themselves
//     (model_world_test.go: agent, work agent, import controllers, hub
//     registration controller and finalizers, addon controller);
//   - a fault: the clock passing or jumping past the next deadline, a
//     klusterlet pod restart, a third party approving, denying or deleting
//     a CSR, an admin accepting the source again, the migration deleted.
//
// SPEC's invariants are checked after every step (mdlMachine.check); at the
// end of each sequence the faults stop and the world runs until the
// migration is over, which it must be within 300 rounds (mdlMachine.drain),
// with every klusterlet where its outcome says (after one pod restart at
// most). TestModelNoFaults has no faults but crashes and stale caches, and
// a standing clock: every cluster must complete.
//
// rapid runs 100 sequences per test (about 150 steps each here); more, or
// longer ones:
//
//	go test -race ./reconcile/ -run TestModel -rapid.checks=2000 -rapid.steps=300
//
// A failing sequence is shrunk by rapid and printed step by step (the log
// lines of each step and write); -rapid.seed=N replays one. The failing
// sequences found so far are replayed by hand in model_regressions_test.go.
//
// Not modelled (yet): Placements, RBAC denials (Facts.Denied), hubs that
// cannot be seen, token expiry, clock skew between hubs and controller,
// status writes and Events, a second migration (takeover of records), an
// agent with another CN (AmbiguousRegistration), the hub connection
// timeout's switch, edits of the migrated resources on the source.

import (
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"pgregory.net/rapid"
)

// mdlDefaultSteps is the average length of a sequence unless -rapid.steps
// or RAPID_STEPS says otherwise (rapid's own default, 30, rarely gets a
// migration past Registering before the faults stop).
const mdlDefaultSteps = "150"

func mdlSetDefaultSteps() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.steps" })
	if _, env := os.LookupEnv("RAPID_STEPS"); !set && !env {
		_ = flag.Set("rapid.steps", mdlDefaultSteps)
	}
}

// mdlPEMs are the agents' CSR requests, one per cluster name: made once
// (a key per request) with csr_test.go's agentCSR.
func mdlPEMs(t *testing.T) map[string][]byte {
	out := map[string][]byte{}
	for _, c := range []string{"c1", "c2", "c3"} {
		csr := agentCSR(t, func(r *x509.CertificateRequest, _ *certificatesv1.CertificateSigningRequest) {
			r.Subject.CommonName = "system:open-cluster-management:" + c + ":agent-" + c
			r.Subject.Organization = []string{clusterGroup(c), managedClustersGroup}
		})
		out[c] = csr.Spec.Request
	}
	return out
}

// mdlFataler is *rapid.T or *testing.T: the checks run in the rapid test and
// in the hand-written replays of model_regressions_test.go.
type mdlFataler interface {
	Fatalf(format string, args ...any)
}

// mdlMachine is one sequence: the world, the recent past (for stale
// caches), and which kinds of steps it may take.
type mdlMachine struct {
	w       *mdlWorld
	history []mdlSnapshot
	faults  bool
	step    int
	// reached are the phases the clusters were seen in before the drain.
	reached  map[Phase]bool
	draining bool
	// converged is the last plan made from fresh caches when every cluster
	// was terminal in it and it had no action (for check).
	converged *Plan
}

// mdlStats sums up what the sequences of a test went through, for its log:
// a model that never reaches Cleaning proves little.
type mdlStats struct {
	sequences, steps int
	reached          map[Phase]int
	outcomes         map[string]int
}

func (s *mdlStats) add(m *mdlMachine) {
	s.sequences++
	s.steps += m.step
	for ph := range m.reached {
		s.reached[ph]++
	}
	if m.w.mig != nil {
		for _, o := range outcomesOf(m.w.mig.GetAnnotations()[AnnResults]) {
			s.outcomes[string(o.Phase)+":"+o.Reason]++
		}
	} else {
		s.outcomes["(migration deleted)"]++
	}
}

func (s *mdlStats) String() string {
	if s.sequences == 0 {
		return "no sequence"
	}
	var reached []string
	for _, ph := range []Phase{Initializing, Deploying, Registering, "Registering(committed)", Cleaning, Completed, Rollbacking, Failed} {
		reached = append(reached, fmt.Sprintf("%s %d", ph, s.reached[ph]))
	}
	var outcomes []string
	for k, v := range s.outcomes {
		outcomes = append(outcomes, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(outcomes)
	return fmt.Sprintf("%d sequences (shrinking included), %.0f steps on average before the drain; sequences where a cluster was seen in: %s; outcomes: %s",
		s.sequences, float64(s.steps)/float64(s.sequences), strings.Join(reached, ", "), strings.Join(outcomes, ", "))
}

const mdlHistory = 6

func mdlNewMachine(t *rapid.T, pems map[string][]byte, faults bool) *mdlMachine {
	n := rapid.IntRange(2, 3).Draw(t, "clusters")
	var specs []mdlClusterSpec
	for i := range n {
		c := fmt.Sprintf("c%d", i+1)
		specs = append(specs, mdlClusterSpec{
			Name:      c,
			Singleton: rapid.Bool().Draw(t, c+"-singleton"),
			KAC:       rapid.Bool().Draw(t, c+"-kac"),
			Preserved: rapid.Bool().Draw(t, c+"-preserved"),
			OrigKC:    rapid.Bool().Draw(t, c+"-origkc"),
		})
		if faults && specs[i].Preserved {
			// rapid favours small values: one in ten or so.
			specs[i].Collision = rapid.IntRange(0, 9).Draw(t, c+"-collision") == 5
		}
	}
	m := &mdlMachine{w: mdlNewWorld(specs, pems, t.Logf), faults: faults, reached: map[Phase]bool{}}
	m.w.noBootstrapRole = rapid.Bool().Draw(t, "target-without-bootstrap-clusterrole")
	m.w.logf("clusters: %+v", specs)
	return m
}

func (m *mdlMachine) cluster(t *rapid.T) string {
	return m.w.clusters[rapid.IntRange(0, len(m.w.clusters)-1).Draw(t, "cluster")].Name
}

func (m *mdlMachine) record() {
	m.history = append(m.history, m.w.snapshot())
	if len(m.history) > mdlHistory {
		m.history = m.history[1:]
	}
	m.step++
}

// reconcile is one sync of the controller: observe (from view), plan,
// perform (at most limit actions; < 0: all), and, as controller.sync does,
// plan once more for a cluster whose create met an object not ours.
func (m *mdlMachine) reconcile(view mdlView, limit int) Plan {
	w := m.w
	f := w.facts(view)
	if f == nil {
		w.logf("  the migration is gone: nothing to do")
		return Plan{}
	}
	p := PlanMigration(f)
	w.waiting = p.Waiting
	if view.fresh && len(p.Actions) == 0 && mdlAllTerminal(p) {
		m.converged = &p
	}
	_, collision := w.perform(f, p, limit)
	if collision != nil && limit < 0 {
		f.Collisions = map[string]string{collision.Cluster: collision.Ref.String()}
		p = PlanMigration(f)
		w.perform(f, p.only(collision.Cluster), -1)
	}
	return p
}

func (m *mdlMachine) freshPlan() (*Facts, Plan) {
	f := m.w.facts(m.w.currentView())
	if f == nil {
		return nil, Plan{}
	}
	return f, PlanMigration(f)
}

// staleView: each informer of each hub (and the migration's) holds the
// world as it was some steps ago (0: now), drawn independently.
func (m *mdlMachine) staleView(t *rapid.T) mdlView {
	w := m.w
	pick := func(hub int) func(string) mdlStore {
		ages := map[string]int{}
		for _, r := range mdlCachedResources {
			ages[r] = rapid.IntRange(0, len(m.history)).Draw(t, mdlHubNames[hub]+"-"+r+"-age")
		}
		return func(r string) mdlStore {
			if a := ages[r]; a > 0 {
				return m.history[len(m.history)-a].hubs[hub]
			}
			return w.hubs[hub]
		}
	}
	v := mdlView{hubs: [2]func(string) mdlStore{pick(mdlSource), pick(mdlTarget)}, mig: w.mig}
	if a := rapid.IntRange(0, len(m.history)).Draw(t, "migration-age"); a > 0 && w.mig != nil && m.history[len(m.history)-a].mig != nil {
		v.mig = m.history[len(m.history)-a].mig
	}
	return v
}

// normalRound is every agent and hub controller doing what it does by
// itself once, in a fixed order.
func (m *mdlMachine) normalRound() {
	w := m.w
	for _, cs := range w.clusters {
		c := cs.Name
		w.hubTick(mdlSource, c)
		w.hubTick(mdlTarget, c)
		w.sourceImport(c)
		w.targetImport(c)
		w.addonController(c)
		w.workAgent(c)
		w.agentTick(c)
	}
	w.hubFinalize(mdlSource)
	w.hubFinalize(mdlTarget)
}

// warmUp runs a drawn number of normal rounds first, so that faults also
// meet clusters deep in Registering or Cleaning.
func (m *mdlMachine) warmUp(t *rapid.T) {
	n := rapid.IntRange(0, 30).Draw(t, "warm-up rounds")
	for range n {
		m.w.logf("warm-up round %d", m.step)
		m.normalRound()
		m.reconcile(m.w.currentView(), -1)
		m.record()
		m.check(t)
	}
}

// actions are the steps of a sequence.
func (m *mdlMachine) actions() map[string]func(*rapid.T) {
	w := m.w
	// A behaviour with nothing to do is a no-op step (a rapid Skip would
	// count as a rejection, and too many of them end a sequence early).
	skipUnless := func(t *rapid.T, acted bool) {
		if !acted {
			w.logf("  nothing to do")
		}
	}
	// rare makes a step a no-op but about once in n (rapid favours small
	// values and the bounds, so the one that acts is in the middle; the
	// shrinker, going to 0, turns the step into a no-op).
	rare := func(t *rapid.T, n int) bool { return rapid.IntRange(0, n-1).Draw(t, "rare") == n/2 }
	act := map[string]func(*rapid.T){
		"Reconcile": func(t *rapid.T) {
			w.logf("step %d: reconcile", m.step)
			m.reconcile(w.currentView(), -1)
		},
		"ReconcileStale": func(t *rapid.T) {
			v := m.staleView(t)
			w.logf("step %d: reconcile from stale caches", m.step)
			m.reconcile(v, -1)
		},
		"ReconcileCrash": func(t *rapid.T) {
			// A crash between two writes, or after a write whose reply was
			// lost: nothing is kept, so both are "the first k writes happened".
			f, p := m.freshPlan()
			if f == nil || len(p.Actions) == 0 {
				w.logf("step %d: reconcile: nothing planned", m.step)
				return
			}
			k := rapid.IntRange(1, len(p.Actions)).Draw(t, "writes-before-crash")
			w.logf("step %d: reconcile, crash after %d of %d writes", m.step, k, len(p.Actions))
			w.perform(f, p, k)
			w.waiting = nil
		},
		"Progress": func(t *rapid.T) {
			w.logf("step %d: every agent and hub controller, then a reconcile", m.step)
			m.normalRound()
			m.reconcile(w.currentView(), -1)
		},
		"Agent": func(t *rapid.T) {
			c := m.cluster(t)
			w.logf("step %d: agent %s", m.step, c)
			skipUnless(t, w.agentTick(c))
		},
		"WorkAgent": func(t *rapid.T) {
			c := m.cluster(t)
			w.logf("step %d: work agent %s", m.step, c)
			skipUnless(t, w.workAgent(c))
		},
		"SourceImport": func(t *rapid.T) {
			c := m.cluster(t)
			w.logf("step %d: source import controller %s", m.step, c)
			skipUnless(t, w.sourceImport(c))
		},
		"TargetImport": func(t *rapid.T) {
			c := m.cluster(t)
			w.logf("step %d: target import controller %s", m.step, c)
			skipUnless(t, w.targetImport(c))
		},
		"AddonController": func(t *rapid.T) {
			c := m.cluster(t)
			w.logf("step %d: target addon controller %s", m.step, c)
			skipUnless(t, w.addonController(c))
		},
		"HubTick": func(t *rapid.T) {
			hub := rapid.IntRange(0, 1).Draw(t, "hub")
			c := m.cluster(t)
			w.logf("step %d: %s registration controller %s", m.step, mdlHubNames[hub], c)
			skipUnless(t, w.hubTick(hub, c))
		},
		"HubFinalize": func(t *rapid.T) {
			hub := rapid.IntRange(0, 1).Draw(t, "hub")
			w.logf("step %d: %s finalizers", m.step, mdlHubNames[hub])
			skipUnless(t, w.hubFinalize(hub))
		},
	}
	// Weights: rapid picks a step uniformly among the keys.
	for _, k := range []string{"Reconcile", "ReconcileStale", "ReconcileCrash"} {
		act[k+"·2"] = act[k]
	}
	for i := 2; i <= 4; i++ {
		act[fmt.Sprintf("Progress·%d", i)] = act["Progress"]
	}
	if !m.faults {
		return act
	}
	act["ClockTick"] = func(t *rapid.T) {
		d := time.Duration(rapid.IntRange(1, 30).Draw(t, "seconds")) * time.Second
		w.now = w.now.Add(d)
		w.logf("step %d: %s pass (now %s)", m.step, d, w.now.Format(time.TimeOnly))
	}
	act["ClockJump"] = func(t *rapid.T) {
		if !rare(t, 2) {
			return
		}
		_, p := m.freshPlan()
		d := 12*time.Minute + time.Second
		if p.Requeue > 0 && rapid.Bool().Draw(t, "to-next-deadline") {
			d = p.Requeue
		}
		w.now = w.now.Add(d)
		w.logf("step %d: the clock jumps %s (now %s)", m.step, d, w.now.Format(time.TimeOnly))
	}
	act["AgentRestart"] = func(t *rapid.T) {
		c := m.cluster(t)
		w.logf("step %d: klusterlet pod of %s restarts", m.step, c)
		w.restart(c)
	}
	act["RogueApprove"] = func(t *rapid.T) {
		c := m.cluster(t)
		csr := w.pendingCSR(c)
		if csr == nil || !rare(t, 2) {
			return
		}
		w.logf("step %d: a third party approves %s", m.step, csr.Name)
		w.rogueApproved[c] = true
		w.decideCSR(csr, certificatesv1.CertificateApproved, "Rogue")
	}
	act["RogueDeny"] = func(t *rapid.T) {
		c := m.cluster(t)
		csr := w.pendingCSR(c)
		if csr == nil || !rare(t, 2) {
			return
		}
		w.logf("step %d: a third party denies %s", m.step, csr.Name)
		w.rogueDenied[c] = true
		w.decideCSR(csr, certificatesv1.CertificateDenied, "Rogue")
	}
	act["CSRDeleted"] = func(t *rapid.T) {
		// Someone (a CSR cleaner, an admin) deletes one of the cluster's CSRs.
		c := m.cluster(t)
		var names []string
		for _, u := range w.hubs[mdlTarget].list("certificatesigningrequests", "*") {
			if u.GetLabels()[LabelClusterName] == c {
				names = append(names, u.GetName())
			}
		}
		if len(names) == 0 || !rare(t, 2) {
			return
		}
		name := names[rapid.IntRange(0, len(names)-1).Draw(t, "csr")]
		w.logf("step %d: a third party deletes CSR %s", m.step, name)
		_ = w.remove(mdlTarget, "certificatesigningrequests", "", name, "")
	}
	act["SourceAcceptedAgain"] = func(t *rapid.T) {
		// An admin sets hubAcceptsClient=true on the source while the
		// cluster is in flight (SPEC: hubmigrate unaccepts it again).
		c := m.cluster(t)
		src := w.mc(mdlSource, c)
		if src == nil || hubAcceptsClient(src) || mdlTerminating(src) || !rare(t, 4) {
			return
		}
		w.logf("step %d: an admin accepts %s on the source again", m.step, c)
		w.rogueAccepted[c] = true
		out := src.DeepCopy()
		_ = unstructured.SetNestedField(out.Object, true, "spec", "hubAcceptsClient")
		if _, err := w.update(mdlSource, "managedclusters", out); err != nil {
			t.Fatalf("%v", err)
		}
	}
	act["DeleteMigration"] = func(t *rapid.T) {
		if w.mig == nil || w.mig.GetDeletionTimestamp() != nil || !rare(t, 25) {
			return
		}
		w.logf("step %d: the migration is deleted", m.step)
		out := w.mig.DeepCopy()
		ts := metav1.NewTime(w.now)
		out.SetDeletionTimestamp(&ts)
		out.SetResourceVersion(w.nextRV())
		w.mig = out
	}
	return act
}

// --- the invariants ---------------------------------------------------------

// sourceWillAccept: the source ManagedCluster accepts the agent, or will
// once the rollback it is headed for restores it (ours, not committed,
// unaccepted by the Registering write).
func (w *mdlWorld) sourceWillAccept(c string) bool {
	src := w.mc(mdlSource, c)
	if src == nil || mdlTerminating(src) {
		return false
	}
	return hubAcceptsClient(src) || (annotation(src, AnnOwner) == testOwner.String() && !hasAnnotation(src, AnnCommitted) &&
		annotation(src, AnnOriginalHubAcceptsClient) == "true")
}

func mdlHasBoot(boots []mdlBoot, hub int) bool {
	for _, b := range boots {
		if b.Hub == hub {
			return true
		}
	}
	return false
}

// lostReason says why the cluster is lost ("" when it is not): its agent is
// not where a hub accepts it and has no way to get there by itself — except
// the bootstrap trap SPEC accepts: waiting on the target while the source
// still holds its ManagedCluster and accepts it (or will, after the
// rollback's restore), a pod restart away.
func (w *mdlWorld) lostReason(c string) string {
	a := w.agent(c)
	okOn := func(h int) bool { mc := w.mc(h, c); return mdlAccepted(mc) && !mdlTerminating(mc) }
	escape := w.sourceWillAccept(c) && mdlHasBoot(a.Boots, mdlSource)
	switch a.State {
	case agJoined:
		if okOn(a.Hub) {
			return ""
		}
		// It re-selects at once: where to?
		ch := w.choose(c)
		switch {
		case ch.none && escape:
			return ""
		case ch.none:
			return "it left the " + mdlHubNames[a.Hub] + " and no bootstrap kubeconfig is valid"
		case ch.boot.Hub == a.CertHub && okOn(ch.boot.Hub), ch.boot.JTI == "" && okOn(ch.boot.Hub):
			return ""
		case ch.boot.JTI == "":
			return "it goes back to the " + mdlHubNames[ch.boot.Hub] + ", which has no ManagedCluster for it"
		case okOn(mdlTarget) || escape:
			return "" // files a CSR on the target
		}
		return "it files a CSR on a target that does not accept it"
	case agWaiting:
		if a.Hub == mdlSource {
			return "it waits, unaccepted, on the source"
		}
		u := w.hubs[mdlTarget].get("certificatesigningrequests", "", a.CSR)
		switch {
		case u == nil && w.tokenValid(a.Boot.JTI) && okOn(mdlTarget):
			return "" // re-filed at once
		case u != nil && okOn(mdlTarget):
			csr := mdlConv[certificatesv1.CertificateSigningRequest](w, u)
			if !csrRefused(csr) {
				return "" // pending (may be approved) or approved (joins)
			}
			// Refused: only hubmigrate's deletion of a refused CSR of the
			// committed agent (the committed one, or one with the committed
			// CN) frees it — the agent then files again. (Were it never
			// deleted, the drain would end in "no progress".)
			if src := w.mc(mdlSource, c); src != nil && hasAnnotation(src, AnnCommitted) &&
				(annotation(src, AnnCommitted) == csr.Name+"/"+string(csr.UID) || annotation(src, AnnCommitCN) == csrCommonName(csr)) {
				return ""
			}
		}
		if escape {
			return ""
		}
		return "it waits on CSR " + a.CSR + " on the target and a restart would not bring it back to an accepting hub"
	case agDown:
		if escape {
			return ""
		}
		return "it crash-loops: no bootstrap kubeconfig is valid, and none will be"
	}
	return ""
}

func (m *mdlMachine) check(t mdlFataler) {
	w := m.w
	if len(w.violations) > 0 {
		t.Fatalf("invariant broken: %s\n%s", strings.Join(w.violations, "; "), w.dump())
	}
	for _, cs := range w.clusters {
		c := cs.Name
		src, tgt := w.mc(mdlSource, c), w.mc(mdlTarget, c)
		if Phase(label(src, LabelPhase)) == Rollbacking && hasAnnotation(src, AnnCommitted) {
			t.Fatalf("%s: committed and Rollbacking both on the source ManagedCluster\n%s", c, w.dump())
		}
		if !w.rogueApproved[c] && !w.rogueAccepted[c] && mdlAccepted(src) && conditionTrue(src, "ManagedClusterConditionAvailable") &&
			mdlAccepted(tgt) && conditionTrue(tgt, "ManagedClusterConditionAvailable") {
			t.Fatalf("%s: accepted and Available on both hubs\n%s", c, w.dump())
		}
		if why := w.lostReason(c); why != "" {
			t.Fatalf("%s is lost: %s\n%s", c, why, w.dump())
		}
	}
	// Once every cluster is terminal and nothing is planned, nothing of the
	// migration is left but its records and the completed copies.
	if w.mig == nil {
		if left := m.leftovers(nil); len(left) > 0 {
			t.Fatalf("the migration is gone, yet: %s\n%s", strings.Join(left, "; "), w.dump())
		}
		return
	}
	for _, cs := range w.clusters {
		if ph := w.speakingPhase(cs.Name); !m.draining && ph != "" {
			m.reached[ph] = true
		}
		if why := w.decisionChanged(cs.Name); why != "" {
			t.Fatalf("%s: %s\n%s", cs.Name, why, w.dump())
		}
	}
	// Planning is what costs: this is checked on the plans the reconciles
	// make from fresh caches (m.converged), not on a plan of its own.
	if m.converged != nil {
		if left := m.leftovers(m.converged.Clusters); len(left) > 0 {
			t.Fatalf("every cluster terminal and nothing planned, yet: %s\n%s", strings.Join(left, "; "), w.dump())
		}
		m.converged = nil
	}
}

// speakingPhase is the phase label of the ManagedCluster that speaks for the
// cluster (the target's from Cleaning on), "" while it is not claimed;
// Registering(committed) once the commit is written.
func (w *mdlWorld) speakingPhase(c string) Phase {
	src, tgt := w.mc(mdlSource, c), w.mc(mdlTarget, c)
	ours := func(mc *unstructured.Unstructured) bool { return annotation(mc, AnnOwner) == testOwner.String() }
	switch {
	case ours(tgt) && (hasAnnotation(tgt, AnnCommitted) || Phase(label(tgt, LabelPhase)) == Cleaning || Phase(label(tgt, LabelPhase)) == Completed):
		return Phase(label(tgt, LabelPhase))
	case ours(src) && hasAnnotation(src, AnnCommitted):
		return "Registering(committed)"
	case ours(src):
		return Phase(label(src, LabelPhase))
	}
	return ""
}

// mdlDecisions are the decisions written for a cluster so far.
type mdlDecisions struct {
	committed           string // the source's committed marker
	rolledBack, failed  bool   // Rollbacking, Failed written on the source
	cleaning, completed bool   // Cleaning, Completed written on the target
}

// decisionChanged: SPEC rule 1 — a decision (committed, Rollbacking, Failed,
// and the target speaking from Cleaning on) is never undone or replaced
// but by the rule that made it: while its ManagedCluster exists and until
// the deleted migration's records are removed, committed keeps its value,
// Rollbacking only becomes Failed, Failed stays, and the target's Cleaning
// only becomes Completed.
func (w *mdlWorld) decisionChanged(c string) string {
	d := w.decisions[c]
	if w.mig == nil || (w.mig.GetDeletionTimestamp() != nil && w.mig.GetAnnotations()[AnnResults] != "") {
		return "" // removeRecords may take the records away
	}
	src, tgt := w.mc(mdlSource, c), w.mc(mdlTarget, c)
	ours := func(mc *unstructured.Unstructured) bool { return annotation(mc, AnnOwner) == testOwner.String() }
	if src != nil && ours(src) {
		phase := Phase(label(src, LabelPhase))
		switch {
		case d.committed != "" && annotation(src, AnnCommitted) != d.committed:
			return fmt.Sprintf("the commit decision %q became %q", d.committed, annotation(src, AnnCommitted))
		case d.failed && phase != Failed:
			return fmt.Sprintf("Failed became %s", phase)
		case d.rolledBack && phase != Rollbacking && phase != Failed:
			return fmt.Sprintf("the rollback decision became %s", phase)
		}
		d.committed = annotation(src, AnnCommitted)
		d.rolledBack = d.rolledBack || phase == Rollbacking || phase == Failed
		d.failed = d.failed || phase == Failed
	}
	if tgt != nil && ours(tgt) {
		phase := Phase(label(tgt, LabelPhase))
		switch {
		case d.completed && phase != Completed:
			return fmt.Sprintf("Completed on the target became %s", phase)
		case d.cleaning && phase != Cleaning && phase != Completed:
			return fmt.Sprintf("Cleaning on the target became %s", phase)
		}
		d.cleaning = d.cleaning || phase == Cleaning || phase == Completed
		d.completed = d.completed || phase == Completed
	}
	w.decisions[c] = d
	return ""
}

func mdlAllTerminal(p Plan) bool {
	if len(p.Clusters) == 0 {
		return false
	}
	for _, o := range p.Clusters {
		if !o.Phase.Terminal() {
			return false
		}
	}
	return true
}

// leftovers lists what of the migration is still on the hubs although every
// cluster is terminal (outcomes) or the migration is gone (nil).
func (m *mdlMachine) leftovers(outcomes []ClusterOutcome) []string {
	w := m.w
	var out []string
	for hub := range w.hubs {
		keys, objs := w.hubs[hub].all()
		for _, k := range keys {
			o := objs[k]
			if o.GetLabels()[LabelMigrationUID] == string(testOwner.UID) {
				out = append(out, fmt.Sprintf("%s: %s labelled with the migration", mdlHubNames[hub], k))
			}
			if strings.HasPrefix(o.GetName(), "hubmigrate-") {
				out = append(out, fmt.Sprintf("%s: scaffolding %s", mdlHubNames[hub], k))
			}
		}
	}
	for _, u := range w.hubs[mdlTarget].list("certificatesigningrequests", "*") {
		csr := mdlConv[certificatesv1.CertificateSigningRequest](w, u)
		if csrPending(csr) && csr.Spec.Username == w.saUser() {
			out = append(out, "a pending CSR of the migration's credential: "+csr.Name)
		}
	}
	phase := map[string]Phase{}
	for _, o := range outcomes {
		phase[o.Name] = o.Phase
	}
	for _, cs := range w.clusters {
		c := cs.Name
		src, tgt := w.mc(mdlSource, c), w.mc(mdlTarget, c)
		for hub, mc := range []*unstructured.Unstructured{src, tgt} {
			if mc == nil {
				continue
			}
			if hasAnnotation(mc, AnnGlobalHubMigrating) {
				out = append(out, fmt.Sprintf("%s: %s still carries %s", mdlHubNames[hub], c, AnnGlobalHubMigrating))
			}
			allowed := map[string]bool{}
			if annotation(mc, AnnOwner) == testOwner.String() && outcomes != nil {
				allowed[AnnOwner] = true
				if hub == mdlSource {
					allowed[AnnReason] = true
				}
			}
			if outcomes == nil && annotation(mc, AnnOwner) == testOwner.String() {
				out = append(out, fmt.Sprintf("%s: %s still names the migration", mdlHubNames[hub], c))
			}
			for _, k := range prefixedAnnotations(mc) {
				if !allowed[k] && annotation(mc, AnnOwner) == testOwner.String() {
					out = append(out, fmt.Sprintf("%s: %s keeps %s", mdlHubNames[hub], c, k))
				}
			}
		}
		outcome := phase[c]
		if outcomes == nil {
			// Gone: read the outcome from where the cluster is.
			outcome = Failed
			if src == nil {
				outcome = Completed
			}
		}
		switch outcome {
		case Failed:
			if src == nil {
				out = append(out, c+": failed, but gone from the source")
				continue
			}
			if !hubAcceptsClient(src) {
				out = append(out, c+": failed, and its source is not accepted as before")
			}
			if annotation(src, AnnKlusterletConfig) != w.origKC[c] {
				out = append(out, fmt.Sprintf("%s: failed, and its klusterlet-config is %q, not %q as before", c, annotation(src, AnnKlusterletConfig), w.origKC[c]))
			}
			if tgt != nil && (annotation(tgt, AnnOwner) == testOwner.String() || label(tgt, LabelMigrationUID) != "") {
				out = append(out, c+": failed, and its copy is on the target")
			}
		case Completed:
			if src != nil && !mdlTerminating(src) {
				out = append(out, c+": completed, and still on the source")
			}
			if !mdlAccepted(tgt) {
				out = append(out, c+": completed, and not accepted on the target")
			}
		}
	}
	return out
}

// drain stops the faults and runs the world (every agent and hub
// controller, then a reconcile, dt apart) until the migration is over: its
// results written and nothing planned, or it is gone. Then each agent is
// where its outcome says, after at most one pod restart (SPEC: a klusterlet
// waiting on a CSR in Singleton mode needs one).
func (m *mdlMachine) drain(t mdlFataler, dt time.Duration, wantCompleted bool) {
	w := m.w
	w.logf("drain: no more faults, %s per round", dt)
	m.draining = true
	const rounds = 300
	done := false
	var p Plan
	for i := 0; i < rounds && !done; i++ {
		m.normalRound()
		p = m.reconcile(w.currentView(), -1)
		m.check(t)
		done = w.mig == nil || (w.mig.GetAnnotations()[AnnResults] != "" && len(p.Actions) == 0)
		w.now = w.now.Add(dt)
	}
	if !done {
		t.Fatalf("no progress: the migration is not over after %d rounds; plan %v\n%s", rounds, describe(p.Actions), w.dump())
	}
	results := map[string]Phase{}
	if w.mig != nil {
		for _, o := range outcomesOf(w.mig.GetAnnotations()[AnnResults]) {
			results[o.Name] = o.Phase
		}
	}
	for _, cs := range w.clusters {
		c := cs.Name
		a := w.agent(c)
		if wantCompleted && results[c] != Completed {
			t.Fatalf("%s: %s, not Completed, although nothing went wrong\n%s", c, results[c], w.dump())
		}
		if a.State != agJoined || !mdlAccepted(w.mc(a.Hub, c)) {
			w.restart(c)
		}
	}
	for range 5 {
		m.normalRound()
	}
	for _, cs := range w.clusters {
		c := cs.Name
		a := w.agent(c)
		want := mdlSource
		if w.mc(mdlSource, c) == nil {
			want = mdlTarget
		}
		if r, ok := results[c]; ok && r == Completed {
			want = mdlTarget
		}
		if a.State != agJoined || a.Hub != want || !mdlAccepted(w.mc(want, c)) {
			t.Fatalf("%s is lost: its klusterlet is %s on the %s (cert %d, bootstraps %s), not joined to the %s after a restart\n%s",
				c, a.State, mdlHubNames[a.Hub], a.CertHub, mdlRender(a.Boots), mdlHubNames[want], w.dump())
		}
	}
}

// dump is the world, for a failure message.
func (w *mdlWorld) dump() string {
	var b strings.Builder
	fmt.Fprintf(&b, "world at %s:\n", w.now.Format(time.TimeOnly))
	if w.mig == nil {
		b.WriteString("  migration: gone\n")
	} else {
		fmt.Fprintf(&b, "  migration rv %s deleting=%v annotations %v\n", w.mig.GetResourceVersion(), w.mig.GetDeletionTimestamp() != nil, w.mig.GetAnnotations())
	}
	for _, cs := range w.clusters {
		c := cs.Name
		a := w.agent(c)
		fmt.Fprintf(&b, "  %s agent: %s on %s, csr %q, cert %d, bootstraps %s, singleton %v\n", c, a.State, mdlHubNames[a.Hub], a.CSR, a.CertHub, mdlRender(a.Boots), a.Singleton)
		for hub := range w.hubs {
			mc := w.mc(hub, c)
			if mc == nil {
				fmt.Fprintf(&b, "    %s MC: none\n", mdlHubNames[hub])
				continue
			}
			var conds []string
			for _, t := range []string{"HubAcceptedManagedCluster", "ManagedClusterJoined", "ManagedClusterConditionAvailable"} {
				s, _ := conditionOf(mc, t)
				conds = append(conds, strings.TrimPrefix(strings.TrimPrefix(t, "ManagedCluster"), "Condition")+"="+s)
			}
			fmt.Fprintf(&b, "    %s MC rv %s accepted=%v deleting=%v %v labels %v annotations %v\n", mdlHubNames[hub], mc.GetResourceVersion(),
				hubAcceptsClient(mc), mdlTerminating(mc), conds, mc.GetLabels(), mc.GetAnnotations())
		}
	}
	for _, u := range w.hubs[mdlTarget].list("certificatesigningrequests", "*") {
		csr := mdlConv[certificatesv1.CertificateSigningRequest](w, u)
		state := "pending"
		for _, cond := range csr.Status.Conditions {
			state = string(cond.Type) + "(" + cond.Reason + ")"
		}
		fmt.Fprintf(&b, "  CSR %s (%s) %s\n", csr.Name, csr.Spec.Extra[credentialIDExtra], state)
	}
	for hub := range w.hubs {
		var keys []string
		all, objs := w.hubs[hub].all()
		for _, k := range all {
			if o := objs[k]; o.GetLabels()[LabelMigrationUID] != "" || strings.HasPrefix(o.GetName(), "hubmigrate-") {
				keys = append(keys, k)
			}
		}
		fmt.Fprintf(&b, "  %s objects of the migration: %v\n", mdlHubNames[hub], keys)
	}
	return b.String()
}

// --- the tests ----------------------------------------------------------------

// TestModelMigration: every kind of step, faults included. SPEC's
// invariants hold after every step, and once the faults stop the
// migration ends (Completed, or Failed where a timeout or the deletion
// forced a rollback) with every cluster where its outcome says.
func TestModelMigration(t *testing.T) {
	mdlSetDefaultSteps()
	pems := mdlPEMs(t)
	stats := &mdlStats{reached: map[Phase]int{}, outcomes: map[string]int{}}
	defer func() { t.Log(stats) }()
	rapid.Check(t, func(rt *rapid.T) {
		m := mdlNewMachine(rt, pems, true)
		defer stats.add(m)
		actions := m.actions()
		for name, a := range actions {
			actions[name] = func(t *rapid.T) { a(t); m.record() }
		}
		actions[""] = func(t *rapid.T) { m.check(t) }
		m.warmUp(rt)
		rt.Repeat(actions)
		m.drain(rt, 20*time.Second, false)
	})
}

// TestModelNoFaults: the agents behave, the clock stands still (no stage
// deadline passes), nobody else touches the CSRs; crashes, lost replies and
// stale caches still happen. Every cluster must end Completed.
func TestModelNoFaults(t *testing.T) {
	mdlSetDefaultSteps()
	pems := mdlPEMs(t)
	stats := &mdlStats{reached: map[Phase]int{}, outcomes: map[string]int{}}
	defer func() { t.Log(stats) }()
	rapid.Check(t, func(rt *rapid.T) {
		m := mdlNewMachine(rt, pems, false)
		defer stats.add(m)
		actions := m.actions()
		for name, a := range actions {
			actions[name] = func(t *rapid.T) { a(t); m.record() }
		}
		actions[""] = func(t *rapid.T) { m.check(t) }
		m.warmUp(rt)
		rt.Repeat(actions)
		m.drain(rt, 0, true)
	})
}
