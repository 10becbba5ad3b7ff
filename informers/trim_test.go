package informers

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"
)

func TestTrimManifestWorkKeepsWhatIsRead(t *testing.T) {
	work := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
		"metadata": map[string]any{
			"name": "c1-klusterlet", "namespace": "c1", "generation": int64(4), "resourceVersion": "77", "uid": "w-uid",
			"labels":        map[string]any{"import.open-cluster-management.io/klusterlet-works": "true"},
			"managedFields": []any{map[string]any{"manager": "import-controller"}},
		},
		"spec": map[string]any{"workload": map[string]any{"manifests": []any{map[string]any{"kind": "Secret", "data": map[string]any{"kubeconfig": "c2VjcmV0"}}}}},
		"status": map[string]any{
			"conditions":     []any{map[string]any{"type": "Applied", "status": "True", "observedGeneration": int64(4)}},
			"resourceStatus": map[string]any{"manifests": []any{map[string]any{"conditions": []any{}}}},
		},
	}}
	out, err := trimManifestWork(work)
	require.NoError(t, err)
	got := out.(*unstructured.Unstructured)
	assert.Equal(t, "c1-klusterlet", got.GetName())
	assert.Equal(t, "c1", got.GetNamespace())
	assert.Equal(t, int64(4), got.GetGeneration())
	assert.Equal(t, "77", got.GetResourceVersion())
	assert.Equal(t, "true", got.GetLabels()["import.open-cluster-management.io/klusterlet-works"])
	assert.Empty(t, got.GetManagedFields())
	assert.NotContains(t, got.Object, "spec", "the manifests are never read from the cache")
	conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
	assert.Len(t, conds, 1)
	_, found, _ := unstructured.NestedFieldNoCopy(got.Object, "status", "resourceStatus")
	assert.False(t, found)

	noStatus := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork", "metadata": map[string]any{"name": "w"}, "spec": map[string]any{}}}
	out, err = trimManifestWork(noStatus)
	require.NoError(t, err)
	assert.NotContains(t, out.(*unstructured.Unstructured).Object, "status")
}

func TestDropManagedFields(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "c1", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}, Labels: map[string]string{"a": "b"}}}
	out, err := dropManagedFields(ns)
	require.NoError(t, err)
	assert.Empty(t, out.(*corev1.Namespace).ManagedFields)
	assert.Equal(t, "b", out.(*corev1.Namespace).Labels["a"])

	tomb := cache.DeletedFinalStateUnknown{Key: "c1", Obj: ns}
	out, err = dropManagedFields(tomb)
	require.NoError(t, err)
	assert.Equal(t, tomb, out, "a tombstone passes as it is")
}
