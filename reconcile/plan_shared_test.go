package reconcile

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// twoInitializing: c1 and c2 both claimed, in Initializing, nothing made yet.
func twoInitializing() *world {
	w := newWorld().claimed(Initializing, nil)
	c2 := ClusterFacts{Name: "c2", Source: SourceFacts{MC: mc("c2", true, nil, nil, "Available", "Joined", "HubAccepted"), KlusterletWork: work("c2", 3, 3, "11")}}
	labels, anns := ourMarkers(Initializing, nil)
	c2.Source.MC.SetLabels(labels)
	c2.Source.MC.SetAnnotations(anns)
	w.f.Clusters = append(w.f.Clusters, c2)
	w.f.Migration.Listed = []string{"c1", "c2"}
	return w
}

// The migration's shared bootstrap identity is written once per plan, by
// the first cluster that needs it; the others wait for it rather than
// writing the same object beside it (issue 19: 4 of 5 creates used to end
// AlreadyExists).
func TestPlanSharedIdentityOnce(t *testing.T) {
	cases := []struct {
		name    string
		world   func() *world
		want    []string
		waiting string // c2's
	}{
		{
			name:    "no ServiceAccount: c1 makes it, c2 waits",
			world:   twoInitializing,
			want:    []string{"Create target serviceaccounts hubmigrate-1234abcd"},
			waiting: "waiting for the migration's bootstrap identity",
		},
		{
			name: "no binding: c1 makes it, c2 waits",
			world: func() *world {
				w := twoInitializing()
				w.f.ServiceAccount = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ServiceAccountName(testOwner.UID), Namespace: "open-cluster-management", UID: "sa-uid"}}
				return w
			},
			want:    []string{"Create target clusterrolebindings hubmigrate-1234abcd"},
			waiting: "waiting for the migration's bootstrap identity",
		},
		{
			name: "no OCM bootstrap role on the target: c1 makes the migration's own, c2 waits",
			world: func() *world {
				w := twoInitializing()
				w.f.ServiceAccount = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ServiceAccountName(testOwner.UID), Namespace: "open-cluster-management", UID: "sa-uid"}}
				w.f.Target.BootstrapClusterRole = false
				return w
			},
			want:    []string{"Create target clusterroles hubmigrate-1234abcd"},
			waiting: "waiting for the migration's bootstrap identity",
		},
		{
			name: "the identity made: each cluster goes on with its own anchor",
			world: func() *world {
				w := twoInitializing()
				w.f.ServiceAccount = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ServiceAccountName(testOwner.UID), Namespace: "open-cluster-management", UID: "sa-uid"}}
				w.f.Binding = newWorld().scaffolding().f.Binding
				return w
			},
			want: []string{"Create target secrets hubmigrate-c1-1234abcd", "Create target secrets hubmigrate-c2-1234abcd"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world()
			p := PlanMigration(&w.f)
			assert.Equal(t, tc.want, describe(p.Actions))
			for _, a := range p.Actions[:1] {
				assert.Equal(t, "c1", a.Cluster)
			}
			require.Len(t, p.Clusters, 2)
			assert.Equal(t, Initializing, p.Clusters[1].Phase)
			assert.Equal(t, tc.waiting, p.Clusters[1].Waiting)
		})
	}
}
