package reconcile

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestStatusFromOutcomes(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	s := Status(Plan{Clusters: []ClusterOutcome{{Name: "a", Phase: Completed}, {Name: "b", Phase: Registering}, {Name: "c", Phase: Deploying}}}, nil, now)
	assert.Equal(t, "Deploying", s["phase"], "the earliest phase any cluster is in")
	assert.Equal(t, "1/3", s["progress"])
	conds := map[string]string{}
	for _, c := range s["conditions"].([]any) {
		m := c.(map[string]any)
		conds[m["type"].(string)] = m["status"].(string)
	}
	assert.Equal(t, map[string]string{"MigrationStarted": "True", "ResourceValidated": "True", "ResourceInitialized": "True",
		"ResourceDeployed": "False", "ClusterRegistered": "False", "ResourceCleaned": "False"}, conds)

	done := Status(Plan{Clusters: []ClusterOutcome{{Name: "a", Phase: Completed}, {Name: "b", Phase: Completed}}}, s["conditions"].([]any), now.Add(time.Minute))
	assert.Equal(t, "Completed", done["phase"])
	for _, c := range done["conditions"].([]any) {
		m := c.(map[string]any)
		assert.Equal(t, "True", m["status"], m["type"])
		if m["type"] == "ResourceValidated" {
			assert.Equal(t, "2026-11-29T12:00:00Z", m["lastTransitionTime"], "kept while the status is unchanged")
		}
		if m["type"] == "ResourceCleaned" {
			assert.Equal(t, "2026-11-29T12:01:00Z", m["lastTransitionTime"])
		}
	}
	failed := Status(Plan{Clusters: []ClusterOutcome{{Name: "a", Phase: Completed}, {Name: "b", Phase: Failed, Reason: "ClaimedBy"}}}, nil, now)
	assert.Equal(t, "Failed", failed["phase"])
	assert.Len(t, failed["failedClusters"], 1)
}

// Global Hub's ResourceRolledBack: absent until a claimed cluster rolls
// back; False while any is rolling back, True once all are back. A failure
// before a claim is no rollback.
func TestResourceRolledBackCondition(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	find := func(s map[string]any) map[string]any {
		for _, c := range s["conditions"].([]any) {
			if m := c.(map[string]any); m["type"] == ResourceRolledBackCondition {
				return m
			}
		}
		return nil
	}
	assert.Nil(t, find(Status(Plan{Clusters: []ClusterOutcome{{Name: "a", Phase: Completed}, {Name: "b", Phase: Failed, Reason: "ClaimedBy"}}}, nil, now)))
	rolling := find(Status(Plan{Clusters: []ClusterOutcome{{Name: "a", Phase: Rollbacking, RolledBack: true}, {Name: "b", Phase: Failed, RolledBack: true}}}, nil, now))
	assert.Equal(t, "False", rolling["status"])
	assert.Equal(t, "rolling back to the source: a", rolling["message"])
	back := find(Status(Plan{Clusters: []ClusterOutcome{{Name: "a", Phase: Failed, RolledBack: true}, {Name: "b", Phase: Failed, Reason: "NotFound"}}}, nil, now))
	assert.Equal(t, "True", back["status"])
	assert.Equal(t, "rolled back to the source: a", back["message"])

	// From the planner: live, and from the results of a finished migration.
	w := newWorld().registering(map[string]string{AnnReason: "RegisteringTimeout"})
	p := PlanMigration(&w.f)
	assert.True(t, p.Clusters[0].RolledBack, "a cluster rolling back")
	p = PlanMigration(&newWorld().registering(nil).f)
	assert.False(t, p.Clusters[0].RolledBack, "a cluster moving forward: %+v", p.Clusters[0])
	w = newWorld()
	w.f.Migration.Annotations[AnnResults] = `{"c1":"Failed:RegisteringTimeout","c2":"Failed:NotFound","c3":"Completed"}`
	w.f.Migration.Annotations[AnnUnclaimedFailures] = `{"c2":"NotFound"}`
	for _, o := range PlanMigration(&w.f).Clusters {
		assert.Equal(t, o.Name == "c1", o.RolledBack, o.Name)
	}
	w = newWorld()
	w.c().Source.MC = nil
	p = PlanMigration(&w.f)
	assert.False(t, p.Clusters[0].RolledBack, "failed before a claim: %+v", p.Clusters[0])
}

// A finished migration's status is the same every time it is computed from
// its results (a Go map): else each reconcile rewrites it, which wakes the
// next reconcile — a write loop (seen in CI, where the migration's condition
// listed its rolled-back clusters in map order).
func TestStatusOfResultsIsStable(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	w := newWorld()
	w.f.Migration.Annotations[AnnResults] = `{"e":"Failed:RegisteringTimeout","a":"Failed:DeployingTimeout","d":"Completed","c":"Failed:CopyCollision","b":"Failed:InitializingTimeout"}`
	first := Status(PlanMigration(&w.f), nil, now)
	for range 20 {
		assert.Equal(t, first, Status(PlanMigration(&w.f), nil, now))
	}
	var names []string
	for _, o := range PlanMigration(&w.f).Clusters {
		names = append(names, o.Name)
	}
	assert.Equal(t, []string{"a", "b", "c", "d", "e"}, names)
}

// The progress column counts what did not go forward; the oldest clock of
// a cluster still in flight is shown (`kubectl get mcm -o wide`).
func TestStatusProgressAndOldestPhaseSince(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return now.Add(time.Duration(-m) * time.Minute) }
	s := Status(Plan{Clusters: []ClusterOutcome{
		{Name: "a", Phase: Completed, Since: at(30)},
		{Name: "b", Phase: Failed, Reason: "ClaimedBy", Since: at(40)},
		{Name: "c", Phase: Rollbacking, Reason: "RegisteringTimeout", Since: at(5)},
		{Name: "d", Phase: Registering, Since: at(7)},
		{Name: "e", Phase: Deploying},
	}}, nil, now)
	assert.Equal(t, "1/5 (1 failed, 1 rolling back)", s["progress"])
	assert.Equal(t, "2026-11-29T11:53:00Z", s["oldestPhaseSince"], "the oldest of the clusters still in flight")

	s = Status(Plan{Clusters: []ClusterOutcome{{Name: "a", Phase: Completed, Since: at(3)}, {Name: "b", Phase: Failed, Since: at(9)}}}, nil, now)
	assert.Equal(t, "1/2 (1 failed)", s["progress"])
	assert.NotContains(t, s, "oldestPhaseSince", "nothing in flight")
	s = Status(Plan{Clusters: []ClusterOutcome{{Name: "a", Phase: Rollbacking, Since: at(1)}}}, nil, now)
	assert.Equal(t, "0/1 (1 rolling back)", s["progress"])
}
