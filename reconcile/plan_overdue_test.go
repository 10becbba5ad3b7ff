package reconcile

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Committed, Cleaning and Rollbacking clusters never time out into a
// rollback: past their stage timeout they are overdue (the condition and the
// alert), and the plan is what it would have been.
func TestPlanOverdueNeverRollsBack(t *testing.T) {
	phaseSince := since("2026-11-29T11:59:00Z") // the fixture's clock
	cases := []struct {
		name    string
		world   func(t *testing.T) *world
		after   time.Duration // from phase-since
		phase   Phase
		overdue bool
	}{
		{"committed, not registered, within Registering's 12m", func(t *testing.T) *world { return committedWaiting(t) }, 11 * time.Minute, Registering, false},
		{"committed, not registered, past 12m: overdue, no rollback", func(t *testing.T) *world { return committedWaiting(t) }, 12 * time.Minute, Registering, true},
		{"Cleaning past 5m: overdue", func(t *testing.T) *world { return cleaningSince(t) }, 5 * time.Minute, Cleaning, true},
		{"Cleaning within 5m", func(t *testing.T) *world { return cleaningSince(t) }, 4 * time.Minute, Cleaning, false},
		{"Rollbacking at the end of its bounded wait: the reason changes, not overdue",
			func(t *testing.T) *world {
				return rollingBack(t, map[string]string{AnnRestoredAt: "2026-11-29T11:59:30Z", AnnRestoreLeaseRV: "300"}, targetUnaccepted, sourceLease("300"))
			}, 5 * time.Minute, Rollbacking, false},
		{"Rollbacking past the timeout after the reason changed: overdue",
			func(t *testing.T) *world {
				return rollingBack(t, map[string]string{AnnReason: "RestoredNotReturned", AnnRestoredAt: "2026-11-29T11:59:30Z", AnnRestoreLeaseRV: "300"}, targetUnaccepted, sourceLease("300"))
			}, 5 * time.Minute, Rollbacking, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world(t)
			w.f.Now = phaseSince.Add(tc.after)
			p := PlanMigration(&w.f)
			require.Len(t, p.Clusters, 1)
			assert.Equal(t, tc.phase, p.Clusters[0].Phase)
			assert.Equal(t, tc.overdue, p.Clusters[0].Overdue)
			for _, a := range p.Actions {
				assert.NotEqual(t, "ClusterRollingBack", a.Event, "never rolled back")
			}
			cond := statusCondition(Status(p, nil, w.f.Now), StageTimeoutExceededCondition)
			if tc.overdue {
				require.NotNil(t, cond)
				assert.Contains(t, cond["message"], "c1 ("+string(tc.phase)+")")
			} else {
				assert.Nil(t, cond)
				if len(p.Actions) == 0 {
					assert.Positive(t, p.Requeue, "woken when it would become overdue")
				}
			}
		})
	}
}

// committedWaiting: committed and approved, the cluster not yet registered.
func committedWaiting(t *testing.T) *world {
	return newWorld().registering(map[string]string{AnnCommitted: "c1-aaa/uid-c1-aaa", AnnCommitLeaseRV: "500", AnnCommitWorkRV: "absent"}).csr(t, "c1-aaa", approved)
}

// cleaningSince: Cleaning, the target's clock started with the fixture's.
func cleaningSince(t *testing.T) *world {
	w := cleaning(t)
	anns := w.c().Target.MC.GetAnnotations()
	anns[AnnPhaseSince] = "2026-11-29T11:59:00Z"
	w.c().Target.MC.SetAnnotations(anns)
	return w
}

// An uncommitted cluster whose bootstrap token (read back from its Secret)
// expires within five minutes is named in TokenNearExpiry; before that the
// planner asks to be woken at the warning time; a committed one that has not
// registered is named too (SPEC Initializing: it still needs its token).
func TestPlanTokenNearExpiry(t *testing.T) {
	expires := testNow.Add(time.Hour) // the fixture's token
	w := newWorld().registering(nil)
	w.f.Now = expires.Add(-6 * time.Minute)
	w.f.Migration.StageTimeout = 2 * time.Hour // no stage timeout in the way
	p := PlanMigration(&w.f)
	require.Len(t, p.Clusters, 1)
	assert.False(t, p.Clusters[0].TokenExpiring)
	assert.Equal(t, time.Minute+10*time.Millisecond, p.Requeue, "woken at the warning time")

	w.f.Now = expires.Add(-4 * time.Minute)
	p = PlanMigration(&w.f)
	assert.True(t, p.Clusters[0].TokenExpiring)
	cond := statusCondition(Status(p, nil, w.f.Now), TokenNearExpiryCondition)
	require.NotNil(t, cond)
	assert.Contains(t, cond["message"], "c1")

	committed := committedWaiting(t)
	committed.f.Now, committed.f.Migration.StageTimeout = expires.Add(-4*time.Minute), 2*time.Hour
	assert.True(t, PlanMigration(&committed.f).Clusters[0].TokenExpiring)
}
