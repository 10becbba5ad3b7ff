package reconcile

//hubmigrate:pure

import (
	"maps"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// alignCopies brings the copies on the target in line with later edits of
// their sources (SPEC invariant: each copy equals the source's on the
// compared fields), while the source still exists: from Deploying until
// Cleaning deletes the sources. Only content is aligned — spec, data,
// type, the copied labels and annotations — never what a hub or controller
// set on the copy. It reports whether a write was planned.
func (p *planner) alignCopies(cf *ClusterFacts) bool {
	planned := false
	for _, c := range p.copies(cf) {
		if absent(c.current) || !p.ours(c.current) {
			continue
		}
		current := currentAsUnstructured(c.current)
		if sameContent(c.desired, current) {
			continue
		}
		p.act(Action{Kind: Update, Hub: Target, Cluster: cf.Name, Ref: RefOf(c.gvr, current), Object: aligned(current, c.desired),
			Why: "bring the copy in line with its source"})
		planned = true
	}
	return planned
}

// currentAsUnstructured is a copy as read, in the desired copies' shape.
func currentAsUnstructured(obj metaNamed) *unstructured.Unstructured {
	switch o := obj.(type) {
	case *unstructured.Unstructured:
		return o
	case *corev1.Secret:
		return toUnstructured(o, "v1", "Secret")
	case *corev1.ConfigMap:
		return toUnstructured(o, "v1", "ConfigMap")
	}
	return &unstructured.Unstructured{Object: map[string]any{}}
}

// contentFields are what a copy carries of its source besides metadata.
var contentFields = []string{"spec", "type", "data", "binaryData"}

func sameContent(desired, current *unstructured.Unstructured) bool {
	for _, f := range contentFields {
		if !reflect.DeepEqual(emptyAsNil(desired.Object[f]), emptyAsNil(current.Object[f])) {
			return false
		}
	}
	return maps.Equal(copyLabels(desired.GetLabels()), copyLabels(current.GetLabels())) &&
		maps.Equal(copyAnnotations(desired.GetAnnotations()), copyAnnotations(current.GetAnnotations()))
}

// emptyAsNil: an empty map and an absent field are the same content.
func emptyAsNil(v any) any {
	if m, ok := v.(map[string]any); ok && len(m) == 0 {
		return nil
	}
	return v
}

// aligned is current with desired's content: the copied labels and
// annotations replaced, those copyLabels/copyAnnotations never copy (the
// migration's markers, a hub's) kept.
func aligned(current, desired *unstructured.Unstructured) *unstructured.Unstructured {
	out := current.DeepCopy()
	for _, f := range contentFields {
		if v, ok := desired.Object[f]; ok {
			out.Object[f] = runtime.DeepCopyJSONValue(v)
		} else {
			delete(out.Object, f)
		}
	}
	labels := copyLabels(desired.GetLabels())
	for k, v := range current.GetLabels() {
		if _, copied := copyLabels(map[string]string{k: v})[k]; !copied {
			labels[k] = v
		}
	}
	out.SetLabels(labels)
	anns := copyAnnotations(desired.GetAnnotations())
	for k, v := range current.GetAnnotations() {
		if _, copied := copyAnnotations(map[string]string{k: v})[k]; !copied {
			anns[k] = v
		}
	}
	out.SetAnnotations(anns)
	return out
}
