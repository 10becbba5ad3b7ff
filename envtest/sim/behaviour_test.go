package sim_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hubmigrate/hubmigrate/envtest/sim"
)

// Import: the agent bootstraps with the import controller's identity, which
// approves its CSR; the hub's acceptance side effects are all there.
func TestImportAndAcceptanceSideEffects(t *testing.T) {
	ctx := context.Background()
	importCluster(t, "imp", sim.Singleton)
	hub1 := hubOf(t, "hub1")

	eventually(t, 10*time.Second, "joined, available and untainted", func() bool {
		mc := hub1.mc(t, "imp")
		return conditionStatus(mc, sim.ConditionHubAccepted) == "True" && conditionStatus(mc, sim.ConditionJoined) == "True" &&
			conditionStatus(mc, sim.ConditionAvailable) == "True" && !hasTaint(mc, sim.TaintUnreachable)
	})
	ns, err := hub1.kube.CoreV1().Namespaces().Get(ctx, "imp", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "imp", ns.Labels[sim.LabelClusterName])
	for _, name := range []string{"open-cluster-management:managedcluster:imp:registration", "open-cluster-management:managedcluster:imp:work"} {
		_, err := hub1.kube.RbacV1().RoleBindings("imp").Get(ctx, name, metav1.GetOptions{})
		assert.NoError(t, err, name)
	}
	_, err = hub1.kube.RbacV1().ClusterRoles().Get(ctx, "open-cluster-management:managedcluster:imp", metav1.GetOptions{})
	assert.NoError(t, err)
	assert.Contains(t, hub1.mc(t, "imp").GetFinalizers(), "cluster.open-cluster-management.io/api-resource-cleanup")

	// Only the agent renews the lease the hub made.
	lease, err := hub1.kube.CoordinationV1().Leases("imp").Get(ctx, sim.LeaseName, metav1.GetOptions{})
	require.NoError(t, err)
	eventually(t, 5*leaseDuration, "lease renewed", func() bool {
		l, err := hub1.kube.CoordinationV1().Leases("imp").Get(ctx, sim.LeaseName, metav1.GetOptions{})
		return err == nil && l.ResourceVersion != lease.ResourceVersion
	})
	csrs := hub1.csrsOf(t, "imp")
	require.Len(t, csrs, 1)
	assert.Equal(t, "system:serviceaccount:imp:imp-bootstrap-sa", csrs[0].Spec.Username)
}

