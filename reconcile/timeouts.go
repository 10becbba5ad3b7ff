package reconcile

//hubmigrate:pure

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

// checkOverdue marks a cluster that no timeout can roll back — committed,
// Cleaning, Rollbacking — once it has spent longer than its stage timeout
// in that phase, and asks to be woken when it will have. Rollbacking's one
// bounded wait is not overdue at its deadline: the reason changes then and
// the clock starts again.
func (p *planner) checkOverdue(cf *ClusterFacts, o *ClusterOutcome) {
	src, tgt := cf.Source.MC, cf.Target.MC
	var clock string
	switch {
	case o.Phase == Cleaning && p.ours(tgt):
		clock = annotation(tgt, AnnPhaseSince)
	case o.Phase == Registering && p.ours(src) && hasAnnotation(src, AnnCommitted):
		clock = annotation(src, AnnPhaseSince)
	case o.Phase == Rollbacking && p.ours(src) && !p.planned(cf.Name, "ClusterNotReturned"):
		clock = annotation(src, AnnPhaseSince)
	default:
		return
	}
	o.Overdue = p.expired(since(clock), o.Phase)
}

// planned reports whether this plan records Event event for cluster c.
func (p *planner) planned(c, event string) bool {
	for _, a := range p.plan.Actions {
		if a.Cluster == c && a.Event == event {
			return true
		}
	}
	return false
}

// tokenWarning is how long before its token expires an unregistered cluster
// is reported: the token is minted once, to outlast the stage timeouts, and
// never replaced once Registering has begun, so it runs short only when the
// controller was away for long.
const tokenWarning = 5 * time.Minute

// checkToken marks a cluster not yet registered whose bootstrap token expires
// within tokenWarning, and asks to be woken when it will.
func (p *planner) checkToken(cf *ClusterFacts, o *ClusterOutcome) {
	src, secret := cf.Source.MC, cf.Source.BootstrapSecret
	switch o.Phase {
	case Initializing, Deploying, Registering:
	default:
		return
	}
	// A committed cluster still needs the token until it has registered:
	// its agent files again with it after a restart.
	if secret == nil || !p.ours(src) {
		return
	}
	token, err := bootstrapToken(secret)
	if err != nil {
		return
	}
	claims, err := parseTokenClaims(token)
	if err != nil || claims.Expires.Unix() <= 0 {
		return
	}
	warnAt := claims.Expires.Add(-tokenWarning)
	if p.f.Now.Before(warnAt) {
		p.wakeAt(warnAt)
		return
	}
	o.TokenExpiring = true
}
