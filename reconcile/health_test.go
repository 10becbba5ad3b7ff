package reconcile

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hubmigrate/hubmigrate/informers"
)

// Liveness fails only when migrations wait and no worker has picked or
// finished one for StallTimeout.
func TestHealthyFailsWhenTheQueueStopsDraining(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	home := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{MigrationGVR: "ManagedClusterMigrationList"})
	c := NewController(Config{Clock: clk}, home, func(informers.EventHandler, func(string)) *informers.Registry { return nil })
	defer c.queue.ShutDown()

	clk.Step(time.Hour)
	assert.NoError(t, c.Healthy(), "an empty queue is healthy however long idle")

	c.queue.Add("ops/a")
	assert.NoError(t, c.Healthy(), "queued after an hour of quiet: the workers have had no time yet")
	clk.Step(StallTimeout - time.Second)
	assert.NoError(t, c.Healthy(), "waiting, but not for StallTimeout")
	clk.Step(2 * time.Second)
	require.Error(t, c.Healthy(), "queued, and nothing picked for over StallTimeout")

	key, _ := c.queue.Get()
	c.noteProgress() // as processNextItem does when it picks one
	c.queue.Add("ops/b")
	assert.NoError(t, c.Healthy(), "a worker just picked one")
	clk.Step(StallTimeout + time.Second)
	err := c.Healthy()
	require.Error(t, err, "a worker stuck in one reconcile while another waits")
	assert.Contains(t, err.Error(), "1 migrations queued")

	c.queue.Done(key)
	next, _ := c.queue.Get()
	c.noteProgress()
	c.queue.Done(next)
	assert.NoError(t, c.Healthy(), "drained")
	clk.Step(time.Hour)
	c.queue.Add("ops/c")
	assert.NoError(t, c.Healthy(), "a new wait starts its own clock")
}
