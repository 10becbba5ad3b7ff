package alerttest

import (
	"context"
	"os"
	"reflect"
	"testing"
	"time"

	"go.yaml.in/yaml/v2"
)

const (
	testsFile      = "hubmigrate.test.yaml"
	rulesFile      = "hubmigrate.rules.yaml"
	prometheusRule = "../base/prometheusrule.yaml"
)

// The rule file the tests (and promtool) load is the PrometheusRule's spec,
// exactly: the manifest is what ships. HUBMIGRATE_UPDATE_RULES=1 rewrites it.
func TestRulesFileIsThePrometheusRule(t *testing.T) {
	data, err := os.ReadFile(prometheusRule)
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		Spec any `yaml:"spec"`
	}
	if err := yaml.Unmarshal(data, &manifest); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("HUBMIGRATE_UPDATE_RULES") == "1" {
		out, err := yaml.Marshal(manifest.Spec)
		if err != nil {
			t.Fatal(err)
		}
		header := "# The spec of manifests/base/prometheusrule.yaml, for promtool and the rule tests.\n" +
			"# Do not edit: HUBMIGRATE_UPDATE_RULES=1 go test ./ (in manifests/alerttest) rewrites it.\n"
		if err := os.WriteFile(rulesFile, append([]byte(header), out...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err = os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules any
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(manifest.Spec, rules) {
		t.Fatalf("%s is not the spec of %s: run HUBMIGRATE_UPDATE_RULES=1 go test ./ in manifests/alerttest", rulesFile, prometheusRule)
	}
}

// Every test group of hubmigrate.test.yaml passes.
func TestAlertRules(t *testing.T) {
	tf, err := readTestFile(testsFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(tf.Tests) == 0 {
		t.Fatal("no tests")
	}
	for _, tg := range tf.Tests {
		t.Run(tg.Name, func(t *testing.T) {
			if errs := runGroup(context.Background(), ".", tf, tg); len(errs) > 0 {
				t.Error(describe(errs))
			}
		})
	}
}

// Each alert has a test where it fires and one where it does not, at an
// eval_time after its `for` has run out (a quiet test before that proves
// nothing about the expression).
func TestEveryAlertFiresAndStaysQuiet(t *testing.T) {
	tf, err := readTestFile(testsFile)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := loadRules(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	hold := map[string]time.Duration{}
	for _, r := range rules {
		hold[r.name] = r.hold
	}
	for _, tg := range tf.Tests {
		for _, at := range tg.AlertRuleTests {
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname] = true
			} else if time.Duration(at.EvalTime) > hold[at.Alertname] {
				quiet[at.Alertname] = true
			}
		}
	}
	for _, r := range rules {
		if !fires[r.name] {
			t.Errorf("%s: no test where it fires", r.name)
		}
		if !quiet[r.name] {
			t.Errorf("%s: no test where it stays quiet past its for (%s)", r.name, r.hold)
		}
	}
}
