package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/envtest/invariants"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/informers"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// A cluster absent from the source fails before any claim: recorded on the
// migration, which ends Failed with it named, leaving nothing on any hub.
func TestAbsentClusterFailsUnclaimed(t *testing.T) {
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), nil)
	c := startController(t, 30*time.Second)
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: "absent", from: "hub1", to: "hub2", clusters: []string{"nowhere"}})
	m := waitMigrationPhase(t, "ops", "absent", "Failed", time.Minute)
	assert.Equal(t, `{"nowhere":"Failed:NotFound"}`, m.GetAnnotations()["migration.open-cluster-management.io/results"])
	assert.Equal(t, `{"nowhere":"NotFound"}`, m.GetAnnotations()["migration.open-cluster-management.io/unclaimed-failures"])
	invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), nil)
}

// Hubs that cannot be worked on: each migration says why in the HubsReady
// condition and a Warning Event, waits until the stage timeout, then fails
// its cluster before a claim with that reason — and the cluster on the source
// is never touched. The targets: no <hub>-kubeconfig Secret; one holding no
// kubeconfig; one pointing at nothing; a plain Kubernetes API server (no
// KlusterletConfig API); local-cluster with no registration address
// configured. Deleting them lets them go at once (nothing was claimed). A
// source that cannot be seen could hide a claim: that migration shows its
// cluster Failed but is not final, and its deletion waits for the hub or for
// the abandon annotation.
func TestHubsThatCannotBeWorkedOn(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"hp-1"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)

	plain, err := envtest.StartControlPlane(ctx, "plain", t.TempDir(), false)
	require.NoError(t, err)
	defer plain.Stop()
	plainKubeconfig, err := envtest.Kubeconfig(plain.AdminConfig())
	require.NoError(t, err)
	nowhere := plain.AdminConfig()
	nowhere.Host = "https://127.0.0.1:1"
	nowhereKubeconfig, err := envtest.Kubeconfig(nowhere)
	require.NoError(t, err)
	homeKube, homeDyn := clients(t, "home")
	for name, data := range map[string][]byte{"plain": plainKubeconfig, "nowhere": nowhereKubeconfig, "garbled": []byte("{not a kubeconfig")} {
		_, err := homeKube.CoreV1().Secrets(envtest.ProductNamespace).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-kubeconfig"}, Data: map[string][]byte{"kubeconfig": data}}, metav1.CreateOptions{})
		require.NoError(t, err)
		defer func() {
			_ = homeKube.CoreV1().Secrets(envtest.ProductNamespace).Delete(ctx, name+"-kubeconfig", metav1.DeleteOptions{})
		}()
	}

	c := startController(t, 30*time.Second)
	defer c.stop()
	cases := map[string]struct{ from, to, reason string }{
		"hp-unknown":  {"hub1", "hub9", "HubUnknown"},
		"hp-garbled":  {"hub1", "garbled", "KubeconfigInvalid"},
		"hp-nowhere":  {"hub1", "nowhere", "HubUnreachable"},
		"hp-plain":    {"hub1", "plain", "NotACMHub"},
		"hp-noaddr":   {"hub1", informers.LocalCluster, "NoRegistrationAddress"},
		"hp-nosource": {"hub9", "hub2", "HubUnknown"},
	}
	for name, tc := range cases {
		createMigration(t, migrationSpec{namespace: "ops", name: name, from: tc.from, to: tc.to, clusters: clusters, stageTimeout: "6s"})
	}
	// While they wait, each says why in HubsReady.
	seen := map[string]string{}
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		for name := range cases {
			m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(m.Object, "status", "conditions")
			for _, cond := range conds {
				if c := cond.(map[string]any); c["type"] == reconcile.HubsReadyCondition && c["status"] == "False" {
					seen[name], _ = c["reason"].(string)
				}
			}
		}
		return len(seen) == len(cases), nil
	}), "HubsReady seen: %v", seen)
	for name, tc := range cases {
		assert.Equal(t, tc.reason, seen[name], name)
	}

	for name, tc := range cases {
		if name == "hp-nosource" {
			continue
		}
		m := waitMigrationPhase(t, "ops", name, "Failed", time.Minute)
		assert.Equal(t, `{"hp-1":"Failed:`+tc.reason+`"}`, m.GetAnnotations()[reconcile.AnnResults], name)
		events, err := homeKube.CoreV1().Events("ops").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
		require.NoError(t, err)
		var warned []string
		for _, e := range events.Items {
			if e.Reason == "HubNotReady" {
				warned = append(warned, e.Message)
			}
		}
		require.Len(t, warned, 1, "%s: one Warning for one problem", name)
		assert.True(t, strings.HasPrefix(warned[0], tc.reason+": "), "%s: %s", name, warned[0])
		invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), clusters)
		deleteMigration(t, "ops", name)
	}
	for name := range cases {
		if name != "hp-nosource" {
			waitGone(t, "ops", name)
		}
	}

	// The unseen source: Failed in its status, not final; deletion waits.
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, "hp-nosource", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		phase, _, _ := unstructured.NestedString(m.Object, "status", "phase")
		return phase == "Failed", nil
	}))
	m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, "hp-nosource", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, `{"hp-1":"HubUnknown"}`, m.GetAnnotations()[reconcile.AnnUnclaimedFailures])
	assert.Empty(t, m.GetAnnotations()[reconcile.AnnResults], "a claim could hide on the unseen source")
	deleteMigration(t, "ops", "hp-nosource")
	time.Sleep(3 * time.Second)
	_, err = homeDyn.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, "hp-nosource", metav1.GetOptions{})
	require.NoError(t, err, "held by its finalizer while the source cannot be seen")
	// `hubmigrate abandon` (the annotation, and a delete that is already
	// under way) lets it go.
	out, code := hubmigrateCLI(t, "abandon", "hp-nosource")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "managedclustermigration ops/hp-nosource abandoned")
	waitGone(t, "ops", "hp-nosource")
	out, code = hubmigrateCLI(t, "abandon", "hp-nosource")
	assert.Equal(t, 1, code, "gone: %s", out)

	// The cluster was never claimed: no marker was ever written on it.
	_, hub1 := clients(t, "hub1")
	mc, err := hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, "hp-1", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotContains(t, mc.GetLabels(), reconcile.LabelPhase)
	for k := range mc.GetAnnotations() {
		assert.False(t, strings.HasPrefix(k, reconcile.Prefix), "marker %s on an unclaimed cluster", k)
	}
	invariants.CheckRolledBack(t, snap, hub(t, "hub1"), hub(t, "hub2"), clusters)
}

