package informers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"
)

// What a hub's caches keep is narrowed as objects arrive, so a cache grows
// with the clusters on the hub, not with everything hung on them (issue 19):
// no object keeps its managed fields (often larger than the object on a
// busy hub), and a ManifestWork — an ACM hub carries many per cluster,
// policies and addons included, each holding whole manifests — keeps only
// its metadata and status conditions: hubmigrate reads nothing else of a
// work (the klusterlet work's generation, resourceVersion and Applied
// condition), and whatever is written is read live first.

// dropManagedFields is the transform of every cache.
func dropManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil && !isTombstone(obj) {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// trimManifestWork keeps a work's metadata (without managed fields) and
// its status conditions.
func trimManifestWork(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	out := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": u.GetAPIVersion(), "kind": u.GetKind(),
		"metadata": u.Object["metadata"],
	}}
	out.SetManagedFields(nil)
	if conds, found, _ := unstructured.NestedFieldNoCopy(u.Object, "status", "conditions"); found {
		out.Object["status"] = map[string]any{"conditions": conds}
	}
	return out, nil
}

func isTombstone(obj any) bool {
	_, ok := obj.(cache.DeletedFinalStateUnknown)
	return ok
}

// narrow sets the transforms before the informers start.
func (inf Informers) narrow() {
	for _, i := range []cache.SharedIndexInformer{
		inf.ManagedClusters, inf.KlusterletConfigs, inf.KlusterletAddonConfigs, inf.Addons,
		inf.PlacementDecisions, inf.Placements, inf.Namespaces, inf.CSRs, inf.Leases,
		inf.OurSecrets, inf.OurServiceAccounts, inf.OurBindings, inf.OurClusterRoles, inf.BootstrapRoles,
		inf.PreservedSecrets, inf.PreservedConfigMaps,
	} {
		_ = i.SetTransform(dropManagedFields)
	}
	_ = inf.ManifestWorks.SetTransform(trimManifestWork)
}
