package ocm

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hubmigrate/hubmigrate/envtest/hubfacts"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// factsFile holds the facts the hubs show of a cluster migrated in Singleton
// mode: measured here, with OCM's own agents and hub controllers, and held
// against the simulator by reconcile/e2e's TestHubFactsOfTheSimulatorAreOCMs.
// HUBMIGRATE_WRITE_FACTS=1 records it again (after an OCM upgrade).
const factsFile = "../hubfacts/testdata/forward-singleton.facts"

// Five clusters in Singleton mode, hub1 → hub2, with OCM's own agents and
// hub controllers: every cluster Completed, every agent's hub kubeconfig
// points at hub2 and its lease there renews, nothing of the migration is
// left on either hub, and the migration's bootstrap tokens are rejected.
// What the hubs showed of each cluster, fact by fact, is factsFile.
func TestForwardWithOCMAgents(t *testing.T) {
	const n = 5
	began := time.Now()
	names, clusters := importJoined(t, "fwd", n)
	t.Logf("%d agents from start to Joined+Available on hub1 with their klusterlet work Applied: %s", n, time.Since(began).Round(100*time.Millisecond))
	rec, err := hubfacts.Start(context.Background(), map[string]*rest.Config{
		"source": world.Hub("hub1").AdminConfig(), "target": world.Hub("hub2").AdminConfig(),
	}, names...)
	require.NoError(t, err)
	defer rec.Stop()

	runProduct(t, "ocm-fwd")
	began = time.Now()
	m := migrate(t, "ocm-fwd", "fwd", "hub1", "hub2", names, 5*time.Minute)
	phase, _, _ := unstructured.NestedString(m.Object, "status", "phase")
	require.Equal(t, "Completed", phase, "results: %s", m.GetAnnotations()[reconcile.AnnResults])
	t.Logf("migration of %d clusters with OCM's agents: %s", n, time.Since(began).Round(100*time.Millisecond))
	hubfacts.Match(t, rec, factsFile, `What the hubs showed of a cluster migrated hub1 → hub2 in Singleton mode, fact by fact:
each fact's distinct values in order (envtest/hubfacts). Recorded by envtest/ocm's
TestForwardWithOCMAgents with OCM's own hub controller and klusterlet agent (ocm v1.2.1);
the simulator is held to it by reconcile/e2e's TestHubFactsOfTheSimulatorAreOCMs.`, names...)

	hub1, hub2 := hubOf(t, "hub1"), hubOf(t, "hub2")
	for _, c := range clusters {
		assert.Nil(t, hub1.mc(t, c.name), "%s gone from hub1", c.name)
		assert.Equal(t, world.Hub("hub2").URL(), hubOfAgent(c.dir), "%s's agent on hub2", c.name)
		c.waitJoined(t, "hub2", time.Minute)
		hub2.waitLeaseRenewed(t, c.name, 90*time.Second)
	}
	assertNothingLeft(t, m)
	// The agents kept the migration's bootstrap kubeconfig where the operator
	// wrote it: its token, bound to the anchor Secret, is rejected now.
	for _, c := range clusters {
		files, err := filepath.Glob(filepath.Join(c.dir, "bootstrap", "*", "kubeconfig"))
		require.NoError(t, err)
		tried := 0
		for _, f := range files {
			cfg, err := clientcmd.BuildConfigFromFlags("", f)
			require.NoError(t, err)
			if cfg.Host != world.Hub("hub2").URL() || strings.Contains(f, defaultBootstrapSecret) {
				continue // the import controllers' own
			}
			tried++
			_, err = kubernetes.NewForConfigOrDie(cfg).Discovery().ServerVersion()
			assert.True(t, apierrors.IsUnauthorized(err), "%s: the migration's token still authenticates on hub2: %v", c.name, err)
		}
		assert.Equal(t, 1, tried, "%s: the migration's bootstrap kubeconfig among %v", c.name, files)
	}
}

// assertNothingLeft: no object labelled with the migration's UID on either hub.
func assertNothingLeft(t *testing.T, m *unstructured.Unstructured) {
	t.Helper()
	for _, h := range []string{"hub1", "hub2"} {
		assert.Empty(t, leftovers(t, h, string(m.GetUID())), "nothing of migration %s left on %s", m.GetName(), h)
	}
}

