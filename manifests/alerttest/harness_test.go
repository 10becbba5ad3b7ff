package alerttest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/template"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
	"go.yaml.in/yaml/v2"
)

// The subset of promtool's rule-test file this harness reads: alerting rule
// tests (alert_rule_test). A field it does not know is an error, so a test
// written for promtool's other features fails here instead of passing unread.
type testFile struct {
	RuleFiles          []string       `yaml:"rule_files"`
	EvaluationInterval model.Duration `yaml:"evaluation_interval"`
	Tests              []testGroup    `yaml:"tests"`
}

type testGroup struct {
	Name           string          `yaml:"name"`
	Interval       model.Duration  `yaml:"interval"`
	InputSeries    []inputSeries   `yaml:"input_series"`
	AlertRuleTests []alertRuleTest `yaml:"alert_rule_test"`
}

type inputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertRuleTest struct {
	EvalTime  model.Duration `yaml:"eval_time"`
	Alertname string         `yaml:"alertname"`
	ExpAlerts []expAlert     `yaml:"exp_alerts"`
}

type expAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

func readTestFile(path string) (*testFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tf testFile
	if err := yaml.UnmarshalStrict(data, &tf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if tf.EvaluationInterval == 0 {
		tf.EvaluationInterval = model.Duration(time.Minute) // promtool's default
	}
	return &tf, nil
}

var promqlParser = parser.NewParser(parser.Options{})

// alertingRule is one parsed alerting rule.
type alertingRule struct {
	name        string
	expr        string
	hold        time.Duration
	labels      map[string]string
	annotations map[string]string
}

// loadRules parses rule files as Prometheus does (rulefmt, with validation).
func loadRules(paths ...string) ([]alertingRule, error) {
	var out []alertingRule
	for _, path := range paths {
		groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, promqlParser, promslog.NewNopLogger())
		if len(errs) > 0 {
			return nil, fmt.Errorf("%s: %v", path, errs)
		}
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue // recording rules: hubmigrate has none
				}
				out = append(out, alertingRule{name: r.Alert, expr: r.Expr, hold: time.Duration(r.For), labels: r.Labels, annotations: r.Annotations})
			}
		}
	}
	return out, nil
}

// floatSample is one loaded point of one input series.
type floatSample struct {
	t int64
	f float64
}

func (s floatSample) T() int64                      { return s.t }
func (s floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                    { return s.f }
func (s floatSample) H() *histogram.Histogram       { return nil }
func (s floatSample) FH() *histogram.FloatHistogram { return nil }
func (s floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample           { return s }

// series is one input series with all its samples; the storage shows only
// those up to the evaluation being made, as promtool's lazy loader does.
type series struct {
	labels  labels.Labels
	samples []floatSample
}

// loadSeries expands input_series as promtool's "load <interval>" does:
// the i-th value at i×interval, "_" omitted, "stale" a staleness marker.
func loadSeries(in []inputSeries, interval time.Duration) ([]series, error) {
	var out []series
	for _, s := range in {
		lbls, values, err := promqlParser.ParseSeriesDesc(s.Series + " " + s.Values)
		if err != nil {
			return nil, fmt.Errorf("series %q: %w", s.Series, err)
		}
		ser := series{labels: lbls}
		for i, v := range values {
			if v.Histogram != nil {
				return nil, fmt.Errorf("series %q: histograms are not supported here", s.Series)
			}
			if v.Omitted {
				continue
			}
			ser.samples = append(ser.samples, floatSample{t: int64(i) * interval.Milliseconds(), f: v.Value})
		}
		out = append(out, ser)
	}
	return out, nil
}

// storageTill is a Queryable of the samples up to till (inclusive).
func storageTill(all []series, till time.Time) storage.Queryable {
	ms := timestamp.FromTime(till)
	var visible []series
	for _, s := range all {
		v := series{labels: s.labels}
		for _, smp := range s.samples {
			if smp.t <= ms {
				v.samples = append(v.samples, smp)
			}
		}
		if len(v.samples) > 0 {
			visible = append(visible, v)
		}
	}
	return storage.QueryableFunc(func(int64, int64) (storage.Querier, error) { return querier(visible), nil })
}

type querier []series

func (q querier) Select(_ context.Context, _ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	var out []storage.Series
	for _, s := range q {
		if matchesAll(s.labels, ms) {
			samples := make([]chunks.Sample, len(s.samples))
			for i, smp := range s.samples {
				samples[i] = smp
			}
			out = append(out, storage.NewListSeries(s.labels, samples))
		}
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels(), out[j].Labels()) < 0 })
	return &seriesSet{series: out, i: -1}
}

