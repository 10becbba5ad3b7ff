package reconcile

import (
	"time"
)

// Default stage timeouts (SPEC "API"); spec.supportedConfigs.stageTimeout
// replaces every one of them.
const (
	defaultStageTimeout       = 5 * time.Minute
	defaultRegisteringTimeout = 12 * time.Minute
)

func (p *planner) stageTimeout(phase Phase) time.Duration {
	if t := p.f.Migration.StageTimeout; t > 0 {
		return t
	}
	if phase == Registering {
		return defaultRegisteringTimeout
	}
	return defaultStageTimeout
}

// since reads a clock marker ("" or unparseable: zero time).
func since(value string) time.Time {
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return time.Time{}
	}
	return t
}

// expired reports whether the stage that began at start has run out of time;
// if not, it asks to be woken at the deadline (a workqueue AddAfter, not polling).
func (p *planner) expired(start time.Time, phase Phase) bool {
	if start.IsZero() {
		return false
	}
	deadline := start.Add(p.stageTimeout(phase))
	if !p.f.Now.Before(deadline) {
		return true
	}
	p.wakeAt(deadline)
	return false
}

func (p *planner) wakeAt(t time.Time) {
	d := t.Sub(p.f.Now) + 10*time.Millisecond
	if p.plan.Requeue == 0 || d < p.plan.Requeue {
		p.plan.Requeue = d
	}
}
