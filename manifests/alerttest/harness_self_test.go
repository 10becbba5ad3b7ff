package alerttest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// The harness can fail: pending is not firing, a resolved alert is gone,
// labels and expanded annotations are compared, staleness ends a series.
func TestHarnessAgreesWithPrometheusSemantics(t *testing.T) {
	dir := t.TempDir()
	rules := `groups:
- name: g
  rules:
  - alert: Down
    expr: up == 0
    for: 2m
    labels: {severity: critical}
    annotations: {summary: "{{ $labels.job }} is {{ $value }}"}
`
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	tf := &testFile{RuleFiles: []string{"r.yaml"}, EvaluationInterval: model.Duration(time.Minute)}
	firingDown := []expAlert{{ExpLabels: map[string]string{"job": "a", "severity": "critical"}, ExpAnnotations: map[string]string{"summary": "a is 0"}}}
	group := func(values string, at time.Duration, exp []expAlert) testGroup {
		return testGroup{
			InputSeries:    []inputSeries{{Series: `up{job="a"}`, Values: values}},
			AlertRuleTests: []alertRuleTest{{EvalTime: model.Duration(at), Alertname: "Down", ExpAlerts: exp}},
		}
	}
	cases := []struct {
		name   string
		group  testGroup
		passes bool
	}{
		{"down from 1m: pending at 2m", group("1 0 0 0 0", 2*time.Minute, firingDown), false},
		{"down from 1m: quiet at 2m", group("1 0 0 0 0", 2*time.Minute, nil), true},
		{"down from 1m: firing at 3m", group("1 0 0 0 0", 3*time.Minute, firingDown), true},
		{"firing at 3m30s (the evaluation at 3m)", group("1 0 0 0 0", 3*time.Minute+30*time.Second, firingDown), true},
		{"not quiet at 3m", group("1 0 0 0 0", 3*time.Minute, nil), false},
		{"up again at 3m: resolved", group("1 0 0 1 1", 3*time.Minute, nil), true},
		{"a wrong annotation", group("1 0 0 0 0", 3*time.Minute, []expAlert{{ExpLabels: firingDown[0].ExpLabels, ExpAnnotations: map[string]string{"summary": "a is 1"}}}), false},
		{"a missing label", group("1 0 0 0 0", 3*time.Minute, []expAlert{{ExpLabels: map[string]string{"job": "a"}, ExpAnnotations: firingDown[0].ExpAnnotations}}), false},
		{"stale: no series, no alert", group("1 0 0 stale", 3*time.Minute, nil), true},
		{"0 then gaps: the last sample counts for 5m (lookback)", group("1 0 _ _ _", 3*time.Minute, firingDown), true},
		{"1x3 then 0: quiet at 4m", group("1x3 0 0", 4*time.Minute, nil), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := runGroup(context.Background(), dir, tf, tc.group)
			if tc.passes && len(errs) > 0 {
				t.Errorf("want pass, got:\n%s", describe(errs))
			}
			if !tc.passes && len(errs) == 0 {
				t.Error("want a failure, got none")
			}
		})
	}
	t.Run("an unknown alert name is an error", func(t *testing.T) {
		g := group("1", time.Minute, nil)
		g.AlertRuleTests[0].Alertname = "Nope"
		errs := runGroup(context.Background(), dir, tf, g)
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), `no alerting rule "Nope"`) {
			t.Errorf("got %v", errs)
		}
	})
}
