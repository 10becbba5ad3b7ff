package reconcile

//hubmigrate:pure

import (
	"maps"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Helpers over the unstructured OCM objects. Missing fields read as zero.

// absent: nil, including a nil pointer inside the interface.
func absent(obj metaObject) bool {
	if obj == nil {
		return true
	}
	v := reflect.ValueOf(obj)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

func annotation(obj metaObject, key string) string {
	if absent(obj) {
		return ""
	}
	return obj.GetAnnotations()[key]
}

func hasAnnotation(obj metaObject, key string) bool {
	if absent(obj) {
		return false
	}
	_, ok := obj.GetAnnotations()[key]
	return ok
}

func label(obj metaObject, key string) string {
	if absent(obj) {
		return ""
	}
	return obj.GetLabels()[key]
}

type metaObject interface {
	GetAnnotations() map[string]string
	GetLabels() map[string]string
}

func hubAcceptsClient(mc *unstructured.Unstructured) bool {
	v, _, _ := unstructured.NestedBool(mc.Object, "spec", "hubAcceptsClient")
	return v
}

// conditionTrue: the status condition is True (at the object's generation
// when atGeneration).
func conditionTrue(obj *unstructured.Unstructured, condType string) bool {
	status, _ := conditionOf(obj, condType)
	return status == "True"
}

func conditionOf(obj *unstructured.Unstructured, condType string) (status string, observedGeneration int64) {
	if obj == nil {
		return "", 0
	}
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == condType {
			s, _ := m["status"].(string)
			g, _ := m["observedGeneration"].(int64)
			return s, g
		}
	}
	return "", 0
}

// workApplied: the ManifestWork's Applied condition is True at its current generation.
func workApplied(work *unstructured.Unstructured) bool {
	status, gen := conditionOf(work, "Applied")
	return work != nil && status == "True" && gen == work.GetGeneration()
}

// appliedGeneration is the generation the work agent last reported applied (0 if none).
func appliedGeneration(work *unstructured.Unstructured) int64 {
	status, gen := conditionOf(work, "Applied")
	if status != "True" {
		return 0
	}
	return gen
}

// withMarkers returns a copy of obj's labels and annotations changed by set
// (a value) and del (keys), and whether anything changed.
func withMarkers(obj *unstructured.Unstructured, setLabels, setAnnotations map[string]string, delLabels, delAnnotations []string) (*unstructured.Unstructured, bool) {
	out := obj.DeepCopy()
	labels, anns := maps.Clone(out.GetLabels()), maps.Clone(out.GetAnnotations())
	if labels == nil {
		labels = map[string]string{}
	}
	if anns == nil {
		anns = map[string]string{}
	}
	for _, k := range delLabels {
		delete(labels, k)
	}
	for _, k := range delAnnotations {
		delete(anns, k)
	}
	maps.Copy(labels, setLabels)
	maps.Copy(anns, setAnnotations)
	changed := !maps.Equal(labels, obj.GetLabels()) && !(len(labels) == 0 && len(obj.GetLabels()) == 0) ||
		!maps.Equal(anns, obj.GetAnnotations()) && !(len(anns) == 0 && len(obj.GetAnnotations()) == 0)
	out.SetLabels(labels)
	out.SetAnnotations(anns)
	return out, changed
}

// prefixedAnnotations are the keys under hubmigrate's prefix.
func prefixedAnnotations(obj metaObject) []string {
	var keys []string
	for k := range obj.GetAnnotations() {
		if strings.HasPrefix(k, Prefix) {
			keys = append(keys, k)
		}
	}
	return keys
}
