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
// from the hubs the migrations name — only scaffolding, proven by its name,
// namespace and labels. Objects of another home, objects that only carry
// the labels (anyone can copy them off an in-flight copy), and ManagedClusters
// (committed or not) are never touched.
func TestSweepOfAStaleLeadersObjects(t *testing.T) {
	ctx := context.Background()
	kube, dyn := clients(t, "hub2")
	gone := "0ddba11a-0000-4000-8000-000000000000"
	ours := map[string]string{reconcile.LabelHome: homeID(t), reconcile.LabelMigrationUID: gone}
	theirs := map[string]string{reconcile.LabelHome: "another-home", reconcile.LabelMigrationUID: gone}
	// The stale leader held the seal key; an attacker does not.
	sealer := homeSealer(t)
	mk := func(name string, labels map[string]string, sealed bool) string {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "open-cluster-management", Labels: labels}}
		if sealed {
			sealer.Seal("secrets", secret)
		}
		s, err := kube.CoreV1().Secrets("open-cluster-management").Create(ctx, secret, metav1.CreateOptions{})
		require.NoError(t, err)
		return s.ResourceVersion
	}
	mk("hubmigrate-stale-0ddba11a", ours, true)
	mk("hubmigrate-foreign-0ddba11a", theirs, true)
	preciousRV := mk("precious", ours, true)                        // the attack: our labels on someone's Secret
	lookalikeRV := mk("hubmigrate-lookalike-0ddba11a", ours, false) // a scaffolding name and our labels, no seal
	defer func() {
		_ = kube.CoreV1().Secrets("open-cluster-management").Delete(ctx, "hubmigrate-lookalike-0ddba11a", metav1.DeleteOptions{})
	}()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "hubmigrate-0ddba11a", Namespace: "open-cluster-management", Labels: ours}}
	sealer.Seal("serviceaccounts", sa)
	_, err := kube.CoreV1().ServiceAccounts("open-cluster-management").Create(ctx, sa, metav1.CreateOptions{})
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

	// The sweep looks only at hubs a migration names.
	createMigration(t, migrationSpec{namespace: "ops", name: "sweep-names-hub2", from: "hub1", to: "hub2", clusters: []string{"sweep-absent"}})
	c := startController(t, 2*time.Second)
	defer c.stop()
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, e1 := kube.CoreV1().Secrets("open-cluster-management").Get(ctx, "hubmigrate-stale-0ddba11a", metav1.GetOptions{})
		_, e2 := kube.CoreV1().ServiceAccounts("open-cluster-management").Get(ctx, "hubmigrate-0ddba11a", metav1.GetOptions{})
		return apierrors.IsNotFound(e1) && apierrors.IsNotFound(e2), nil
	}), "the stale leader's scaffolding is swept")
	_, err = kube.CoreV1().Secrets("open-cluster-management").Get(ctx, "hubmigrate-foreign-0ddba11a", metav1.GetOptions{})
	assert.NoError(t, err, "another home's object is never touched")
	precious, err := kube.CoreV1().Secrets("open-cluster-management").Get(ctx, "precious", metav1.GetOptions{})
	require.NoError(t, err, "labels alone prove nothing")
	assert.Equal(t, preciousRV, precious.ResourceVersion)
	lookalike, err := kube.CoreV1().Secrets("open-cluster-management").Get(ctx, "hubmigrate-lookalike-0ddba11a", metav1.GetOptions{})
	require.NoError(t, err, "name and labels without the seal prove nothing")
	assert.Equal(t, lookalikeRV, lookalike.ResourceVersion)
	for _, name := range []string{"stale-copy", "stale-committed"} {
		// (OCM's hub controller writes to an accepted ManagedCluster, so its
		// resourceVersion moves; hubmigrate's writes would unaccept or delete.)
		mc, err := dyn.Resource(reconcile.ManagedClusterGVR).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err, "a ManagedCluster is never swept")
		accepted, _, _ := unstructured.NestedBool(mc.Object, "spec", "hubAcceptsClient")
		assert.True(t, accepted, "%s stays accepted", name)
		assert.Nil(t, mc.GetDeletionTimestamp(), "%s is not being deleted", name)
		require.NoError(t, dyn.Resource(reconcile.ManagedClusterGVR).Delete(ctx, name, metav1.DeleteOptions{}))
	}
	require.NoError(t, kube.CoreV1().Secrets("open-cluster-management").Delete(ctx, "precious", metav1.DeleteOptions{}))
	deleteMigration(t, "ops", "sweep-names-hub2")
	waitGone(t, "ops", "sweep-names-hub2")
}
