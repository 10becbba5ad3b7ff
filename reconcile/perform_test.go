package reconcile

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordingExecutor performs nothing: it records the order of each
// cluster's actions, how many ran at once, and fails the actions named.
type recordingExecutor struct {
	mu       sync.Mutex
	order    []string // every action's Why, as it started
	byWho    map[string][]string
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	fail     map[string]bool
	hold     time.Duration
}

func (r *recordingExecutor) execute(_ context.Context, a Action) error {
	n := r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	for {
		m := r.maxSeen.Load()
		if n <= m || r.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	r.mu.Lock()
	r.order = append(r.order, a.Why)
	if r.byWho == nil {
		r.byWho = map[string][]string{}
	}
	r.byWho[a.Cluster] = append(r.byWho[a.Cluster], a.Why)
	r.mu.Unlock()
	time.Sleep(r.hold)
	if r.fail[a.Why] {
		return errors.New("failed: " + a.Why)
	}
	return nil
}

func act(cluster, why string) Action {
	return Action{Kind: Update, Hub: Source, Cluster: cluster, Why: why}
}
func homeAct(why string) Action { return Action{Kind: Update, Hub: Home, Why: why} }

func TestPerformRunsClustersSideBySideEachInOrder(t *testing.T) {
	c := &Controller{cfg: Config{ActionConcurrency: 3}}
	var plan Plan
	for _, cl := range []string{"a", "b", "c", "d", "e", "f"} {
		plan.Actions = append(plan.Actions, act(cl, cl+"1"), act(cl, cl+"2"), act(cl, cl+"3"))
	}
	ex := &recordingExecutor{hold: 20 * time.Millisecond}
	require.NoError(t, c.perform(context.Background(), nil, ex.execute, plan))
	for _, cl := range []string{"a", "b", "c", "d", "e", "f"} {
		assert.Equal(t, []string{cl + "1", cl + "2", cl + "3"}, ex.byWho[cl], "each cluster's actions in plan order")
	}
	assert.Equal(t, int32(3), ex.maxSeen.Load(), "clusters side by side, never more than the limit")
}

func TestPerformAFailingClusterStopsOnlyItself(t *testing.T) {
	c := &Controller{cfg: Config{ActionConcurrency: 2}}
	plan := Plan{Actions: []Action{act("a", "a1"), act("a", "a2"), act("b", "b1"), act("b", "b2"), act("c", "c1"), act("c", "c2")}}
	ex := &recordingExecutor{fail: map[string]bool{"a1": true, "c2": true}}
	err := c.perform(context.Background(), nil, ex.execute, plan)
	require.Error(t, err)
	assert.Equal(t, []string{"a1"}, ex.byWho["a"], "a's later action waits for the next plan")
	assert.Equal(t, []string{"b1", "b2"}, ex.byWho["b"])
	assert.Equal(t, []string{"c1", "c2"}, ex.byWho["c"])
	errs := flatten(err)
	require.Len(t, errs, 2)
	var first, second *actionError
	require.ErrorAs(t, errs[0], &first)
	require.ErrorAs(t, errs[1], &second)
	assert.Equal(t, []string{"a", "c"}, []string{first.cluster, second.cluster}, "reported in plan order")
	assert.Empty(t, othersErrors(othersErrors(err, "a"), "c"))
}

func TestPerformSharedActionsAreBarriers(t *testing.T) {
	c := &Controller{cfg: Config{ActionConcurrency: 4}}
	plan := Plan{Actions: []Action{
		homeAct("record"),
		act("a", "a1"), act("b", "b1"),
		{Kind: Delete, Hub: Target, Why: "shared"},
		act("a", "a2"), act("b", "b2"),
	}}
	ex := &recordingExecutor{hold: 5 * time.Millisecond}
	require.NoError(t, c.perform(context.Background(), nil, ex.execute, plan))
	require.Len(t, ex.order, 6)
	assert.Equal(t, "record", ex.order[0], "the migration's own write first, alone")
	assert.ElementsMatch(t, []string{"a1", "b1"}, ex.order[1:3])
	assert.Equal(t, "shared", ex.order[3], "after everything planned before it")
	assert.ElementsMatch(t, []string{"a2", "b2"}, ex.order[4:6])

	ex = &recordingExecutor{fail: map[string]bool{"shared": true}}
	err := c.perform(context.Background(), nil, ex.execute, plan)
	require.Error(t, err)
	assert.Equal(t, []string{"record", "a1", "b1", "shared"}, sortedPrefix(ex.order, 1, 3), "nothing after a failed shared action")

	ex = &recordingExecutor{fail: map[string]bool{"record": true}}
	require.Error(t, c.perform(context.Background(), nil, ex.execute, plan))
	assert.Equal(t, []string{"record"}, ex.order, "a failed write of the migration's own stops the turn")
}

// sortedPrefix sorts order[from:to] (actions that ran side by side).
func sortedPrefix(order []string, from, to int) []string {
	out := append([]string(nil), order...)
	slices.Sort(out[from:to])
	return out
}
