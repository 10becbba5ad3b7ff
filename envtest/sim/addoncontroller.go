package sim

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// kacAddons maps KlusterletAddonConfig switches to the ManagedClusterAddOns
// ACM's klusterlet-addon-controller creates for them.
var kacAddons = []struct {
	field  string
	addons []string
}{
	{"applicationManager", []string{"application-manager"}},
	{"certPolicyController", []string{"cert-policy-controller"}},
	{"policyController", []string{"config-policy-controller", "governance-policy-framework"}},
	{"searchCollector", []string{"search-collector"}},
}

// addonController plays ACM's klusterlet-addon-controller: as soon as a
// cluster's KlusterletAddonConfig exists, its enabled addons are created.
func (s *Simulator) addonController(ctx context.Context, h *hub, cluster string, mc *unstructured.Unstructured) error {
	if s.opts.NoAddonController || mc == nil || mc.GetDeletionTimestamp() != nil {
		return nil
	}
	obj, err := h.kacs.ByNamespace(cluster).Get(cluster)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	kac := obj.(*unstructured.Unstructured)
	addons := h.dyn.Resource(ManagedClusterAddOnGVR).Namespace(cluster)
	for _, a := range kacAddons {
		if enabled, _, _ := unstructured.NestedBool(kac.Object, "spec", a.field, "enabled"); !enabled {
			continue
		}
		for _, name := range a.addons {
			mca := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "addon.open-cluster-management.io/v1alpha1", "kind": "ManagedClusterAddOn",
				"metadata": map[string]any{"name": name, "namespace": cluster},
				"spec":     map[string]any{"installNamespace": "open-cluster-management-agent-addon"},
			}}
			if _, err := addons.Create(ctx, mca, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
		}
	}
	return nil
}