func matchesAll(l labels.Labels, ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches(l.Get(m.Name)) {
			return false
		}
	}
	return true
}

func (q querier) LabelValues(_ context.Context, name string, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	var out []string
	for _, s := range q {
		if v := s.labels.Get(name); v != "" && matchesAll(s.labels, ms) && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out, nil, nil
}

func (q querier) LabelNames(_ context.Context, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	var out []string
	for _, s := range q {
		if matchesAll(s.labels, ms) {
			s.labels.Range(func(l labels.Label) {
				if !slices.Contains(out, l.Name) {
					out = append(out, l.Name)
				}
			})
		}
	}
	slices.Sort(out)
	return out, nil, nil
}

func (q querier) Close() error { return nil }

type seriesSet struct {
	series []storage.Series
	i      int
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i < len(s.series) }
func (s *seriesSet) At() storage.Series                { return s.series[s.i] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }

// firing is one firing alert: its labels and expanded annotations.
type firing struct {
	labels      labels.Labels
	annotations labels.Labels
}

func (f firing) String() string { return f.labels.String() + " " + f.annotations.String() }

// activeAlert is an alert's state between evaluations, as rules.AlertingRule keeps it.
type activeAlert struct {
	firing
	activeAt time.Time
	state    string // "pending" or "firing"
}

// evaluator runs alerting rules over loaded series, one evaluation per
// interval, keeping each rule's active alerts as Prometheus does: an alert
// is pending from the first evaluation its expression returns its labels,
// firing once it has been active for the rule's `for`, and gone at the first
// evaluation that does not return it.
type evaluator struct {
	engine *promql.Engine
	rules  []alertingRule
	series []series
	active map[string]map[uint64]*activeAlert // rule → label hash → alert
}

func newEvaluator(rules []alertingRule, series []series) *evaluator {
	return &evaluator{
		engine: promql.NewEngine(promql.EngineOpts{MaxSamples: 50000000, Timeout: 100 * time.Second, Parser: promqlParser}),
		rules:  rules, series: series, active: map[string]map[uint64]*activeAlert{},
	}
}

func (e *evaluator) query(ctx context.Context, qs string, ts time.Time) (promql.Vector, error) {
	q, err := e.engine.NewInstantQuery(ctx, storageTill(e.series, ts), nil, qs, ts)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		return v, nil
	case promql.Scalar:
		return promql.Vector{promql.Sample{T: v.T, F: v.V, Metric: labels.EmptyLabels()}}, nil
	}
	return nil, fmt.Errorf("rule result is not a vector or scalar: %s", res.Value.Type())
}

// eval evaluates every rule at ts.
func (e *evaluator) eval(ctx context.Context, ts time.Time) error {
	for _, r := range e.rules {
		vec, err := e.query(ctx, r.expr, ts)
		if err != nil {
			return fmt.Errorf("rule %s at %s: %w", r.name, ts.UTC().Format(time.RFC3339), err)
		}
		if e.active[r.name] == nil {
			e.active[r.name] = map[uint64]*activeAlert{}
		}
		seen := map[uint64]bool{}
		for _, smp := range vec {
			f := e.expand(ctx, r, smp, ts)
			h := f.labels.Hash()
			if seen[h] {
				return fmt.Errorf("rule %s: two alerts with the labels %s", r.name, f.labels)
			}
			seen[h] = true
			if a, ok := e.active[r.name][h]; ok {
				a.annotations = f.annotations
				continue
			}
			e.active[r.name][h] = &activeAlert{firing: f, activeAt: ts, state: "pending"}
		}
		for h, a := range e.active[r.name] {
			switch {
			case !seen[h]:
				delete(e.active[r.name], h)
			case a.state == "pending" && ts.Sub(a.activeAt) >= r.hold:
				a.state = "firing"
			}
		}
	}
	return nil
}

