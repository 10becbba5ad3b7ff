package reconcile

//hubmigrate:pure

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Labels and annotations that belong to a hub, a klusterlet or an import
// controller, or to the migration itself: never copied to the target.
var (
	droppedAnnotations = []string{
		AnnGlobalHubMigrating, AnnDisableAutoImport, AnnKlusterletConfig,
		"open-cluster-management.io/automatically-accepted-on",
		"kubectl.kubernetes.io/last-applied-configuration",
	}
	droppedLabelPrefixes = []string{Prefix, "feature.open-cluster-management.io/"}
)

func copyLabels(src map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range src {
		if k == LabelPhase || hasAnyPrefix(k, droppedLabelPrefixes) {
			continue
		}
		out[k] = v
	}
	return out
}

func copyAnnotations(src map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range src {
		if strings.HasPrefix(k, Prefix) || containsString(droppedAnnotations, k) {
			continue
		}
		out[k] = v
	}
	return out
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ownedMarkers are the labels and annotation every object the migration
// makes carries while in flight.
func (p *planner) ownedMarkers(obj *unstructured.Unstructured) {
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelHome] = p.f.HomeID
	labels[LabelMigrationUID] = string(p.owner.UID)
	obj.SetLabels(labels)
	anns := obj.GetAnnotations()
	if anns == nil {
		anns = map[string]string{}
	}
	anns[AnnOwner] = p.owner.String()
	obj.SetAnnotations(anns)
}

// managedClusterCopy is the target ManagedCluster: the source's spec (no
// status, no taints), accepted; its labels and annotations less the ones
// hubs and the migration own; the klusterlet-config annotation kept only
// where a KlusterletConfig of that name exists on the target.
func (p *planner) managedClusterCopy(cf *ClusterFacts, phase Phase) *unstructured.Unstructured {
	src := cf.Source.MC
	spec, _, _ := unstructured.NestedMap(src.Object, "spec")
	spec = runtime.DeepCopyJSON(spec)
	delete(spec, "taints")
	spec["hubAcceptsClient"] = true
	mc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
		"metadata": map[string]any{"name": src.GetName()},
		"spec":     spec,
	}}
	labels := copyLabels(src.GetLabels())
	labels[LabelPhase] = string(phase)
	mc.SetLabels(labels)
	anns := copyAnnotations(src.GetAnnotations())
	if original := annotation(src, AnnOriginalKlusterletConfig); original != "" && cf.Target.KlusterletConfigNames[original] {
		anns[AnnKlusterletConfig] = original
	}
	anns[AnnGlobalHubMigrating] = ""
	mc.SetAnnotations(anns)
	p.ownedMarkers(mc)
	return mc
}

// specCopy copies an object's spec, labels and annotations under the same
// name (KlusterletAddonConfig, ManagedClusterAddOn).
func (p *planner) specCopy(src *unstructured.Unstructured) *unstructured.Unstructured {
	out := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": src.GetAPIVersion(), "kind": src.GetKind(),
		"metadata": map[string]any{"name": src.GetName(), "namespace": src.GetNamespace()},
	}}
	if spec, ok, _ := unstructured.NestedMap(src.Object, "spec"); ok {
		out.Object["spec"] = runtime.DeepCopyJSON(spec)
	}
	out.SetLabels(copyLabels(src.GetLabels()))
	out.SetAnnotations(copyAnnotations(src.GetAnnotations()))
	p.ownedMarkers(out)
	return out
}

// secretCopy copies a preserved Secret: type, data, labels.
func (p *planner) secretCopy(src *corev1.Secret) *unstructured.Unstructured {
	data := map[string]any{}
	for k, v := range src.Data {
		data[k] = encodeBytes(v)
	}
	out := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": string(src.Type),
		"metadata": map[string]any{"name": src.Name, "namespace": src.Namespace},
		"data":     data,
	}}
	out.SetLabels(copyLabels(src.Labels))
	out.SetAnnotations(copyAnnotations(src.Annotations))
	p.ownedMarkers(out)
	return out
}

// configMapCopy copies a preserved ConfigMap: data, binary data, labels.
func (p *planner) configMapCopy(src *corev1.ConfigMap) *unstructured.Unstructured {
	data := map[string]any{}
	for k, v := range src.Data {
		data[k] = v
	}
	out := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": src.Name, "namespace": src.Namespace},
		"data":     data,
	}}
	if len(src.BinaryData) > 0 {
		bin := map[string]any{}
		for k, v := range src.BinaryData {
			bin[k] = encodeBytes(v)
		}
		out.Object["binaryData"] = bin
	}
	out.SetLabels(copyLabels(src.Labels))
	out.SetAnnotations(copyAnnotations(src.Annotations))
	p.ownedMarkers(out)
	return out
}