// leftovers lists the objects on the hub that carry the migration's label.
func leftovers(t *testing.T, hubName, uid string) []string {
	t.Helper()
	dyn := dynamic.NewForConfigOrDie(world.Hub(hubName).AdminConfig())
	var left []string
	for _, gvr := range []schema.GroupVersionResource{
		{Version: "v1", Resource: "secrets"}, {Version: "v1", Resource: "serviceaccounts"}, {Version: "v1", Resource: "namespaces"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
		sim.KlusterletConfigGVR, sim.ManagedClusterGVR,
	} {
		list, err := dyn.Resource(gvr).List(context.Background(), metav1.ListOptions{LabelSelector: reconcile.LabelMigrationUID + "=" + uid})
		require.NoError(t, err)
		for _, o := range list.Items {
			left = append(left, gvr.Resource+"/"+o.GetNamespace()+"/"+o.GetName())
		}
	}
	return left
}

// Two of five clusters powered off before the migration: the three others
// complete; the two roll back at Initializing's timeout (their klusterlet
// never applies the new configuration) and, once powered on again, come
// back to hub1 by themselves with their original configuration.
func TestRollbackOfStoppedAgentsWithOCMAgents(t *testing.T) {
	const n = 5
	names, clusters := importJoined(t, "rb", n)
	stopped := clusters[3:]
	for _, c := range stopped {
		c.stop()
	}

	runProduct(t, "ocm-rb")
	began := time.Now()
	m := migrateWith(t, "ocm-rb", "rb", "hub1", "hub2", names, "30s", 5*time.Minute)
	t.Logf("migration of %d clusters, 2 of them powered off: %s, results: %s", n, time.Since(began).Round(100*time.Millisecond), m.GetAnnotations()[reconcile.AnnResults])

	hub1, hub2 := hubOf(t, "hub1"), hubOf(t, "hub2")
	for _, c := range clusters[:3] {
		assert.Equal(t, "Completed", hub2.mc(t, c.name).Labels[reconcile.LabelPhase], c.name)
		assert.Nil(t, hub1.mc(t, c.name), "%s gone from hub1", c.name)
		assert.Equal(t, world.Hub("hub2").URL(), hubOfAgent(c.dir), "%s's agent on hub2", c.name)
	}
	for _, c := range stopped {
		src := hub1.mc(t, c.name)
		require.NotNil(t, src, c.name)
		assert.Equal(t, "Failed", src.Labels[reconcile.LabelPhase], c.name)
		assert.True(t, src.Spec.HubAcceptsClient, "%s accepted on hub1", c.name)
		assert.Empty(t, src.Annotations[sim.AnnotationKlusterletConfig], "%s's original (no) KlusterletConfig restored", c.name)
		assert.Nil(t, hub2.mc(t, c.name), "%s has no copy on hub2", c.name)
	}

	for _, c := range stopped {
		c.start(t)
	}
	for _, c := range stopped {
		c.waitJoined(t, "hub1", 2*time.Minute)
		cm, err := kubernetes.NewForConfigOrDie(world.Home().AdminConfig()).CoreV1().ConfigMaps(AgentNamespace(c.name)).Get(context.Background(), klusterletConfigMap, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "false", cm.Data["multipleHubs"], "%s's klusterlet is its original", c.name)
		hub1.waitLeaseRenewed(t, c.name, 60*time.Second)
	}
	assertNothingLeft(t, m)
}

// The bootstrap trap in Singleton mode, with OCM's own agent: its CSR on
// hub2 asks for a two-year certificate, which hubmigrate's checks refuse, so
// Registering times out and the rollback denies the CSR. The agent waits on
// it on hub2 and, in Singleton mode, its work agent does not run, so nothing
// on the hubs can free it: the migration reports AgentRestartRequired naming
// it; one restart brings it back to hub1 with its old certificate (no new CSR
// on hub1).
func TestTrapInSingletonModeWithOCMAgents(t *testing.T) {
	const cluster = "trap-1"
	c := importCluster(t, "hub1", cluster, "--client-cert-expiration-seconds=63072000")
	c.waitJoined(t, "hub1", 2*time.Minute)
	hub1, hub2 := hubOf(t, "hub1"), hubOf(t, "hub2")
	csrsOnHub1 := len(hub1.csrsOf(t, cluster))

	runProduct(t, "ocm-trap")
	began := time.Now()
	// 40 s: the stages before Registering take seconds.
	createMigration(t, "ocm-trap", "trap", "hub1", "hub2", []string{cluster}, "40s")
	eventually(t, 3*time.Minute, "AgentRestartRequired naming "+cluster, func() bool {
		msg, ok := conditionMessage(getMigration(t, "ocm-trap", "trap"), "AgentRestartRequired")
		return ok && strings.Contains(msg, cluster)
	})
	t.Logf("migration start to AgentRestartRequired: %s", time.Since(began).Round(100*time.Millisecond))
	// (Its hub kubeconfig still names hub1 while it bootstraps on hub2: the
	// agent replaces it only once a certificate is issued.)
	refused := false
	for _, csr := range hub2.csrsOf(t, cluster) {
		for _, cond := range csr.Status.Conditions {
			refused = refused || cond.Type == "Denied"
		}
	}
	assert.True(t, refused, "its CSR on hub2 was denied")
	assert.Equal(t, "Rollbacking", hub1.mc(t, cluster).Labels[reconcile.LabelPhase], "not Failed before the agent is back")

	c.operator.Agent().Restart()
	c.waitJoined(t, "hub1", 2*time.Minute)
	m := waitMigrationEnd(t, "ocm-trap", "trap", 3*time.Minute)
	assert.Equal(t, `{"trap-1":"Failed:RegisteringTimeout"}`, m.GetAnnotations()[reconcile.AnnResults])
	assert.Len(t, hub1.csrsOf(t, cluster), csrsOnHub1, "back on hub1 with its old certificate: no new CSR")
	assert.Equal(t, "Failed", hub1.mc(t, cluster).Labels[reconcile.LabelPhase])
	assert.Nil(t, hub2.mc(t, cluster), "no copy left on hub2")
	assertNothingLeft(t, m)
}

// hubmigrate SIGKILLed at seeded moments through a migration of five
// clusters with OCM's own agents, hub1 → hub2, and through the reverse
// migration, each time started again: both complete, every agent ends on
// hub1 again, nothing of either migration is left. HUBMIGRATE_OCM_SEED picks
// the seed (the test logs the one it used).
func TestKilledThroughBothWaysWithOCMAgents(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("HUBMIGRATE_OCM_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d (HUBMIGRATE_OCM_SEED=%d to run it again)", seed, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))

	const n = 5
	names, clusters := importJoined(t, "kill", n)
	p := runProduct(t, "ocm-kill")
	for _, way := range []struct{ name, from, to string }{{"there", "hub1", "hub2"}, {"back", "hub2", "hub1"}} {
		began := time.Now()
		createMigration(t, "ocm-kill", way.name, way.from, way.to, names, "")
		// Kills spread over the migration: a pause of 0.2–3 s before each,
		// at most 12, until it ends (a migration here takes about 30 s).
		for k := 0; ; k++ {
			if finished(getMigration(t, "ocm-kill", way.name)) {
				break
			}
			require.Less(t, time.Since(began), 5*time.Minute, "migration %s not finished; %d kills so far", way.name, p.kills)
			time.Sleep(time.Duration(200+rng.IntN(2800)) * time.Millisecond)
			if k < 12 {
				p.killAndStart()
			}
		}
		m := getMigration(t, "ocm-kill", way.name)
		t.Logf("%s → %s with SIGKILLs (%d so far): %s, results %s", way.from, way.to, p.kills, time.Since(began).Round(100*time.Millisecond), m.GetAnnotations()[reconcile.AnnResults])
		phase, _, _ := unstructured.NestedString(m.Object, "status", "phase")
		require.Equal(t, "Completed", phase, "results: %s", m.GetAnnotations()[reconcile.AnnResults])
		for _, c := range clusters {
			c.waitJoined(t, way.to, 2*time.Minute)
			assert.Nil(t, hubOf(t, way.from).mc(t, c.name), "%s gone from %s", c.name, way.from)
		}
		assertNothingLeft(t, m)
	}
}

