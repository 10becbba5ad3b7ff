package reconcile

//hubmigrate:pure

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// phaseOrder ranks phases for the migration's phase: the earliest any
// cluster is still in.
var phaseOrder = []Phase{Unknown, Pending, Validating, Initializing, Deploying, Registering, Rollbacking, Cleaning}

// Status is the migration's status, recomputed from the plan's outcomes
// every reconcile: output only, never read back as progress.
func Status(plan Plan, previous []any, now time.Time) map[string]any {
	clusters := plan.Clusters
	counts := map[string]int64{}
	completed, failed, rollingBack := 0, 0, 0
	var oldest time.Time
	var failures []any
	present := map[Phase]bool{}
	names := make([]string, 0, len(clusters))
	byName := map[string]ClusterOutcome{}
	for _, c := range clusters {
		if c.Name == "" {
			continue // the migration itself, before its clusters are known
		}
		names = append(names, c.Name)
		byName[c.Name] = c
	}
	sort.Strings(names)
	for _, n := range names {
		c := byName[n]
		present[c.Phase] = true
		counts[string(c.Phase)]++
		switch c.Phase {
		case Completed:
			completed++
		case Failed:
			failed++
		case Rollbacking:
			rollingBack++
		}
		if c.Phase != Completed && c.Phase != Failed && !c.Since.IsZero() && (oldest.IsZero() || c.Since.Before(oldest)) {
			oldest = c.Since
		}
		if c.Reason != "" {
			failures = append(failures, map[string]any{"name": c.Name, "reason": c.Reason, "message": c.Waiting})
		}
	}
	phase := Pending
	switch {
	case len(names) == 0 && len(clusters) > 0 && clusters[0].Phase == Failed:
		// No cluster was ever known (an empty Placement): the migration failed.
		phase = Failed
		failures = append(failures, map[string]any{"name": "", "reason": clusters[0].Reason, "message": clusters[0].Waiting})
	case len(clusters) > 0 && completed == len(clusters):
		phase = Completed
	case len(clusters) > 0 && completed+failed == len(clusters):
		phase = Failed
	default:
		for _, p := range phaseOrder {
			if present[p] {
				phase = p
				break
			}
		}
	}
	status := map[string]any{
		"phase":         string(phase),
		"progress":      progress(completed, len(names), failed, rollingBack),
		"clusterCounts": toAny(counts),
	}
	if !oldest.IsZero() {
		status["oldestPhaseSince"] = oldest.UTC().Format(time.RFC3339)
	}
	if len(failures) > 0 {
		status["failedClusters"] = failures
	}
	status["conditions"] = conditions(plan, previous, now)
	return status
}

// progress is the printer column: "7/10", and "7/10 (1 failed, 2 rolling
// back)" when any did not go forward.
func progress(completed, all, failed, rollingBack int) string {
	s := fmt.Sprintf("%d/%d", completed, all)
	var also []string
	if failed > 0 {
		also = append(also, fmt.Sprintf("%d failed", failed))
	}
	if rollingBack > 0 {
		also = append(also, fmt.Sprintf("%d rolling back", rollingBack))
	}
	if len(also) > 0 {
		s += " (" + strings.Join(also, ", ") + ")"
	}
	return s
}

func toAny(m map[string]int64) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
