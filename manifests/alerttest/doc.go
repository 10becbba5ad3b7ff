// Package alerttest unit-tests hubmigrate's alert rules in promtool's
// rule-test format (hubmigrate.test.yaml), evaluated by Prometheus's own
// PromQL engine and template expander.
//
// It is a module of its own so that neither the product's go.mod nor its
// binary gains Prometheus's dependencies. `make test` runs it with a small
// harness (rules_test.go) that does what `promtool test rules` does for
// alerting rules — load the input series, evaluate every rule at each
// evaluation interval with its `for`, compare the firing alerts' labels and
// expanded annotations at each eval_time — without building promtool, whose
// service-discovery plugins cost minutes to compile. `make promtool-test`
// builds the real promtool from this module (cached like the control planes)
// and runs the same file with it.
package alerttest
