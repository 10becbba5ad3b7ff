package manifests_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/hubmigrate/hubmigrate/manifests"
	"github.com/hubmigrate/hubmigrate/metrics"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// The alert rules use only metrics hubmigrate exposes and condition types
// it writes, and each says how serious it is and what it is about.
// Every alert links its runbook: a section of this page.
const (
	runbookDoc  = "docs/when-a-migration-fails.md"
	runbookBase = "https://github.com/hubmigrate/hubmigrate/blob/main/" + runbookDoc + "#"
)

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
	doc, err := os.ReadFile("../" + runbookDoc)
	require.NoError(t, err)
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if heading, ok := strings.CutPrefix(line, "#"); ok {
			// GitHub's anchor: lower case, spaces to dashes, other punctuation dropped.
			slug := strings.Map(func(r rune) rune {
				switch {
				case r == ' ':
					return '-'
				case r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r):
					return unicode.ToLower(r)
				}
				return -1
			}, strings.TrimSpace(strings.TrimLeft(heading, "#")))
			anchors[slug] = true
		}
	}
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
			anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookBase)
			assert.True(t, ok, "%s: runbook_url %q is not a section of %s", r.Alert, r.Annotations["runbook_url"], runbookDoc)
			assert.True(t, anchors[anchor], "%s: %s has no section #%s", r.Alert, runbookDoc, anchor)
			names := metricName.FindAllString(r.Expr, -1)
			if len(names) == 0 {
				// Only the alert on the scrape itself uses no gauge of hubmigrate's.
				assert.Contains(t, r.Expr, `up{job="hubmigrate-metrics"}`, r.Alert)
			}
			for _, n := range names {
				assert.True(t, slices.Contains(metrics.Names(), n), "%s uses %s, which hubmigrate does not expose", r.Alert, n)
			}
			for _, m := range typeValue.FindAllStringSubmatch(r.Expr, -1) {
				assert.Contains(t, conditionTypes, m[1], "%s: condition type", r.Alert)
			}
		}
	}
	assert.GreaterOrEqual(t, alerts, 5)
	assert.Contains(t, string(manifests.PrometheusRule), `absent(up{job="hubmigrate-metrics"} == 1)`, "an alert that does not need hubmigrate's own gauges")
}
