package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/metrics"
	"github.com/hubmigrate/hubmigrate/reconcile"

	"github.com/hubmigrate/hubmigrate/envtest/invariants"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
)

// The controller stopped in the middle of a migration and started again (a
// new process, with nothing but the markers on the objects) carries on to the
// same end, several times over.
func TestRestartsMidway(t *testing.T) {
	ctx := context.Background()
	clusters := names("restart", 6)
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	c := startController(t, 30*time.Second)
	createMigration(t, migrationSpec{namespace: "ops", name: "restarted", from: "hub1", to: "hub2", clusters: clusters})
	phases := watchPhases(t, "ops", "restarted")
	// Keep one cluster's token, to see it rejected once the migration is done.
	token := captureToken(t, "ops", "restarted", clusters[0])
	for i, phase := range []string{"Initializing", "Deploying", "Registering"} {
		require.NoError(t, wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
			for _, cl := range clusters {
				if sourceLabel(t, cl) == phase {
					return true, nil
				}
			}
			return false, nil
		}), "some cluster reaches %s", phase)
		c.stop()
		c = startController(t, 30*time.Second)
		if i == 1 {
			time.Sleep(500 * time.Millisecond) // the hub's caches are up
			rotateCredential(t, "hub2")
		}
	}
	defer c.stop()
	m := waitMigrationPhase(t, "ops", "restarted", "Completed", 4*time.Minute)
	checkMigrated(t, snap, m, "hub1", "hub2", clusters)
	// A restart is invisible from outside: the phase a watcher reads never
	// turns Unknown while the new process's caches sync, and never goes back.
	seen := phases()
	order := map[string]int{"": 0, "Pending": 1, "Validating": 2, "Initializing": 3, "Deploying": 4, "Registering": 5, "Cleaning": 6, "Completed": 7}
	for i, p := range seen {
		_, known := order[p]
		require.True(t, known, "phase %q seen across restarts (all: %v)", p, seen)
		if i > 0 {
			require.GreaterOrEqual(t, order[p], order[seen[i-1]], "the phase went back: %v", seen)
		}
	}

	checkTokenRejected(t, token)
}

// captureToken waits for the bootstrap kubeconfig the migration writes for a
// cluster on the source and returns its token.
func captureToken(t *testing.T, namespace, migration, cluster string) string {
	t.Helper()
	_, homeDyn := clients(t, "home")
	hub1Kube, _ := clients(t, "hub1")
	var token string
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace(namespace).Get(ctx, migration, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		secret, err := hub1Kube.CoreV1().Secrets(sim.BootstrapSecretNamespace).Get(ctx, reconcile.ScaffoldingName(cluster, m.GetUID()), metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		cfg, err := clientcmd.RESTConfigFromKubeConfig(secret.Data["kubeconfig"])
		if err != nil {
			return false, err
		}
		token = cfg.BearerToken
		return token != "", nil
	}), "the bootstrap kubeconfig of %s", cluster)
	return token
}

// checkTokenRejected: a token minted by a migration no longer authenticates on
// the target once its cluster is terminal (allowing the API server's ~10s
// cache of token authentications).
func checkTokenRejected(t *testing.T, token string) {
	t.Helper()
	hub2 := world.Hub("hub2")
	tokenClient, err := kubernetes.NewForConfig(&rest.Config{Host: hub2.URL(), BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: hub2.CA.CertPEM}})
	require.NoError(t, err)
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := tokenClient.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		return apierrors.IsUnauthorized(err), nil
	}), "the migration's token still authenticates on the target")
}

