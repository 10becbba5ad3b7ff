package e2e

import (
	"context"
	"crypto/rand"
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
	"k8s.io/client-go/util/retry"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// homeSealer is the Sealer of the seal key on home — made here, as the
// controller makes it at its first start, when no controller has run yet.
// Tests use it to plant what a stale leader (which holds the key) would
// have made; an attacker does not have it.
func homeSealer(t *testing.T) *reconcile.Sealer {
	t.Helper()
	ctx := context.Background()
	kube, _ := clients(t, "home")
	secrets := kube.CoreV1().Secrets(envtest.ProductNamespace)
	secret, err := secrets.Get(ctx, reconcile.SealKeySecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		secret, err = secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: reconcile.SealKeySecret},
			Data: map[string][]byte{"current": key}}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			secret, err = secrets.Get(ctx, reconcile.SealKeySecret, metav1.GetOptions{})
		}
	}
	require.NoError(t, err)
	s, err := reconcile.SealerFromSecret(secret)
	require.NoError(t, err)
	return s
}

// SPEC "Trust boundaries" rule 1, on real API servers: markers someone else
// wrote are never acted on. (a) A target ManagedCluster made before the
// claim, carrying the migration's owner (15.3c: it stuck the migration and
// its finalizer for ever): the cluster fails as claimed by someone else and
// the deletion goes through, leaving that object alone. (b) A commit forged
// on the target copy of an in-flight cluster (15.3a: it sent the cluster to
// Cleaning and deleted the source): the cluster is held, with the
// UnsealedMarkers condition and a Warning Event, and nothing is deleted;
// once the forged marker is removed the seal verifies again and the cluster
// completes.
func TestForgedMarkersAreNotActedOn(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"forge-held", "forge-pre"}
	importClusters(t, "hub1", sim.Default, clusters...)
	_, hub1 := clients(t, "hub1")
	_, hub2 := clients(t, "hub2")
	_, homeDyn := clients(t, "home")

	require.NoError(t, simulator.NeverFileCSROn("forge-held", "hub2", true))
	defer func() { _ = simulator.NeverFileCSROn("forge-held", "hub2", false) }()
	createMigration(t, migrationSpec{namespace: "ops", name: "forged", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "10m"})
	m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, "forged", metav1.GetOptions{})
	require.NoError(t, err)
	owner := "ops/forged/" + string(m.GetUID())

	// (a) Before any controller has seen the migration.
	pre := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
		"metadata": map[string]any{"name": "forge-pre",
			"labels":      map[string]any{reconcile.LabelMigrationUID: string(m.GetUID()), reconcile.LabelPhase: "Cleaning"},
			"annotations": map[string]any{reconcile.AnnOwner: owner, reconcile.AnnCommitted: "forged/uid"}},
		"spec": map[string]any{"hubAcceptsClient": false},
	}}
	_, err = hub2.Resource(reconcile.ManagedClusterGVR).Create(ctx, pre, metav1.CreateOptions{})
	require.NoError(t, err)
	defer func() {
		_ = hub2.Resource(reconcile.ManagedClusterGVR).Delete(ctx, "forge-pre", metav1.DeleteOptions{})
	}()

	c := startController(t, 2*time.Second)
	defer c.stop()
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		return sourceLabel(t, "forge-held") == "Registering", nil
	}), "forge-held reaches Registering (its agent files no CSR on hub2)")
	status := failedCluster(t, "ops", "forged", "forge-pre")
	assert.Equal(t, "ClaimedBy", status["reason"], "%v", status)
	src, err := hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, "forge-pre", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotContains(t, src.GetAnnotations(), reconcile.AnnOwner, "forge-pre is never claimed")

	// (b) A commit forged on the target copy, by someone who may update it.
	// The controller may be mirroring the source's phase onto the copy at
	// the same moment: the forger retries on conflict, as kubectl edit would.
	require.NoError(t, editAnnotations(ctx, hub2, "forge-held", func(anns map[string]string) {
		anns[reconcile.AnnCommitted] = "forged/uid"
	}))
	cond := waitCondition(t, "ops", "forged", reconcile.UnsealedMarkersCondition, time.Minute, "forge-held", "managedclusters forge-held on the target hub")
	assert.Equal(t, reconcile.UnsealedMarkersReason, cond["reason"])
	waitEvent(t, "ops", "forged", reconcile.UnsealedMarkersReason, "forge-held")
	time.Sleep(3 * time.Second) // past a resync
	src, err = hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, "forge-held", metav1.GetOptions{})
	require.NoError(t, err, "the source is not deleted on a forged word")
	assert.Equal(t, "Registering", src.GetLabels()[reconcile.LabelPhase], "held where it is")
	assert.NotContains(t, src.GetAnnotations(), reconcile.AnnCommitted)
	held, err := hub2.Resource(reconcile.ManagedClusterGVR).Get(ctx, "forge-held", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Nil(t, held.GetDeletionTimestamp())
	// (The copy's label may still be Deploying: held, nothing is mirrored.)
	assert.NotContains(t, []string{"Cleaning", "Completed"}, held.GetLabels()[reconcile.LabelPhase], "the forged copy is not Cleaning")

	// The admin's resolution: the marker nobody sealed removed (managed
	// fields name who wrote it), the cluster moves on.
	require.NoError(t, editAnnotations(ctx, hub2, "forge-held", func(anns map[string]string) {
		delete(anns, reconcile.AnnCommitted)
	}))
	require.NoError(t, simulator.NeverFileCSROn("forge-held", "hub2", false))
	done := waitMigrationPhase(t, "ops", "forged", "Failed", 3*time.Minute) // forge-pre failed; forge-held done
	assert.Equal(t, `{"forge-held":"Completed","forge-pre":"Failed:ClaimedBy"}`, done.GetAnnotations()[reconcile.AnnResults])

	deleteMigration(t, "ops", "forged")
	waitGone(t, "ops", "forged")
	left, err := hub2.Resource(reconcile.ManagedClusterGVR).Get(ctx, "forge-pre", metav1.GetOptions{})
	require.NoError(t, err, "someone else's object is never deleted")
	assert.Equal(t, "forged/uid", left.GetAnnotations()[reconcile.AnnCommitted], "nor changed")
	assert.Equal(t, owner, left.GetAnnotations()[reconcile.AnnOwner])
}

