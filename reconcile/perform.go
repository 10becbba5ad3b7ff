package reconcile

import (
	"context"
	"errors"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hubmigrate/hubmigrate/metrics"
)

// DefaultActionConcurrency: clusters of one migration with an action in
// flight at once. The client's QPS limit, not this, bounds the write rate;
// this only keeps one cluster's slow request from holding the others up.
const DefaultActionConcurrency = 16

// perform executes a plan's actions and records their Events. Each
// cluster's actions run in plan order, one after another; different
// clusters' run side by side (they write different objects — the one
// shared identity is planned by a single cluster), so one slow or failing
// cluster does not hold the others back. An action that fails ends its
// cluster's turn (its later actions wait for the next plan), not the
// others'. An action on the migration itself, or one all clusters share
// (Cluster ""), runs alone, after everything planned before it: if it
// fails, nothing after it runs.
func (c *Controller) perform(ctx context.Context, u *unstructured.Unstructured, execute func(context.Context, Action) error, plan Plan) error {
	limit := c.cfg.ActionConcurrency
	if limit <= 0 {
		limit = DefaultActionConcurrency
	}
	run := func(a Action) error {
		err := execute(ctx, a)
		metrics.Actions.WithLabelValues(string(a.Kind), resultOf(err)).Inc()
		if err == nil {
			c.announce(u, a)
		}
		return err
	}
	var errs []error
	var homeDone []Action
	for i := 0; i < len(plan.Actions); {
		if a := plan.Actions[i]; shared(a) {
			if err := run(a); err != nil {
				errs = append(errs, &actionError{cluster: a.Cluster, err: err})
				break
			}
			if a.Hub == Home {
				homeDone = append(homeDone, a)
			}
			i++
			continue
		}
		j := i
		for j < len(plan.Actions) && !shared(plan.Actions[j]) {
			j++
		}
		errs = append(errs, performClusters(plan.Actions[i:j], limit, run)...)
		i = j
	}
	// The Events of the migration's own writes follow the clusters' (a
	// record of failures reads after the failures it records).
	for _, a := range homeDone {
		if a.Event != "" && c.recorder != nil {
			c.recorder.Eventf(u, corev1.EventTypeNormal, a.Event, "%s", a.Why)
		}
	}
	return errors.Join(errs...)
}

// shared: an action every cluster's turn waits for.
func shared(a Action) bool { return a.Cluster == "" || a.Hub == Home }

// performClusters runs each cluster's actions in order, up to limit
// clusters at once, and returns the failures in the order the clusters
// first appear in the plan (so the same plan reports the same way).
func performClusters(actions []Action, limit int, run func(Action) error) []error {
	var order []string
	byCluster := map[string][]Action{}
	for _, a := range actions {
		if _, ok := byCluster[a.Cluster]; !ok {
			order = append(order, a.Cluster)
		}
		byCluster[a.Cluster] = append(byCluster[a.Cluster], a)
	}
	failed := make([]error, len(order))
	slots := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, cluster := range order {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			for _, a := range byCluster[cluster] {
				if err := run(a); err != nil {
					failed[i] = &actionError{cluster: cluster, err: err}
					return
				}
			}
		}()
	}
	wg.Wait()
	var errs []error
	for _, err := range failed {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// announce records the Event of a cluster's action that was performed
// (the migration's own are announced after the clusters').
func (c *Controller) announce(u *unstructured.Unstructured, a Action) {
	if a.Event == "" || c.recorder == nil || a.Hub == Home {
		return
	}
	kind := corev1.EventTypeNormal
	if a.Event == "MarkerCorrected" {
		kind = corev1.EventTypeWarning
	}
	target := a.Cluster
	if target == "" {
		target = "migration"
	}
	c.recorder.Eventf(u, kind, a.Event, "%s: %s", target, a.Why)
}
