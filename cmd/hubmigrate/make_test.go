package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// `make test` (the README's test command, CI's .ci/run) runs every package
// under -race, and the Makefile defines each target once: a target defined
// twice makes make warn and keep the last recipe, which once turned
// `make test` into the two-hour crash sweep.
func TestMakeTestRunsEveryPackage(t *testing.T) {
	cmd := exec.Command("make", "-C", "../..", "-n", "test")
	// Run from make test itself, make's job server would be inherited (and
	// the nested make warn that it cannot use it): plan as a fresh make does.
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); name != "MAKEFLAGS" && name != "MFLAGS" && name != "MAKELEVEL" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n test: %v\n%s", err, out)
	}
	plan := string(out)
	if strings.Contains(plan, "warning") {
		t.Errorf("make warns about the Makefile:\n%s", plan)
	}
	if !strings.Contains(plan, "go test -race") || !strings.Contains(plan, " ./...") {
		t.Errorf("make test does not run go test -race ./...:\n%s", plan)
	}
	if !strings.Contains(plan, "cd manifests/alerttest && go test -race") {
		t.Errorf("make test does not run the alert rule tests (a module of their own):\n%s", plan)
	}
	if strings.Contains(plan, "HUBMIGRATE_CRASHTEST=full") {
		t.Errorf("make test runs the full crash sweep:\n%s", plan)
	}
}