// Clusters hubmigrate must refuse, each with its reason and without one write
// to it: the hub itself, a hosted-mode klusterlet, one already on the target,
// one whose owner names no migration here (a foreign claim), and an empty
// Placement. A non-owned object at a copy's name on the target is found only
// after the claim (Deploying's collision check): that cluster is rolled back
// with CopyCollision and equals its snapshot.
func TestClustersThatAreRefused(t *testing.T) {
	ctx := context.Background()
	_, hub1 := clients(t, "hub1")
	hub2Kube, hub2 := clients(t, "hub2")
	plain := func(name string, labels, annotations map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
			"metadata": map[string]any{"name": name, "labels": labels, "annotations": annotations},
			"spec":     map[string]any{"hubAcceptsClient": false},
		}}
	}
	refused := map[string]struct {
		reason string
		obj    *unstructured.Unstructured
	}{
		"bi-hub":     {"IsHub", plain("bi-hub", map[string]any{"local-cluster": "true"}, nil)},
		"bi-hosted":  {"HostedMode", plain("bi-hosted", nil, map[string]any{"import.open-cluster-management.io/klusterlet-deploy-mode": "Hosted"})},
		"bi-dup":     {"AlreadyOnTarget", plain("bi-dup", nil, nil)},
		"bi-foreign": {"ClaimedBy", plain("bi-foreign", nil, map[string]any{reconcile.AnnOwner: "elsewhere/move/0000-1111"})},
	}
	rv := map[string]string{}
	for name, r := range refused {
		_, err := hub1.Resource(reconcile.ManagedClusterGVR).Create(ctx, r.obj, metav1.CreateOptions{})
		require.NoError(t, err)
		rv[name] = taintedUnreachable(t, hub1, name).GetResourceVersion()
	}
	_, err := hub2.Resource(reconcile.ManagedClusterGVR).Create(ctx, plain("bi-dup", nil, nil), metav1.CreateOptions{})
	require.NoError(t, err)
	dupOnTarget := taintedUnreachable(t, hub2, "bi-dup")

	importClusters(t, "hub1", sim.Singleton, "bi-collide", "bi-unseen")
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), []string{"bi-collide", "bi-unseen"})
	_, err = hub2Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bi-collide"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	theirs, err := hub2Kube.CoreV1().Secrets("bi-collide").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bmc-credentials",
		Labels: map[string]string{reconcile.LabelPreserve: ""}}, StringData: map[string]string{"owner": "someone else"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	// A ConfigMap without the preserve label at a preserved ConfigMap's name:
	// the caches do not hold it, so only the create finds it in the way.
	_, err = hub2Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bi-unseen"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	unseen, err := hub2Kube.CoreV1().ConfigMaps("bi-unseen").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "site-config"},
		Data: map[string]string{"owner": "someone else"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	c := startController(t, 30*time.Second)
	defer c.stop()
	var names []string
	for name := range refused {
		names = append(names, name)
	}
	refusals := migrationSpec{namespace: "ops", name: "refusals", from: "hub1", to: "hub2", clusters: names}
	collide := migrationSpec{namespace: "ops", name: "collide", from: "hub1", to: "hub2", clusters: []string{"bi-collide"}}
	// A stage timeout far beyond the wait below: the failure is the collision's.
	collideUnseen := migrationSpec{namespace: "ops", name: "collide-unseen", from: "hub1", to: "hub2", clusters: []string{"bi-unseen"}, stageTimeout: "30m"}

	// `hubmigrate plan` says each refusal before anything is claimed (the
	// resource versions below show it wrote nothing); the controller then
	// does what it said.
	want := map[string]string{}
	for name, r := range refused {
		want[name] = "refused:" + r.reason
	}
	for m, w := range map[*migrationSpec]map[string]string{
		&refusals: want, &collide: {"bi-collide": "refused:CopyCollision"}, &collideUnseen: {"bi-unseen": "refused:CopyCollision"},
	} {
		plan, code := planOf(t, *m)
		assert.Equal(t, 1, code, "%s: refusals exit 1", m.name)
		assert.False(t, plan.Exists)
		assert.Equal(t, w, plan.verdicts(), m.name)
	}

	createMigration(t, refusals)
	createMigration(t, collide)
	createMigration(t, migrationSpec{namespace: "ops", name: "empty", from: "hub1", to: "hub2", placement: "nothing-placed", stageTimeout: "3s"})
	createMigration(t, collideUnseen)

	m := waitMigrationPhase(t, "ops", "refusals", "Failed", time.Minute)
	var results map[string]string
	require.NoError(t, json.Unmarshal([]byte(m.GetAnnotations()[reconcile.AnnResults]), &results))
	for name, r := range refused {
		assert.Equal(t, "Failed:"+r.reason, results[name], name)
		got, err := hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, rv[name], got.GetResourceVersion(), "%s: not one write", name)
	}
	got, err := hub2.Resource(reconcile.ManagedClusterGVR).Get(ctx, "bi-dup", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, dupOnTarget.GetResourceVersion(), got.GetResourceVersion(), "the target's bi-dup untouched")
	invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), names)

	m = waitMigrationPhase(t, "ops", "collide", "Failed", 2*time.Minute)
	assert.Equal(t, `{"bi-collide":"Failed:CopyCollision"}`, m.GetAnnotations()[reconcile.AnnResults])
	checkFailedRecord(t, m, "bi-collide", "CopyCollision")
	_, err = simulator.WaitFor(ctx, "bi-collide", 30*time.Second, sim.JoinedTo("hub1"))
	require.NoError(t, err)
	secret, err := hub2Kube.CoreV1().Secrets("bi-collide").Get(ctx, "bmc-credentials", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, theirs.ResourceVersion, secret.ResourceVersion, "the object in the way is left as it was")
	_, err = hub2.Resource(reconcile.ManagedClusterGVR).Get(ctx, "bi-collide", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "no copy of the cluster on the target")
	invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), []string{"bi-collide"})

	m = waitMigrationPhase(t, "ops", "collide-unseen", "Failed", 2*time.Minute)
	assert.Equal(t, `{"bi-unseen":"Failed:CopyCollision"}`, m.GetAnnotations()[reconcile.AnnResults])
	cm, err := hub2Kube.CoreV1().ConfigMaps("bi-unseen").Get(ctx, "site-config", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, unseen.ResourceVersion, cm.ResourceVersion, "the object in the way is left as it was")
	_, err = simulator.WaitFor(ctx, "bi-unseen", 30*time.Second, sim.JoinedTo("hub1"))
	require.NoError(t, err)
	invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), []string{"bi-unseen"})

	m = waitMigrationPhase(t, "ops", "empty", "Failed", time.Minute)
	assert.Equal(t, `{"":"Failed:EmptyPlacement"}`, m.GetAnnotations()[reconcile.AnnResults])
	progress, _, _ := unstructured.NestedString(m.Object, "status", "progress")
	assert.Equal(t, "0/0", progress)
	deleteMigration(t, "ops", "empty")
	waitGone(t, "ops", "empty")
}

// taintedUnreachable waits for the hub's taint controller to mark a
// ManagedCluster without an Available condition unreachable (OCM's does,
// accepted or not): after that write, the next one to it is someone else's.
func taintedUnreachable(t *testing.T, hub dynamic.Interface, name string) *unstructured.Unstructured {
	t.Helper()
	var mc *unstructured.Unstructured
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		mc, err = hub.Resource(reconcile.ManagedClusterGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		taints, _, _ := unstructured.NestedSlice(mc.Object, "spec", "taints")
		for _, taint := range taints {
			if m, _ := taint.(map[string]any); m["key"] == sim.TaintUnreachable {
				return true, nil
			}
		}
		return false, nil
	}), "%s tainted unreachable", name)
	return mc
}