// The switch: hubAcceptsClient=false on the source makes the agent select the
// target, file a CSR with the migration's credential and join once approved;
// the target's import controller then re-points it at the target's own
// credential, whose kubeconfig names its cluster otherwise, so the agent
// bootstraps once more (OCM's IsHubKubeconfigValid). The old hub keeps Joined
// and, for 5 lease durations, Available; HubAccepted stays True there while
// the cluster's ManifestWorks exist.
func TestSwitchToTheTarget(t *testing.T) {
	ctx := context.Background()
	importCluster(t, "sw", sim.Singleton)
	p := prepareSwitch(t, "sw", true)
	hub1, hub2 := hubOf(t, "hub1"), hubOf(t, "hub2")

	hub1.setAccept(t, "sw", false)
	csr := waitPendingCSR(t, p)
	hub2.decide(t, csr, true)
	_, err := simulator.WaitFor(ctx, "sw", 30*time.Second, sim.JoinedTo("hub2"))
	require.NoError(t, err)

	eventually(t, 30*time.Second, "re-pointed at the target's own bootstrap credential", func() bool {
		st, _ := simulator.Status("sw")
		work, err := hub2.dyn.Resource(sim.ManifestWorkGVR).Namespace("sw").Get(ctx, sim.KlusterletWorkName("sw"), metav1.GetOptions{})
		return err == nil && workApplied(work) && st.State == sim.Joined && st.Hub == "hub2" && !st.MultipleHubs && len(st.Bootstraps) == 1
	})
	mc2 := hub2.mc(t, "sw")
	assert.Equal(t, "True", conditionStatus(mc2, sim.ConditionJoined))
	assert.Equal(t, "True", conditionStatus(mc2, sim.ConditionAvailable))

	var requesters []string
	for _, c := range hub2.csrsOf(t, "sw") {
		requesters = append(requesters, c.Spec.Username)
	}
	assert.ElementsMatch(t, []string{csr.Spec.Username, "system:serviceaccount:sw:sw-bootstrap-sa"}, requesters,
		"a second CSR, with the target's own bootstrap credential")

	mc1 := hub1.mc(t, "sw")
	assert.Equal(t, "True", conditionStatus(mc1, sim.ConditionJoined), "the old hub keeps Joined")
	eventually(t, 5*leaseDuration+10*time.Second, "stale Available turns Unknown", func() bool {
		return conditionStatus(hub1.mc(t, "sw"), sim.ConditionAvailable) == "Unknown"
	})
	assert.Equal(t, "True", conditionStatus(hub2.mc(t, "sw"), sim.ConditionAvailable))
	mc1 = hub1.mc(t, "sw")
	assert.Equal(t, "True", conditionStatus(mc1, sim.ConditionHubAccepted), "HubAccepted stays while the klusterlet work exists")
	eventually(t, 10*time.Second, "unreachable taint on the old hub", func() bool {
		return hasTaint(hub1.mc(t, "sw"), sim.TaintUnreachable)
	})

	// hubAcceptsClient=false cut the old hub's RBAC: registration binding gone,
	// the work binding held by its finalizer while works exist.
	_, err = hub1.kube.RbacV1().RoleBindings("sw").Get(ctx, "open-cluster-management:managedcluster:sw:registration", metav1.GetOptions{})
	assert.True(t, isNotFound(err))
	rb, err := hub1.kube.RbacV1().RoleBindings("sw").Get(ctx, "open-cluster-management:managedcluster:sw:work", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotNil(t, rb.DeletionTimestamp)

	// Once the old hub's works are gone, HubAccepted follows.
	works := hub1.dyn.Resource(sim.ManifestWorkGVR).Namespace("sw")
	work, err := works.Get(ctx, sim.KlusterletWorkName("sw"), metav1.GetOptions{})
	require.NoError(t, err)
	work.SetFinalizers(nil)
	_, err = works.Update(ctx, work, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, works.Delete(ctx, sim.KlusterletWorkName("sw"), metav1.DeleteOptions{}))
	eventually(t, 10*time.Second, "HubAccepted False once no ManifestWork is left", func() bool {
		return conditionStatus(hub1.mc(t, "sw"), sim.ConditionHubAccepted) == "False"
	})
}

// The bootstrap trap: while its CSR is pending, nothing on the hubs moves the
// agent (in Singleton mode); a restart frees it, back to the source with its
// old certificate and no new CSR.
func TestTrapAndReleaseByRestart(t *testing.T) {
	ctx := context.Background()
	importCluster(t, "trap", sim.Singleton)
	p := prepareSwitch(t, "trap", true)
	hub1, hub2 := hubOf(t, "hub1"), hubOf(t, "hub2")

	hub1.setAccept(t, "trap", false)
	csr := waitPendingCSR(t, p)

	// Restore the source as a rollback does, deny the CSR, delete the target
	// cluster, revoke the token: the agent does not move.
	hub1.setAccept(t, "trap", true)
	hub1.setAnnotation(t, "trap", sim.AnnotationKlusterletConfig, "")
	hub2.decide(t, csr, false)
	require.NoError(t, hub2.dyn.Resource(sim.ManagedClusterGVR).Delete(ctx, "trap", metav1.DeleteOptions{}))
	require.NoError(t, hub2.kube.CoreV1().Secrets("open-cluster-management").Delete(ctx, p.anchor, metav1.DeleteOptions{}))
	time.Sleep(3 * time.Second)
	st, err := simulator.Status("trap")
	require.NoError(t, err)
	assert.Equal(t, sim.WaitingForCSR, st.State, "trapped")
	assert.Equal(t, csr.Name, st.CSR, "a denied CSR is waited on forever")

	csrsOnSource := len(hub1.csrsOf(t, "trap"))
	require.NoError(t, simulator.RestartAgent("trap"))
	_, err = simulator.WaitFor(ctx, "trap", 30*time.Second, func(st sim.Status) bool {
		return st.State == sim.Joined && st.Hub == "hub1" && !st.MultipleHubs
	})
	require.NoError(t, err)
	assert.Equal(t, csrsOnSource, len(hub1.csrsOf(t, "trap")), "back with its old certificate, no new CSR")
}

// In Default mode the work agent runs on its own, so the source's restored
// klusterlet work reaches an agent trapped on the target.
func TestDefaultModeWorkAgentFreesTrappedAgent(t *testing.T) {
	ctx := context.Background()
	importCluster(t, "dflt", sim.Default)
	p := prepareSwitch(t, "dflt", true)
	hub1 := hubOf(t, "hub1")
	hub1.setAccept(t, "dflt", false)
	waitPendingCSR(t, p)

	hub1.setAccept(t, "dflt", true)
	hub1.setAnnotation(t, "dflt", sim.AnnotationKlusterletConfig, "")
	_, err := simulator.WaitFor(ctx, "dflt", 30*time.Second, func(st sim.Status) bool {
		return st.State == sim.Joined && st.Hub == "hub1" && !st.MultipleHubs
	})
	require.NoError(t, err)
}

// A deleted CSR is filed again at once.
func TestDeletedCSRIsFiledAgain(t *testing.T) {
	ctx := context.Background()
	importCluster(t, "refile", sim.Singleton)
	p := prepareSwitch(t, "refile", true)
	hub1, hub2 := hubOf(t, "hub1"), hubOf(t, "hub2")
	hub1.setAccept(t, "refile", false)
	csr := waitPendingCSR(t, p)
	require.NoError(t, hub2.kube.CertificatesV1().CertificateSigningRequests().Delete(ctx, csr.Name, metav1.DeleteOptions{}))
	_, err := simulator.WaitFor(ctx, "refile", 10*time.Second, func(st sim.Status) bool {
		return st.State == sim.WaitingForCSR && st.CSR != "" && st.CSR != csr.Name
	})
	require.NoError(t, err)
}

// A late approval wins: the agent joins the target even though the source
// accepts it again, and both hubs show it accepted and Available.
func TestLateApprovalWins(t *testing.T) {
	ctx := context.Background()
	importCluster(t, "late", sim.Singleton)
	p := prepareSwitch(t, "late", true)
	hub1, hub2 := hubOf(t, "hub1"), hubOf(t, "hub2")
	hub1.setAccept(t, "late", false)
	csr := waitPendingCSR(t, p)
	hub1.setAccept(t, "late", true)
	hub2.decide(t, csr, true)
	_, err := simulator.WaitFor(ctx, "late", 30*time.Second, sim.JoinedTo("hub2"))
	require.NoError(t, err)
	eventually(t, 10*time.Second, "target Available", func() bool {
		return conditionStatus(hub2.mc(t, "late"), sim.ConditionAvailable) == "True"
	})
	mc1 := hub1.mc(t, "late")
	assert.Equal(t, true, mc1.Object["spec"].(map[string]any)["hubAcceptsClient"])
	assert.Equal(t, "True", conditionStatus(mc1, sim.ConditionAvailable), "the source still shows it Available")
}

// Revoking the target credential before the re-pointing: the agent's next
// restart crash-loops; deleting the source ManagedCluster then sends it back
// to the source to wait, unaccepted, with a pending CSR.
func TestEarlyRevocationCrashLoops(t *testing.T) {
	ctx := context.Background()
	importCluster(t, "revoke", sim.Singleton)
	p := prepareSwitch(t, "revoke", true)
	hub1, hub2 := hubOf(t, "hub1"), hubOf(t, "hub2")
	require.NoError(t, simulator.HoldImport("revoke", "hub2", true))
	hub1.setAccept(t, "revoke", false)
	hub2.decide(t, waitPendingCSR(t, p), true)
	_, err := simulator.WaitFor(ctx, "revoke", 30*time.Second, sim.JoinedTo("hub2"))
	require.NoError(t, err)

	require.NoError(t, hub2.kube.CoreV1().Secrets("open-cluster-management").Delete(ctx, p.anchor, metav1.DeleteOptions{}))
	time.Sleep(11 * time.Second) // the API server caches successful token authentications ~10s
	require.NoError(t, simulator.RestartAgent("revoke"))
	st, err := simulator.WaitFor(ctx, "revoke", 30*time.Second, func(st sim.Status) bool { return st.State == sim.CrashLooping && st.Restarts >= 4 })
	require.NoError(t, err, "crash loop")

	require.NoError(t, hub1.dyn.Resource(sim.ManagedClusterGVR).Delete(ctx, "revoke", metav1.DeleteOptions{}))
	_, err = simulator.WaitFor(ctx, "revoke", 30*time.Second, func(st sim.Status) bool { return st.State == sim.WaitingForCSR && st.Hub == "hub1" })
	require.NoError(t, err, "back to the source, waiting (after %d restarts)", st.Restarts)
	eventually(t, 10*time.Second, "source cluster re-created unaccepted with a pending CSR", func() bool {
		mc, err := hub1.dyn.Resource(sim.ManagedClusterGVR).Get(ctx, "revoke", metav1.GetOptions{})
		ok := err == nil && mc.GetDeletionTimestamp() == nil && mc.Object["spec"].(map[string]any)["hubAcceptsClient"] == false &&
			len(pending(hub1.csrsOf(t, "revoke"))) == 1
		if !ok {
			st, _ := simulator.Status("revoke")
			t.Logf("status %+v err %v mc %v csrs %d", st, err, mc, len(pending(hub1.csrsOf(t, "revoke"))))
		}
		return ok
	})
}

// A switch fails when the migration's bootstrap identity lacks RBAC: the
// target's kubeconfig is not valid, the source no longer accepts, the agent
// exits and files nothing on the target.
func TestSwitchFailsWithoutBootstrapRBAC(t *testing.T) {
	ctx := context.Background()
	importCluster(t, "norbac", sim.Singleton)
	hub1, hub2 := hubOf(t, "hub1"), hubOf(t, "hub2")
	// Without RBAC on the target the MultipleHubs agent still selects the
	// valid source at first; prepareSwitch checks that.
	prepareSwitch(t, "norbac", false)
	hub1.setAccept(t, "norbac", false)
	_, err := simulator.WaitFor(ctx, "norbac", 30*time.Second, func(st sim.Status) bool { return st.State == sim.CrashLooping && st.Restarts >= 3 })
	require.NoError(t, err)
	assert.Empty(t, hub2.csrsOf(t, "norbac"))
}

// The CSR knob files what hubmigrate's checks must refuse, here a wrong CN.
func TestCSRMutatorKnob(t *testing.T) {
	importCluster(t, "badcn", sim.Singleton)
	p := prepareSwitch(t, "badcn", true)
	require.NoError(t, simulator.SetCSRMutator("badcn", func(r *x509.CertificateRequest) { r.Subject.CommonName = "system:open-cluster-management:other:agent" }))
	hubOf(t, "hub1").setAccept(t, "badcn", false)
	csr := waitPendingCSR(t, p)
	req, err := parseCSR(csr.Spec.Request)
	require.NoError(t, err)
	assert.Equal(t, "system:open-cluster-management:other:agent", req.Subject.CommonName)
}

// The rogue approver acts on the next pending CSR of the cluster.
func TestRogueApprover(t *testing.T) {
	ctx := context.Background()
	importCluster(t, "rogue", sim.Singleton)
	p := prepareSwitch(t, "rogue", true)
	require.NoError(t, simulator.RogueOnNextCSR("rogue", "hub2", true))
	hubOf(t, "hub1").setAccept(t, "rogue", false)
	_, err := simulator.WaitFor(ctx, "rogue", 30*time.Second, sim.JoinedTo("hub2"))
	require.NoError(t, err)
	csrs := hubOf(t, "hub2").csrsOf(t, "rogue")
	require.NotEmpty(t, csrs)
	assert.Equal(t, "RogueApproved", csrs[0].Status.Conditions[0].Reason)
	assert.Equal(t, "system:serviceaccount:open-cluster-management:"+p.sa, csrs[0].Spec.Username)
}

// A down agent stops renewing: Available turns Unknown after 5 lease durations.
func TestDownAgentGoesUnknown(t *testing.T) {
	importCluster(t, "down", sim.Singleton)
	hub1 := hubOf(t, "hub1")
	require.NoError(t, simulator.SetDown("down", true))
	eventually(t, 5*leaseDuration+10*time.Second, "Unknown and tainted", func() bool {
		mc := hub1.mc(t, "down")
		return conditionStatus(mc, sim.ConditionAvailable) == "Unknown" && hasTaint(mc, sim.TaintUnreachable)
	})
	require.NoError(t, simulator.SetDown("down", false))
	eventually(t, 10*time.Second, "Available again", func() bool {
		mc := hub1.mc(t, "down")
		return conditionStatus(mc, sim.ConditionAvailable) == "True" && !hasTaint(mc, sim.TaintUnreachable)
	})
}

// The latency knob slows every step of the agent: a switch takes at least
// selection, CSR filing and joining, one latency each.
func TestLatencyKnob(t *testing.T) {
	ctx := context.Background()
	importCluster(t, "slow", sim.Singleton)
	prepareSwitch(t, "slow", true)
	require.NoError(t, simulator.SetLatency("slow", time.Second))
	require.NoError(t, simulator.RogueOnNextCSR("slow", "hub2", true))
	start := time.Now()
	hubOf(t, "hub1").setAccept(t, "slow", false)
	_, err := simulator.WaitFor(ctx, "slow", 30*time.Second, sim.JoinedTo("hub2"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 2*time.Second, "restart, CSR and join each wait a step")
}

// A KlusterletConfig naming a bootstrap Secret that does not exist is not
// rendered at all (ACM's render.go returns the Secret's error and requeues):
// the agent keeps its configuration until the Secret appears. This is what
// keeps a rollback safe when the import controller renders from a cache that
// still names the migration's KlusterletConfig after its Secret was deleted.
func TestKlusterletConfigWithAMissingSecretIsNotRendered(t *testing.T) {
	ctx := context.Background()
	importCluster(t, "nosec", sim.Singleton)
	hub1 := hubOf(t, "hub1")
	eventually(t, 30*time.Second, "klusterlet work applied", func() bool {
		work, err := hub1.dyn.Resource(sim.ManifestWorkGVR).Namespace("nosec").Get(ctx, sim.KlusterletWorkName("nosec"), metav1.GetOptions{})
		return err == nil && workApplied(work)
	})
	p := prepareSwitchConfig(t, "nosec", true)
	generation := hub1KlusterletWork(t, "nosec").GetGeneration()
	hub1.setAnnotation(t, "nosec", sim.AnnotationKlusterletConfig, p.klusterletConfig)

	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		require.Equal(t, generation, hub1KlusterletWork(t, "nosec").GetGeneration(), "rendered while its Secret is missing")
		st, _ := simulator.Status("nosec")
		require.False(t, st.MultipleHubs, "the agent got a configuration with a missing bootstrap kubeconfig")
	}

	createBootstrapSecret(t, p)
	st, err := simulator.WaitFor(ctx, "nosec", 30*time.Second, func(st sim.Status) bool {
		return st.MultipleHubs && st.State == sim.Joined && st.Hub == "hub1"
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"hub1", "hub2"}, st.Bootstraps, "rendered once the Secret exists")
}

// Deleting the source ManagedCluster after the switch: OCM deletes its
// ManifestWorks and keeps the ManagedCluster until they are gone; the
// klusterlet work carries the work agent's finalizer, and the work agent has
// moved to the target, so it is ACM's import controller that frees it — once
// the cluster is unavailable, 5 lease durations after the agent left.
// (Measured with OCM's own agent and hub controller in envtest/ocm.)
func TestDeletedSourceWaitsForItsKlusterletWork(t *testing.T) {
	ctx := context.Background()
	importCluster(t, "delsrc", sim.Singleton)
	p := prepareSwitch(t, "delsrc", true)
	hub1, hub2 := hubOf(t, "hub1"), hubOf(t, "hub2")
	assert.Contains(t, hub1KlusterletWork(t, "delsrc").GetFinalizers(), "cluster.open-cluster-management.io/manifest-work-cleanup", "the work agent holds the work it applied")

	hub1.setAccept(t, "delsrc", false)
	hub2.decide(t, waitPendingCSR(t, p), true)
	_, err := simulator.WaitFor(ctx, "delsrc", 30*time.Second, sim.JoinedTo("hub2"))
	require.NoError(t, err)
	require.Equal(t, "True", conditionStatus(hub1.mc(t, "delsrc"), sim.ConditionAvailable), "still Available on hub1 right after the switch")
	deleted := time.Now()
	require.NoError(t, hub1.dyn.Resource(sim.ManagedClusterGVR).Delete(ctx, "delsrc", metav1.DeleteOptions{}))

	time.Sleep(2 * leaseDuration)
	mc, err := hub1.dyn.Resource(sim.ManagedClusterGVR).Get(ctx, "delsrc", metav1.GetOptions{})
	require.NoError(t, err, "kept while its klusterlet work is held")
	assert.NotNil(t, mc.GetDeletionTimestamp())
	assert.NotNil(t, hub1KlusterletWork(t, "delsrc").GetDeletionTimestamp(), "the work is deleting, held by the finalizer of an agent that left")

	eventually(t, 5*leaseDuration+20*time.Second, "the source ManagedCluster gone", func() bool {
		_, err := hub1.dyn.Resource(sim.ManagedClusterGVR).Get(ctx, "delsrc", metav1.GetOptions{})
		return isNotFound(err)
	})
	assert.Greater(t, time.Since(deleted), 3*leaseDuration, "not before the cluster turned unavailable")
	_, err = simulator.WaitFor(ctx, "delsrc", 10*time.Second, sim.JoinedTo("hub2"))
	assert.NoError(t, err, "the agent stays on the target")
}
