package hubfacts

import (
	"os"
	"strings"
	"testing"
)

// WriteEnv names the variable that makes Match write the file from this run
// instead of checking against it: set it in the tier with OCM's own agents,
// whose facts are the truth the simulator is held to.
const WriteEnv = "HUBMIGRATE_WRITE_FACTS"

// Match fails the test for every cluster whose timeline differs from the
// file's, listing the facts that differ.
func Match(t testing.TB, r *Recorder, file, header string, clusters ...string) {
	t.Helper()
	if os.Getenv(WriteEnv) != "" {
		text := "# " + strings.ReplaceAll(strings.TrimSpace(header), "\n", "\n# ") + "\n" + r.Timeline(clusters[0]).String()
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s from %s", file, clusters[0])
	}
	want, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range clusters {
		got := r.Timeline(c)
		if diffs := got.Diff(want); len(diffs) > 0 {
			t.Errorf("%s: the hubs showed other facts than %s:\n%s\nwhole timeline:\n%s", c, file, strings.Join(diffs, "\n"), got)
		}
	}
}
