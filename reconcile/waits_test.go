package reconcile

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/hubmigrate/hubmigrate/informers"
)

// The controller hands each plan the waits the previous plan of the same
// migration saw — not another migration's of the same name (a UID check),
// not a deleted migration's, and none once nothing waits.
func TestWaitsAreRememberedPerMigration(t *testing.T) {
	home := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{MigrationGVR: "ManagedClusterMigrationList"})
	c := NewController(Config{}, home, func(informers.EventHandler, func(string)) *informers.Registry { return nil })
	defer c.queue.ShutDown()
	m := migrationObject()
	m.SetNamespace("ops")
	m.SetUID("uid-1")
	require.NoError(t, c.migrations.GetStore().Add(m))
	key := "ops/" + m.GetName()
	seen := map[string]time.Time{"c1": testNow}

	c.rememberWaits(key, "uid-1", Plan{Waiting: seen})
	assert.Equal(t, seen, c.waitsOf(key, "uid-1"))
	assert.Nil(t, c.waitsOf(key, "uid-2"), "a migration re-created under the name starts afresh")

	c.rememberWaits(key, "uid-1", Plan{})
	assert.Nil(t, c.waitsOf(key, "uid-1"), "nothing waits: forgotten")

	c.rememberWaits(key, "uid-1", Plan{Waiting: seen})
	c.migrationChanged(m, true)
	assert.Nil(t, c.waitsOf(key, "uid-1"), "deleted: forgotten")

	// A sync in flight when its migration went from the cache leaves nothing.
	require.NoError(t, c.migrations.GetStore().Delete(m))
	c.rememberWaits(key, "uid-1", Plan{Waiting: seen})
	assert.Nil(t, c.waitsOf(key, "uid-1"))
	c.recordClocks(key, m, Plan{Clusters: []ClusterOutcome{{Name: "c1", Phase: Registering, Since: testNow}}})
	assert.Empty(t, c.ClusterClocks(), "nor a clock for the metrics")
}

// A lease renewal wakes a migration in flight (Registering and Rollbacking
// read leases) but not one that has finished; other events still do.
func TestLeaseRenewalsDoNotWakeFinishedMigrations(t *testing.T) {
	home := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{MigrationGVR: "ManagedClusterMigrationList"})
	c := NewController(Config{}, home, func(informers.EventHandler, func(string)) *informers.Registry { return nil })
	defer c.queue.ShutDown()
	add := func(name, uid string, finished bool) {
		m := migrationObject()
		m.SetName(name)
		m.SetUID(types.UID(uid))
		m.Object["spec"] = map[string]any{"from": "hub1", "to": "hub2", "includedManagedClusters": []any{"c1"}}
		if finished {
			m.SetAnnotations(map[string]string{AnnResults: `{"c1":"Completed"}`})
		}
		require.NoError(t, c.migrations.GetStore().Add(m))
		c.migrationChanged(m, false)
	}
	drain := func() []string {
		var keys []string
		for c.queue.Len() > 0 {
			k, _ := c.queue.Get()
			keys = append(keys, k)
			c.queue.Done(k)
		}
		slices.Sort(keys)
		return keys
	}
	add("done", "uid-done", true)
	add("running", "uid-running", false)
	drain()

	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "managed-cluster-lease", Namespace: "c1"}}
	c.hubEvent("hub2", lease)
	assert.Equal(t, []string{"ops/running"}, drain(), "only the migration in flight")

	mc := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster", "metadata": map[string]any{"name": "c1"}}}
	c.hubEvent("hub2", mc)
	assert.Equal(t, []string{"ops/done", "ops/running"}, drain(), "a ManagedCluster event wakes both")
}
