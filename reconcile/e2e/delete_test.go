package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hubmigrate/hubmigrate/envtest/invariants"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

func waitGone(t *testing.T, namespace, name string) {
	t.Helper()
	_, dyn := clients(t, "home")
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := dyn.Resource(reconcile.MigrationGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}), "migration %s/%s released", namespace, name)
}

func deleteMigration(t *testing.T, namespace, name string) {
	t.Helper()
	_, dyn := clients(t, "home")
	require.NoError(t, dyn.Resource(reconcile.MigrationGVR).Namespace(namespace).Delete(context.Background(), name, metav1.DeleteOptions{}))
}

// Deleting a running migration: the committed cluster finishes, the one not
// committed is rolled back, every marker goes, then the object is released.
func TestDeleteMidRegistering(t *testing.T) {
	ctx := context.Background()
	importClusters(t, "hub1", sim.Singleton, "del-done")
	importClusters(t, "hub1", sim.Default, "del-stuck")
	require.NoError(t, simulator.NeverFileCSROn("del-stuck", "hub2", true))
	clusters := []string{"del-done", "del-stuck"}
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	c := startController(t, 30*time.Second)
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: "deleted", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "2m"})
	_, hub2 := clients(t, "hub2")
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		mc, err := hub2.Resource(reconcile.ManagedClusterGVR).Get(ctx, "del-done", metav1.GetOptions{})
		return err == nil && mc.GetLabels()[reconcile.LabelPhase] == "Completed" && sourceLabel(t, "del-stuck") == "Registering", nil
	}), "one cluster completed, the other waiting in Registering")
	_, homeDyn := clients(t, "home")
	m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, "deleted", metav1.GetOptions{})
	require.NoError(t, err)
	deleteMigration(t, "ops", "deleted")
	waitGone(t, "ops", "deleted")

	mc, err := hub2.Resource(reconcile.ManagedClusterGVR).Get(ctx, "del-done", metav1.GetOptions{})
	require.NoError(t, err, "the completed cluster stays on the target")
	assert.NotContains(t, mc.GetLabels(), reconcile.LabelPhase, "its record is removed")
	assert.NotContains(t, mc.GetAnnotations(), reconcile.AnnOwner)
	_, hub1 := clients(t, "hub1")
	back, err := hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, "del-stuck", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotContains(t, back.GetLabels(), reconcile.LabelPhase, "no Failed record once the migration is gone")
	invariants.CheckRolledBack(t, snap, hub(t, "hub1"), hub(t, "hub2"), []string{"del-stuck"})
	invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), clusters)
	_, err = simulator.WaitFor(ctx, "del-stuck", 30*time.Second, sim.JoinedTo("hub1"))
	require.NoError(t, err)
	_, err = simulator.WaitFor(ctx, "del-done", 30*time.Second, sim.JoinedTo("hub2"))
	require.NoError(t, err)
}

// annotateMigration sets one annotation on a migration, as a user would.
func annotateMigration(t *testing.T, namespace, name, key, value string) {
	t.Helper()
	_, dyn := clients(t, "home")
	require.NoError(t, retryOnConflict(func() error {
		m, err := dyn.Resource(reconcile.MigrationGVR).Namespace(namespace).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		anns := m.GetAnnotations()
		if anns == nil {
			anns = map[string]string{}
		}
		anns[key] = value
		m.SetAnnotations(anns)
		_, err = dyn.Resource(reconcile.MigrationGVR).Namespace(namespace).Update(context.Background(), m, metav1.UpdateOptions{})
		return err
	}))
}