// The same trap in Default mode: the work agent is a process of its own,
// still on hub1 while the registration agent waits on its denied CSR on
// hub2, so the restored klusterlet reaches the cluster and brings the agent
// back by itself — no restart, and AgentRestartRequired never names it.
func TestTrapInDefaultModeWithOCMAgents(t *testing.T) {
	const cluster = "trap-dflt"
	c := importClusterIn(t, "hub1", cluster, "Default", "--client-cert-expiration-seconds=63072000")
	c.waitJoined(t, "hub1", 2*time.Minute)
	hub1, hub2 := hubOf(t, "hub1"), hubOf(t, "hub2")
	csrsOnHub1 := len(hub1.csrsOf(t, cluster))

	runProduct(t, "ocm-trap-dflt")
	began := time.Now()
	createMigration(t, "ocm-trap-dflt", "trap", "hub1", "hub2", []string{cluster}, "40s")
	named := false
	eventually(t, 4*time.Minute, "the migration ended", func() bool {
		m := getMigration(t, "ocm-trap-dflt", "trap")
		if msg, ok := conditionMessage(m, "AgentRestartRequired"); ok && strings.Contains(msg, cluster) {
			named = true
		}
		return finished(m)
	})
	m := getMigration(t, "ocm-trap-dflt", "trap")
	t.Logf("Default mode, trapped and freed by the work agent: %s, results %s", time.Since(began).Round(100*time.Millisecond), m.GetAnnotations()[reconcile.AnnResults])
	assert.Equal(t, `{"trap-dflt":"Failed:RegisteringTimeout"}`, m.GetAnnotations()[reconcile.AnnResults])
	assert.False(t, named, "AgentRestartRequired named a Default-mode cluster")
	refused := false
	for _, csr := range hub2.csrsOf(t, cluster) {
		for _, cond := range csr.Status.Conditions {
			refused = refused || cond.Type == "Denied"
		}
	}
	assert.True(t, refused, "its CSR on hub2 was denied: it was trapped there")
	c.waitJoined(t, "hub1", 2*time.Minute)
	assert.Len(t, hub1.csrsOf(t, cluster), csrsOnHub1, "back on hub1 with its old certificate: no new CSR")
	assertNothingLeft(t, m)
}
