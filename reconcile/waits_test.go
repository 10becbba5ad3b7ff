package reconcile

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
