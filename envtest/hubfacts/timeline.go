package hubfacts

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
)

// Timeline is, for each fact of one cluster ("<role> <fact>"), the sequence
// of distinct values the hubs showed.
type Timeline map[string][]string

const arrow = " → "

// String is one line per fact, sorted: "source ManagedCluster: present → deleting → gone".
func (t Timeline) String() string {
	facts := make([]string, 0, len(t))
	for f := range t {
		facts = append(facts, f)
	}
	sort.Strings(facts)
	var b strings.Builder
	for _, f := range facts {
		fmt.Fprintf(&b, "%s: %s\n", f, strings.Join(t[f], arrow))
	}
	return b.String()
}

// Diff lists, one line each, the facts whose sequences differ from want's
// (want first); nothing when they agree.
func (t Timeline) Diff(want Timeline) []string {
	facts := map[string]bool{}
	for f := range t {
		facts[f] = true
	}
	for f := range want {
		facts[f] = true
	}
	var diffs []string
	for f := range facts {
		if !slices.Equal(t[f], want[f]) {
			diffs = append(diffs, fmt.Sprintf("%s:\n\twant %s\n\tgot  %s", f, strings.Join(want[f], arrow), strings.Join(t[f], arrow)))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// Load reads a timeline written by String; lines starting with # are
// comments (the file says where its facts were measured).
func Load(path string) (Timeline, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t := Timeline{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fact, values, ok := strings.Cut(line, ": ")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want \"<fact>: <value> → <value>...\", got %q", path, n, line)
		}
		t[fact] = strings.Split(values, arrow)
	}
	return t, sc.Err()
}