// expand gives the alert's labels and annotations with the rule's templates
// expanded as rules.AlertingRule does.
func (e *evaluator) expand(ctx context.Context, r alertingRule, smp promql.Sample, ts time.Time) firing {
	data := template.AlertTemplateData(smp.Metric.Map(), nil, "", smp)
	defs := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
	expand := func(text string) string {
		out, err := template.NewTemplateExpander(ctx, defs+text, "__alert_"+r.name, data,
			model.Time(timestamp.FromTime(ts)), template.QueryFunc(e.query), &url.URL{}, nil).Expand()
		if err != nil {
			return fmt.Sprintf("<error expanding template: %s>", err)
		}
		return out
	}
	lb := labels.NewBuilder(smp.Metric)
	lb.Del(labels.MetricName)
	for k, v := range r.labels {
		lb.Set(k, expand(v))
	}
	lb.Set(labels.AlertName, r.name)
	ann := map[string]string{}
	for k, v := range r.annotations {
		ann[k] = expand(v)
	}
	return firing{labels: lb.Labels(), annotations: labels.FromMap(ann)}
}

// firingOf are the rule's firing alerts, sorted.
func (e *evaluator) firingOf(rule string) []firing {
	var out []firing
	for _, a := range e.active[rule] {
		if a.state == "firing" {
			out = append(out, a.firing)
		}
	}
	sortFiring(out)
	return out
}

func sortFiring(fs []firing) {
	sort.Slice(fs, func(i, j int) bool { return labels.Compare(fs[i].labels, fs[j].labels) < 0 })
}

// runGroup runs one test group as promtool does, returning every mismatch.
func runGroup(ctx context.Context, dir string, tf *testFile, tg testGroup) []error {
	var paths []string
	for _, f := range tf.RuleFiles {
		paths = append(paths, filepath.Join(dir, f))
	}
	rules, err := loadRules(paths...)
	if err != nil {
		return []error{err}
	}
	interval := time.Duration(tg.Interval)
	if interval == 0 {
		interval = time.Duration(tf.EvaluationInterval)
	}
	series, err := loadSeries(tg.InputSeries, interval)
	if err != nil {
		return []error{err}
	}
	known := map[string]bool{}
	for _, r := range rules {
		known[r.name] = true
	}
	byTime := map[time.Duration][]alertRuleTest{}
	var times []time.Duration
	for _, at := range tg.AlertRuleTests {
		if !known[at.Alertname] {
			return []error{fmt.Errorf("no alerting rule %q", at.Alertname)}
		}
		t := time.Duration(at.EvalTime)
		if byTime[t] == nil {
			times = append(times, t)
		}
		byTime[t] = append(byTime[t], at)
	}
	slices.Sort(times)
	if len(times) == 0 {
		return nil
	}
	e := newEvaluator(rules, series)
	mint := time.Unix(0, 0).UTC()
	evalInterval := time.Duration(tf.EvaluationInterval)
	var errs []error
	curr := 0
	for ts := mint; !ts.After(mint.Add(times[len(times)-1])); ts = ts.Add(evalInterval) {
		if err := e.eval(ctx, ts); err != nil {
			return append(errs, err)
		}
		// As promtool: the alerts of an eval_time are those of the
		// evaluation at or just before it.
		for curr < len(times) && ts.Sub(mint) <= times[curr] && times[curr] < ts.Add(evalInterval).Sub(mint) {
			for _, at := range byTime[times[curr]] {
				var want []firing
				for _, a := range at.ExpAlerts {
					l := map[string]string{labels.AlertName: at.Alertname}
					for k, v := range a.ExpLabels {
						l[k] = v
					}
					want = append(want, firing{labels: labels.FromMap(l), annotations: labels.FromMap(a.ExpAnnotations)})
				}
				sortFiring(want)
				if got := e.firingOf(at.Alertname); !sameAlerts(want, got) {
					errs = append(errs, fmt.Errorf("alertname: %s, time: %s,\n  exp: %v\n  got: %v", at.Alertname, at.EvalTime, want, got))
				}
			}
			curr++
		}
	}
	return errs
}

func sameAlerts(a, b []firing) bool {
	return slices.EqualFunc(a, b, func(x, y firing) bool {
		return labels.Equal(x.labels, y.labels) && labels.Equal(x.annotations, y.annotations)
	})
}

// describe joins errors for a test failure message.
func describe(errs []error) string {
	var b strings.Builder
	for _, err := range errs {
		b.WriteString(err.Error())
		b.WriteString("\n")
	}
	return b.String()
}
