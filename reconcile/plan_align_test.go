package reconcile

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// A copy equals its source on the compared fields until Cleaning deletes
// the source: an edit of the source after the copy was made is carried over
// (issue 14, defect 9).
func TestPlanAlignsCopies(t *testing.T) {
	editedKAC := func(w *world) {
		withKAC(w)
		_ = unstructured.SetNestedField(w.c().Source.Migrated.KlusterletAddonConfig.Object, map[string]any{"searchCollector": map[string]any{"enabled": true}}, "spec")
	}
	preservedSecret := func(data string, labels map[string]string) func(*world) {
		return func(w *world) {
			w.c().Source.Migrated.Secrets = []*corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Name: "bmc", Namespace: "c1", UID: "s-uid", Labels: map[string]string{LabelPreserve: ""}},
				Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte(data)}}}
			copyLabels := map[string]string{LabelPreserve: "", LabelHome: "home-uid", LabelMigrationUID: string(testOwner.UID)}
			for k, v := range labels {
				copyLabels[k] = v
			}
			w.c().Target.Migrated.Secrets = []*corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Name: "bmc", Namespace: "c1", UID: "t-uid", ResourceVersion: "77",
				Labels: copyLabels, Annotations: map[string]string{AnnOwner: testOwner.String()}},
				Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("old")}}}
		}
	}
	registeringWith := func(t *testing.T, done ...func(*world)) *world {
		w := newWorld().registering(nil)
		for _, d := range done {
			d(w)
		}
		return w
	}
	cases := []struct {
		name  string
		world func(t *testing.T) *world
		want  []string
		check func(t *testing.T, p Plan)
	}{
		{
			name:  "Registering: copies equal their sources: no write",
			world: func(t *testing.T) *world { return registeringWith(t, withKAC, preservedSecret("old", nil)) },
		},
		{
			name:  "Registering: the source KlusterletAddonConfig was edited: the copy follows",
			world: func(t *testing.T) *world { return registeringWith(t, editedKAC) },
			want:  []string{"Update target klusterletaddonconfigs c1"},
			check: func(t *testing.T, p Plan) {
				obj := p.Actions[0].Object
				enabled, _, _ := unstructured.NestedBool(obj.Object, "spec", "searchCollector", "enabled")
				assert.True(t, enabled)
				assert.Equal(t, testOwner.String(), obj.GetAnnotations()[AnnOwner], "the copy stays ours")
			},
		},
		{
			name: "Registering: a preserved Secret's data changed: the copy follows, a hub's label on it kept",
			world: func(t *testing.T) *world {
				return registeringWith(t, preservedSecret("new", map[string]string{"feature.open-cluster-management.io/x": "y"}))
			},
			want: []string{"Update target secrets bmc"},
			check: func(t *testing.T, p Plan) {
				obj := p.Actions[0].Object
				assert.Equal(t, encodeBytes([]byte("new")), obj.Object["data"].(map[string]any)["password"])
				assert.Equal(t, "y", obj.GetLabels()["feature.open-cluster-management.io/x"])
				assert.Equal(t, string(testOwner.UID), obj.GetLabels()[LabelMigrationUID])
				assert.Equal(t, "77", obj.GetResourceVersion(), "resourceVersion-guarded")
			},
		},
		{
			name: "Cleaning: a copy behind its source is aligned before the source is deleted",
			world: func(t *testing.T) *world {
				return cleaning(t, editedKAC)
			},
			want: []string{"Update target klusterletaddonconfigs c1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world(t)
			p := PlanMigration(&w.f)
			got := describe(p.Actions)
			if tc.want == nil {
				assert.Empty(t, got)
				return
			}
			require.NotEmpty(t, got)
			assert.Equal(t, tc.want, got[:len(tc.want)])
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}