// editAnnotations changes a ManagedCluster's annotations as an admin's
// `kubectl edit` would: read, change, write, again on a conflict.
func editAnnotations(ctx context.Context, hub dynamic.Interface, name string, edit func(map[string]string)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mc, err := hub.Resource(reconcile.ManagedClusterGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		anns := mc.GetAnnotations()
		if anns == nil {
			anns = map[string]string{}
		}
		edit(anns)
		mc.SetAnnotations(anns)
		_, err = hub.Resource(reconcile.ManagedClusterGVR).Update(ctx, mc, metav1.UpdateOptions{})
		return err
	})
}

// failedCluster is one cluster's entry in a migration's failedClusters
// (which also lists the clusters held for a reason).
func failedCluster(t *testing.T, namespace, name, cluster string) map[string]any {
	t.Helper()
	_, homeDyn := clients(t, "home")
	var found map[string]any
	_ = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		list, _, _ := unstructured.NestedSlice(m.Object, "status", "failedClusters")
		for _, entry := range list {
			if e, _ := entry.(map[string]any); e["name"] == cluster {
				found = e
				return true, nil
			}
		}
		return false, nil
	})
	require.NotNil(t, found, "%s/%s lists no failure of %s", namespace, name, cluster)
	return found
}

// waitEvent waits for an Event of that reason on the migration whose
// message names every one of names.
func waitEvent(t *testing.T, namespace, name, reason string, names ...string) {
	t.Helper()
	kube, _ := clients(t, "home")
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		events, err := kube.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
		if err != nil {
			return false, nil
		}
		for _, e := range events.Items {
			if e.Reason != reason {
				continue
			}
			all := true
			for _, n := range names {
				all = all && strings.Contains(e.Message, n)
			}
			if all {
				return true, nil
			}
		}
		return false, nil
	}), "an Event %s on %s/%s naming %v", reason, namespace, name, names)
}