// rotateCredential writes a new credential into a hub's kubeconfig Secret, as
// an admin rotating it would; hubmigrate picks it up without a restart.
func rotateCredential(t *testing.T, hubName string) {
	t.Helper()
	cfg, err := world.ProductConfig(hubName)
	require.NoError(t, err)
	kc, err := envtest.Kubeconfig(cfg)
	require.NoError(t, err)
	homeKube, _ := clients(t, "home")
	secret, err := homeKube.CoreV1().Secrets(envtest.ProductNamespace).Get(context.Background(), hubName+"-kubeconfig", metav1.GetOptions{})
	require.NoError(t, err)
	secret.Data["kubeconfig"] = kc
	_, err = homeKube.CoreV1().Secrets(envtest.ProductNamespace).Update(context.Background(), secret, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// watchPhases records every status.phase of a migration a watcher sees, until
// the returned func is called.
func watchPhases(t *testing.T, namespace, name string) func() []string {
	t.Helper()
	_, dyn := clients(t, "home")
	w, err := dyn.Resource(reconcile.MigrationGVR).Namespace(namespace).Watch(context.Background(),
		metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	require.NoError(t, err)
	var mu sync.Mutex
	var seen []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			mu.Lock()
			if len(seen) == 0 || seen[len(seen)-1] != phase {
				seen = append(seen, phase)
			}
			mu.Unlock()
		}
	}()
	return func() []string {
		w.Stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}

// A restart in a quiet moment is invisible: the new process writes nothing —
// no status, no marker, no Event — while nothing in the world has changed,
// even after its caches have synced and it has reconciled. When the world
// changed while it was down, its first corrective write follows at once
// (the figure is printed; the lease is the binary's, measured by
// TestLeaderIdentityIsStableForAPod).
func TestRestartWritesNothingUntilTheWorldChanges(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"quiet-1"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	// The target's import controller is slow: the cluster commits and then
	// waits for its klusterlet work there, a state with nothing to do.
	require.NoError(t, simulator.HoldImport("quiet-1", "hub2", true))
	defer func() { _ = simulator.HoldImport("quiet-1", "hub2", false) }()
	// Its own scope: a restart reconciles every migration in scope, and
	// another test's migration still rolling back may rightly write.
	c := startController(t, 30*time.Second, withScope("quiet"))
	createMigration(t, migrationSpec{namespace: "quiet", name: "quiet", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "10m"})
	_, hub1 := clients(t, "hub1")
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		mc, err := hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, "quiet-1", metav1.GetOptions{})
		return err == nil && mc.GetAnnotations()[reconcile.AnnCommitted] != "", nil
	}), "quiet-1 commits")
	waitQuiet(t, c, 3*time.Second)

	_, home := clients(t, "home")
	before, err := home.Resource(reconcile.MigrationGVR).Namespace("quiet").Get(ctx, "quiet", metav1.GetOptions{})
	require.NoError(t, err)
	c.stop()
	reconciled := reconcilesOK()
	c = startController(t, 30*time.Second, withScope("quiet"))
	// The new process has synced and planned from the facts at least once
	// (a reconcile while the caches sync ends as waiting_for_hubs, not ok).
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return reconcilesOK() > reconciled, nil
	}), "the restarted controller reconciles")
	time.Sleep(2 * time.Second)
	require.Zero(t, c.writes.n.Load(), "writes by the restarted controller while nothing changed")
	after, err := home.Resource(reconcile.MigrationGVR).Namespace("quiet").Get(ctx, "quiet", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, before.GetResourceVersion(), after.GetResourceVersion(), "the migration (status included) was written")

	// The world changes while the controller is down: the target's import
	// controller renders the klusterlet work and the agent applies it.
	c.stop()
	require.NoError(t, simulator.HoldImport("quiet-1", "hub2", false))
	_, hub2 := clients(t, "hub2")
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		work, err := hub2.Resource(reconcile.ManifestWorkGVR).Namespace("quiet-1").Get(ctx, "quiet-1-klusterlet", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(work.Object, "status", "conditions")
		for _, cond := range conds {
			if m := cond.(map[string]any); m["type"] == "Applied" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	}), "the klusterlet work on the target is applied")
	started := time.Now()
	c = startController(t, 30*time.Second, withScope("quiet"))
	defer c.stop()
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return c.writes.n.Load() > 0, nil
	}), "the restarted controller acts on what changed")
	fmt.Printf("restart to the first corrective write (in-process, caches synced from cold): %s\n", time.Since(started).Round(time.Millisecond))
	m := waitMigrationPhase(t, "quiet", "quiet", "Completed", 2*time.Minute)
	checkMigrated(t, snap, m, "hub1", "hub2", clusters)
}

// waitQuiet waits until the controller has made no write for d.
func waitQuiet(t *testing.T, c *controller, d time.Duration) {
	t.Helper()
	last, since := c.writes.n.Load(), time.Now()
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		if n := c.writes.n.Load(); n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) >= d, nil
	}), "the controller goes quiet")
}

// reconcilesOK is how many reconciles, in this process, ended with every
// action done on synced facts.
func reconcilesOK() float64 {
	return promtestutil.ToFloat64(metrics.Reconciles.WithLabelValues("ok"))
}
