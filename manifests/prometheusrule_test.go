package manifests_test

import (
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/hubmigrate/hubmigrate/manifests"
	"github.com/hubmigrate/hubmigrate/metrics"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// The alert rules use only metrics hubmigrate exposes and condition types
// it writes, and each says how serious it is and what it is about.
func TestPrometheusRuleUsesWhatExists(t *testing.T) {
	var rule struct {
		APIVersion string `json:"apiVersion"`
		Kind       string
		Metadata   map[string]any
		Spec       struct {
			Groups []struct {
				Name  string
				Rules []struct {
					Alert       string
					Expr        string
					For         string
					Labels      map[string]string
					Annotations map[string]string
				}
			}
		}
	}
	require.NoError(t, yaml.UnmarshalStrict(manifests.PrometheusRule, &rule))
	assert.Equal(t, "PrometheusRule", rule.Kind)
	conditionTypes := []string{reconcile.HubsReadyCondition, reconcile.StageTimeoutExceededCondition, reconcile.TokenNearExpiryCondition, reconcile.UnsealedMarkersCondition, "AgentRestartRequired", "AmbiguousRegistration"}
	metricName := regexp.MustCompile(`hubmigrate_[a-z_]+`)
	typeValue := regexp.MustCompile(`type="([A-Za-z]+)"`)
	alerts := 0
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			alerts++
			assert.NotEmpty(t, r.Alert)
			assert.Contains(t, []string{"info", "warning", "critical"}, r.Labels["severity"], r.Alert)
			assert.NotEmpty(t, r.Annotations["summary"], r.Alert)
			names := metricName.FindAllString(r.Expr, -1)
			require.NotEmpty(t, names, r.Alert)
			for _, n := range names {
				assert.True(t, slices.Contains(metrics.Names(), n), "%s uses %s, which hubmigrate does not expose", r.Alert, n)
			}
			for _, m := range typeValue.FindAllStringSubmatch(r.Expr, -1) {
				assert.Contains(t, conditionTypes, m[1], "%s: condition type", r.Alert)
			}
		}
	}
	assert.GreaterOrEqual(t, alerts, 5)
}
