package reconcile

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func finished(name, results string) unstructured.Unstructured {
	u := unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": name}}}
	if results != "" {
		u.SetAnnotations(map[string]string{AnnResults: results})
	}
	return u
}

func TestPlanRetry(t *testing.T) {
	orig := finished("move", `{"a":"Completed","b":"Failed:RegisteringTimeout","c":"Failed:NotFound","d":"Failed:AgentRestartRequired","e":"Failed:AlreadyOnTarget"}`)
	p, err := PlanRetry(&orig, nil)
	require.NoError(t, err)
	assert.Equal(t, RetryPlan{Name: "move-retry-1", Clusters: []string{"b", "d"}}, p, "only reasons a retry can change")

	p, err = PlanRetry(&orig, []unstructured.Unstructured{finished("move-retry-1", `{"b":"Failed:RegisteringTimeout"}`), finished("other-retry-7", "")})
	require.NoError(t, err)
	assert.Equal(t, "move-retry-2", p.Name, "the next free n")

	_, err = PlanRetry(&orig, []unstructured.Unstructured{finished("move-retry-1", "")})
	assert.ErrorContains(t, err, "still running")

	running := finished("move", "")
	_, err = PlanRetry(&running, nil)
	assert.ErrorContains(t, err, "has not finished")

	allDone := finished("move", `{"a":"Completed","c":"Failed:NotFound"}`)
	_, err = PlanRetry(&allDone, nil)
	assert.ErrorContains(t, err, "no failed cluster")
}
