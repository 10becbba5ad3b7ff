package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"
)

// ErrHubsSyncing: a hub's caches have not synced yet; nothing can be said.
var ErrHubsSyncing = errWaitingForHubs

// Preview is what the controller would see and do next for one migration,
// computed as a reconcile computes it — the same caches, seal checks and
// planner — with no write at all. `hubmigrate status` and `hubmigrate plan`
// print it.
type Preview struct {
	Plan     Plan
	Facts    *Facts
	Clusters []ClusterPreview
	// Next are the actions of the migration itself (not of one cluster).
	Next []string
}

// ClusterPreview is one cluster of a preview.
type ClusterPreview struct {
	Name  string `json:"name"`
	Phase Phase  `json:"phase"`
	// Since is when the cluster entered its phase (its phase-since marker);
	// nil when no marker says so (not claimed, or finished and handed over).
	Since   *time.Time `json:"since,omitempty"`
	Reason  string     `json:"reason,omitempty"`
	Message string     `json:"message,omitempty"`
	// Next are the actions a reconcile would perform now for the cluster,
	// in order; none when it waits (Message says for what).
	Next []string `json:"next,omitempty"`
}

// StartReadOnly starts what a preview reads — the hub credentials, the
// seal key and the migrations — and nothing else: no worker, no sweep, no
// seal key made. For the CLI; the controller runs Run.
func (c *Controller) StartReadOnly(ctx context.Context) error {
	if err := c.registry.Start(ctx); err != nil {
		return err
	}
	go c.migrations.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.migrations.HasSynced) {
		return errors.New("migrations did not sync")
	}
	return nil
}

// Preview plans u from what the caches show now, without writing anything.
// ErrHubsSyncing while a hub's caches are still syncing: ask again.
func (c *Controller) Preview(u *unstructured.Unstructured) (*Preview, error) {
	m, err := migrationFacts(u)
	if err != nil {
		return nil, err
	}
	sealer, err := c.sealer()
	if err != nil {
		return nil, fmt.Errorf("%w (hubmigrate makes its seal key when it first starts)", err)
	}
	f, _, _, _, _ := c.observe(m, sealer)
	if syncing(f.Source) || syncing(f.Target) {
		return nil, ErrHubsSyncing
	}
	return previewOf(f, PlanMigration(f)), nil
}

// previewOf arranges a plan by cluster, in the order of its outcomes.
func previewOf(f *Facts, plan Plan) *Preview {
	p := &Preview{Plan: plan, Facts: f}
	next := map[string][]string{}
	for _, a := range plan.Actions {
		next[a.Cluster] = append(next[a.Cluster], describeAction(a))
	}
	p.Next = next[""]
	for _, o := range plan.Clusters {
		if o.Name == "" {
			continue
		}
		cp := ClusterPreview{Name: o.Name, Phase: o.Phase, Reason: o.Reason, Message: o.Waiting, Next: next[o.Name]}
		if !o.Since.IsZero() {
			since := o.Since
			cp.Since = &since
		}
		p.Clusters = append(p.Clusters, cp)
	}
	return p
}

// describeAction says an action as an admin reads it.
func describeAction(a Action) string {
	if a.Why == "" {
		return fmt.Sprintf("%s %s on the %s hub", a.Kind, a.Ref, a.Hub)
	}
	return fmt.Sprintf("%s %s on the %s hub: %s", a.Kind, a.Ref, a.Hub, a.Why)
}

// PreviewAhead is Preview, carried through the controller's own first
// writes to the migration itself — its Placement resolved, its refusals
// recorded — which change nothing on a hub: what `hubmigrate plan` shows of
// a migration before anything is claimed. At most a few such steps.
func (c *Controller) PreviewAhead(u *unstructured.Unstructured) (*Preview, error) {
	for range 3 {
		p, err := c.Preview(u)
		if err != nil {
			return nil, err
		}
		next := onlyMigrationUpdate(p.Plan)
		if next == nil {
			return p, nil
		}
		u = next
	}
	return c.Preview(u)
}

// onlyMigrationUpdate is the migration as a plan leaves it when the plan
// only updates the migration (nil when it does anything else).
func onlyMigrationUpdate(plan Plan) *unstructured.Unstructured {
	var last *unstructured.Unstructured
	for _, a := range plan.Actions {
		if a.Kind != Update || a.Hub != Home || a.Ref.GVR != MigrationGVR || a.Object == nil {
			return nil
		}
		last = a.Object
	}
	return last
}

// CopyRefs are the objects the migration of cluster would make on the
// target besides its ManagedCluster and namespace — its addons, its
// KlusterletAddonConfig, its preserved Secrets and ConfigMaps — by name.
// `hubmigrate plan` looks each up on the target: an object there that is
// not the migration's would fail the cluster with CopyCollision.
func (p *Preview) CopyRefs(cluster string) []Ref {
	pl := &planner{f: p.Facts, owner: p.Facts.Migration.Owner}
	var out []Ref
	for i := range p.Facts.Clusters {
		if p.Facts.Clusters[i].Name != cluster {
			continue
		}
		for _, c := range pl.copies(&p.Facts.Clusters[i]) {
			out = append(out, Ref{GVR: c.gvr, Namespace: c.desired.GetNamespace(), Name: c.desired.GetName()})
		}
	}
	return out
}
