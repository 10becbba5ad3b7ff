package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hubmigrate/hubmigrate/envtest/invariants"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// The sources are edited after their copies were made (the cluster is
// committed, its registration held): the copies follow before Cleaning
// deletes the sources, and the migrated cluster equals its source as it was
// last edited.
func TestCopiesFollowSourceEdits(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"align-1"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	require.NoError(t, simulator.HoldImport("align-1", "hub2", true))
	defer func() { _ = simulator.HoldImport("align-1", "hub2", false) }()
	c := startController(t, 30*time.Second)
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: "align", from: "hub1", to: "hub2", clusters: clusters})
	kube1, hub1 := clients(t, "hub1")
	kube2, hub2 := clients(t, "hub2")
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		mc, err := hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, "align-1", metav1.GetOptions{})
		return err == nil && mc.GetAnnotations()[reconcile.AnnCommitted] != "", nil
	}), "align-1 commits (its copies exist)")

	require.NoError(t, retryOnConflict(func() error {
		kac, err := hub1.Resource(reconcile.KlusterletAddonConfigGVR).Namespace("align-1").Get(ctx, "align-1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		_ = unstructured.SetNestedField(kac.Object, true, "spec", "certPolicyController", "enabled")
		_, err = hub1.Resource(reconcile.KlusterletAddonConfigGVR).Namespace("align-1").Update(ctx, kac, metav1.UpdateOptions{})
		return err
	}))
	require.NoError(t, retryOnConflict(func() error {
		s, err := kube1.CoreV1().Secrets("align-1").Get(ctx, "bmc-credentials", metav1.GetOptions{})
		if err != nil {
			return err
		}
		s.Data["password"] = []byte("rotated")
		_, err = kube1.CoreV1().Secrets("align-1").Update(ctx, s, metav1.UpdateOptions{})
		return err
	}))
	require.NoError(t, retryOnConflict(func() error {
		cm, err := kube1.CoreV1().ConfigMaps("align-1").Get(ctx, "site-config", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cm.Data["site"] = "moved"
		_, err = kube1.CoreV1().ConfigMaps("align-1").Update(ctx, cm, metav1.UpdateOptions{})
		return err
	}))
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters) // the sources as last edited

	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		kac, err := hub2.Resource(reconcile.KlusterletAddonConfigGVR).Namespace("align-1").Get(ctx, "align-1", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		enabled, _, _ := unstructured.NestedBool(kac.Object, "spec", "certPolicyController", "enabled")
		s, err := kube2.CoreV1().Secrets("align-1").Get(ctx, "bmc-credentials", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		cm, err := kube2.CoreV1().ConfigMaps("align-1").Get(ctx, "site-config", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return enabled && string(s.Data["password"]) == "rotated" && cm.Data["site"] == "moved", nil
	}), "the copies follow their sources while the cluster is in flight")

	require.NoError(t, simulator.HoldImport("align-1", "hub2", false))
	m := waitMigrationPhase(t, "ops", "align", "Completed", 2*time.Minute)
	checkMigrated(t, snap, m, "hub1", "hub2", clusters)
}
