package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// Whoever may create a ManagedClusterMigration in some namespace of home
// must not borrow the hub credentials: only migrations in the configured
// namespaces (here "ops") are acted on. One elsewhere gets a Warning Event
// and nothing else — no finalizer, no status, not one write to its cluster.
func TestMigrationOutOfScopeIsIgnored(t *testing.T) {
	ctx := context.Background()
	importClusters(t, "hub1", sim.Singleton, "scope-1")
	_, hub1 := clients(t, "hub1")

	c := startController(t, 2*time.Second)
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "elsewhere", name: "borrowed", from: "hub1", to: "hub2", clusters: []string{"scope-1"}})

	homeKube, homeDyn := clients(t, "home")
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		events, err := homeKube.CoreV1().Events("elsewhere").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "borrowed").String()})
		if err != nil {
			return false, nil
		}
		for _, e := range events.Items {
			if e.Reason == "OutOfScope" && e.Type == corev1.EventTypeWarning {
				return true, nil
			}
		}
		return false, nil
	}), "a Warning Event says the migration is ignored")
	time.Sleep(3 * time.Second) // past a resync of the controller
	m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("elsewhere").Get(ctx, "borrowed", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, m.GetFinalizers(), "no finalizer")
	assert.Nil(t, m.Object["status"], "no status")
	after, err := hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, "scope-1", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotContains(t, after.GetAnnotations(), reconcile.AnnOwner, "never claimed")
	assert.NotContains(t, after.GetLabels(), reconcile.LabelPhase)
	require.NoError(t, homeDyn.Resource(reconcile.MigrationGVR).Namespace("elsewhere").Delete(ctx, "borrowed", metav1.DeleteOptions{}))
	waitGone(t, "elsewhere", "borrowed")
}
