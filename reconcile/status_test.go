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
