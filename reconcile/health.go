package reconcile

import (
	"fmt"
	"strings"
	"time"
)

// StallTimeout is how long migrations may wait in the queue while no worker
// picks or finishes one before the controller calls itself unhealthy (its
// liveness probe fails and the kubelet restarts it): no reconcile takes
// that long, and a restart loses nothing.
const StallTimeout = 5 * time.Minute

// Ready says whether the controller acts on facts: the migrations' cache has
// synced, and no hub a migration names is still filling its caches for the
// first time. A hub that cannot be used (no credential, unreachable, not an
// ACM hub) is a fact the migrations' status reports, not unreadiness: an
// unready pod would drop out of the metrics Service's endpoints, and its
// alerts with it.
func (c *Controller) Ready() error {
	if !c.migrations.HasSynced() {
		return fmt.Errorf("the migrations' cache has not synced")
	}
	var syncing []string
	for _, name := range c.hubsNamed() {
		var hf HubFacts
		_, _ = c.hubFacts(name, &hf)
		if hf.Problem == "HubSyncing" {
			syncing = append(syncing, name)
		}
	}
	if len(syncing) > 0 {
		return fmt.Errorf("hub caches syncing: %s", strings.Join(syncing, ", "))
	}
	return nil
}

// Healthy fails when migrations have waited in the queue, as seen by this
// probe and the ones before it, for StallTimeout while no worker picked or
// finished one: the workers are stuck. (A migration queued after a long
// quiet spell is not a stall: the wait counts from when a probe first saw
// the queue non-empty.)
func (c *Controller) Healthy() error {
	now := c.cfg.Clock.Now()
	waiting := c.queue.Len()
	if waiting == 0 {
		c.waitingSince.Store(0)
		return nil
	}
	c.waitingSince.CompareAndSwap(0, now.UnixNano())
	since := time.Unix(0, max(c.waitingSince.Load(), c.lastProgress.Load()))
	if idle := now.Sub(since); idle > StallTimeout {
		return fmt.Errorf("%d migrations queued and no reconcile picked or finished for %s", waiting, idle.Round(time.Second))
	}
	return nil
}

// noteProgress records that a worker picked or finished a migration.
func (c *Controller) noteProgress() { c.lastProgress.Store(c.cfg.Clock.Now().UnixNano()) }
