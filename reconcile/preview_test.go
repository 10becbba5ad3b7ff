package reconcile

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// A preview arranges the planner's own plan by cluster: its phase, its
// phase-since marker (source first, then target), its next actions in
// order, or what it waits for.
func TestPreviewOf(t *testing.T) {
	cases := []struct {
		name  string
		world func(t *testing.T) *world
		phase Phase
		since string
		next  []string
	}{
		{
			name:  "unclaimed: the claim is next, no clock yet",
			world: func(*testing.T) *world { return newWorld() },
			phase: Validating,
			next:  []string{"Update managedclusters c1 on the source hub: claim"},
		},
		{
			name:  "claimed: since is the source's marker",
			world: func(*testing.T) *world { return newWorld().claimed(Initializing, nil) },
			phase: Initializing,
			since: "2026-11-29T11:59:00Z",
		},
		{
			name: "another migration's clock is not this one's",
			world: func(*testing.T) *world {
				w := newWorld()
				w.c().Source.MC.SetAnnotations(map[string]string{AnnOwner: "ops/other/9999", AnnPhaseSince: "2026-11-29T11:00:00Z"})
				return w
			},
			phase: Failed,
		},
		{
			name: "the source gone: since is the target's marker",
			world: func(t *testing.T) *world {
				w := cleaning(t, sourceGone)
				anns := w.c().Target.MC.GetAnnotations()
				anns[AnnPhaseSince] = "2026-11-29T11:59:30Z"
				w.c().Target.MC.SetAnnotations(anns)
				return w
			},
			phase: Cleaning,
			since: "2026-11-29T11:59:30Z",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world(t)
			plan := PlanMigration(&w.f)
			p := previewOf(&w.f, plan)
			require.Len(t, p.Clusters, 1)
			c := p.Clusters[0]
			assert.Equal(t, "c1", c.Name)
			assert.Equal(t, tc.phase, c.Phase)
			if tc.since == "" {
				assert.Nil(t, c.Since)
			} else {
				require.NotNil(t, c.Since)
				assert.Equal(t, tc.since, c.Since.UTC().Format(time.RFC3339))
			}
			var mine []string
			for _, a := range plan.Actions {
				if a.Cluster == "c1" {
					mine = append(mine, describeAction(a))
				}
			}
			assert.Equal(t, mine, c.Next, "every action of the cluster, in the plan's order")
			for i, want := range tc.next {
				require.Greater(t, len(c.Next), i)
				assert.Contains(t, c.Next[i], want)
			}
		})
	}
}

// plan carries a new migration through the controller's own writes to the
// migration (and only those): a plan that touches a hub stops it.
func TestOnlyMigrationUpdate(t *testing.T) {
	m := migrationObject()
	update := Action{Kind: Update, Hub: Home, Ref: RefOf(MigrationGVR, m), Object: m}
	claim := Action{Kind: Update, Hub: Source, Ref: Ref{GVR: ManagedClusterGVR, Name: "c1"}, Object: mc("c1", true, nil, nil)}
	assert.Nil(t, onlyMigrationUpdate(Plan{}), "nothing to carry")
	assert.Same(t, m, onlyMigrationUpdate(Plan{Actions: []Action{update}}))
	assert.Nil(t, onlyMigrationUpdate(Plan{Actions: []Action{update, claim}}))
	assert.Nil(t, onlyMigrationUpdate(Plan{Actions: []Action{claim}}))
	otherHome := update
	otherHome.Ref.GVR = SecretGVR
	assert.Nil(t, onlyMigrationUpdate(Plan{Actions: []Action{otherHome}}), "a Secret on home is not the migration")
	created := update
	created.Kind = Create
	assert.Nil(t, onlyMigrationUpdate(Plan{Actions: []Action{created}}))
}

// CopyRefs name what the cluster's migration would make on the target
// besides its ManagedCluster: `hubmigrate plan` looks each up there.
func TestCopyRefs(t *testing.T) {
	w := newWorld()
	w.c().Source.Migrated = MigratedObjects{
		KlusterletAddonConfig: &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "agent.open-cluster-management.io/v1", "kind": "KlusterletAddonConfig",
			"metadata": map[string]any{"name": "c1", "namespace": "c1"}}},
		Addons:     []*unstructured.Unstructured{addon("search", "ns-a")},
		Secrets:    []*corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Name: "bmc", Namespace: "c1", Labels: map[string]string{LabelPreserve: ""}}}},
		ConfigMaps: []*corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Name: "site", Namespace: "c1", Labels: map[string]string{LabelPreserve: ""}}}},
	}
	p := previewOf(&w.f, PlanMigration(&w.f))
	var got []string
	for _, r := range p.CopyRefs("c1") {
		got = append(got, r.String())
	}
	assert.Equal(t, []string{"klusterletaddonconfigs c1/c1", "managedclusteraddons c1/search", "secrets c1/bmc", "configmaps c1/site"}, got)
	assert.Empty(t, p.CopyRefs("c2"), "not a cluster of the migration")
}
