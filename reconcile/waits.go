package reconcile

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// waits is a migration's memory of its unclaimed clusters' waits: when this
// process first saw each waiting on something transient. It is not progress
// — nothing is done on its word, and losing it (a restart) only restarts a
// wait — but it is what lets a wait be measured as observed rather than from
// the migration's start, so a cluster is never failed for the time hubmigrate
// took to look at it (planner: waitedOut).
type waits struct {
	uid   types.UID
	since map[string]time.Time
}

// waitsOf are the waits the last plan of this migration (this UID) saw.
func (c *Controller) waitsOf(key string, uid types.UID) map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.waits[key]
	if !ok || w.uid != uid {
		return nil
	}
	return w.since
}

// rememberWaits keeps the plan's waits: a cluster no longer waiting is
// dropped, so a wait that ends and comes back starts again.
func (c *Controller) rememberWaits(key string, uid types.UID, plan Plan) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(plan.Waiting) == 0 || !c.storedLocked(key) {
		delete(c.waits, key)
		return
	}
	c.waits[key] = waits{uid: uid, since: plan.Waiting}
}

// storedLocked: the migration is still in the cache. Asked under c.mu, it
// keeps a sync that was in flight when its migration was deleted from
// leaving memory behind: the informer removes the object from its store
// before migrationChanged forgets the key under the same lock.
func (c *Controller) storedLocked(key string) bool {
	_, exists, err := c.migrations.GetStore().GetByKey(key)
	return err == nil && exists
}
