package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hubmigrate/hubmigrate/reconcile"
)

// What a stale leader made for a migration that no longer exists is swept
// from the hubs; objects of another home, and copies of committed clusters,
// are left alone.
func TestSweepOfAStaleLeadersObjects(t *testing.T) {
	ctx := context.Background()
	kube, dyn := clients(t, "hub2")
	gone := "0ddba11-0000-4000-8000-000000000000"
	ours := map[string]string{reconcile.LabelHome: "e2e-home", reconcile.LabelMigrationUID: gone}
	theirs := map[string]string{reconcile.LabelHome: "another-home", reconcile.LabelMigrationUID: gone}
	mk := func(name string, labels map[string]string) {
		_, err := kube.CoreV1().Secrets("open-cluster-management").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	mk("hubmigrate-stale-0ddba11", ours)
	mk("hubmigrate-foreign-0ddba11", theirs)
	_, err := kube.CoreV1().ServiceAccounts("open-cluster-management").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "hubmigrate-0ddba11", Labels: ours}}, metav1.CreateOptions{})
	require.NoError(t, err)
	copyOf := func(name string, committed bool) {
		mc := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
			"metadata": map[string]any{"name": name}, "spec": map[string]any{"hubAcceptsClient": true},
		}}
		mc.SetLabels(ours)
		anns := map[string]string{reconcile.AnnOwner: "ops/gone/" + gone}
		if committed {
			anns[reconcile.AnnCommitted] = "csr/uid"
		}
		mc.SetAnnotations(anns)
		_, err := dyn.Resource(reconcile.ManagedClusterGVR).Create(ctx, mc, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	copyOf("stale-copy", false)
	copyOf("stale-committed", true)

	c := startController(t, 2*time.Second)
	defer c.stop()
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, e1 := kube.CoreV1().Secrets("open-cluster-management").Get(ctx, "hubmigrate-stale-0ddba11", metav1.GetOptions{})
		_, e2 := kube.CoreV1().ServiceAccounts("open-cluster-management").Get(ctx, "hubmigrate-0ddba11", metav1.GetOptions{})
		mc, e3 := dyn.Resource(reconcile.ManagedClusterGVR).Get(ctx, "stale-copy", metav1.GetOptions{})
		gone := apierrors.IsNotFound(e3) || (e3 == nil && mc.GetDeletionTimestamp() != nil)
		return apierrors.IsNotFound(e1) && apierrors.IsNotFound(e2) && gone, nil
	}), "the stale leader's scaffolding and uncommitted copy are swept")
	_, err = kube.CoreV1().Secrets("open-cluster-management").Get(ctx, "hubmigrate-foreign-0ddba11", metav1.GetOptions{})
	assert.NoError(t, err, "another home's object is never touched")
	mc, err := dyn.Resource(reconcile.ManagedClusterGVR).Get(ctx, "stale-committed", metav1.GetOptions{})
	require.NoError(t, err, "a committed copy is the cluster's")
	accepted, _, _ := unstructured.NestedBool(mc.Object, "spec", "hubAcceptsClient")
	assert.True(t, accepted)
}
