package sim

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Resources and names of OCM and ACM that the simulator plays with.
var (
	ManagedClusterGVR        = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1", Resource: "managedclusters"}
	ManifestWorkGVR          = schema.GroupVersionResource{Group: "work.open-cluster-management.io", Version: "v1", Resource: "manifestworks"}
	KlusterletConfigGVR      = schema.GroupVersionResource{Group: "config.open-cluster-management.io", Version: "v1alpha1", Resource: "klusterletconfigs"}
	KlusterletAddonConfigGVR = schema.GroupVersionResource{Group: "agent.open-cluster-management.io", Version: "v1", Resource: "klusterletaddonconfigs"}
	ManagedClusterAddOnGVR   = schema.GroupVersionResource{Group: "addon.open-cluster-management.io", Version: "v1alpha1", Resource: "managedclusteraddons"}
)

const (
	// LabelClusterName marks a cluster's namespace and its registration CSRs.
	LabelClusterName = "open-cluster-management.io/cluster-name"
	// AnnotationKlusterletConfig names the KlusterletConfig ACM renders a cluster's klusterlet from.
	AnnotationKlusterletConfig = "agent.open-cluster-management.io/klusterlet-config"
	// LeaseName is the lease the hub creates on acceptance and only the agent renews.
	LeaseName = "managed-cluster-lease"
	// TaintUnreachable is set while the cluster is not Available.
	TaintUnreachable = "cluster.open-cluster-management.io/unreachable"

	ConditionHubAccepted = "HubAcceptedManagedCluster"
	ConditionJoined      = "ManagedClusterJoined"
	ConditionAvailable   = "ManagedClusterConditionAvailable"

	finalizerAPIResourceCleanup = "cluster.open-cluster-management.io/api-resource-cleanup"
	finalizerWorkCleanup        = "cluster.open-cluster-management.io/manifest-work-cleanup"

	// BootstrapClusterRole is OCM's role for bootstrap credentials.
	BootstrapClusterRole    = "open-cluster-management:bootstrap"
	registrationClusterRole = "open-cluster-management:managedcluster:registration"
	workClusterRole         = "open-cluster-management:managedcluster:work"
	// ManagedClustersGroup is the group every agent certificate carries.
	ManagedClustersGroup = "system:open-cluster-management:managed-clusters"
)

// KlusterletWorkName is the ManifestWork ACM's import controller renders a cluster's klusterlet into.
func KlusterletWorkName(cluster string) string { return cluster + "-klusterlet" }

// ClusterGroup is the group of a cluster's agent certificates.
func ClusterGroup(cluster string) string { return "system:open-cluster-management:" + cluster }

// AgentUser is the user name (CN) of a cluster's agent certificate.
func AgentUser(cluster, agent string) string { return ClusterGroup(cluster) + ":" + agent }

func clusterRBACName(cluster string) string {
	return "open-cluster-management:managedcluster:" + cluster
}

func importBootstrapSA(cluster string) string { return cluster + "-bootstrap-sa" }

// ImportBootstrapRBAC is what ACM's import controller binds its per-cluster
// bootstrap ServiceAccount to: a ClusterRole of its own per cluster
// (manifests/hub/managedcluster-clusterrole.yaml), not OCM's bootstrap role,
// so a hub without OCM's bootstrap ClusterRole still imports.
func ImportBootstrapRBAC(cluster string) (*rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding) {
	name := "system:open-cluster-management:managedcluster:bootstrap:" + cluster
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}, Verbs: []string{"create", "get", "list", "watch"}},
			{APIGroups: []string{"cluster.open-cluster-management.io"}, Resources: []string{"managedclusters"}, Verbs: []string{"get", "create"}},
		},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: importBootstrapSA(cluster), Namespace: cluster}},
	}
	return role, binding
}

// condition returns the status of a condition on an unstructured object ("" if absent).
func condition(obj *unstructured.Unstructured, condType string) (status string, observedGeneration int64) {
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

// setCondition sets a condition, keeping lastTransitionTime when the status is unchanged.
// It reports whether anything changed.
func setCondition(obj *unstructured.Unstructured, condType, status, reason, now string, generation int64) bool {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for i, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != condType {
			continue
		}
		g, _ := m["observedGeneration"].(int64)
		if m["status"] == status && m["reason"] == reason && g == generation {
			return false
		}
		if m["status"] != status {
			m["lastTransitionTime"] = now
		}
		m["status"], m["reason"], m["message"] = status, reason, reason
		if generation > 0 {
			m["observedGeneration"] = generation
		}
		conds[i] = m
		_ = unstructured.SetNestedSlice(obj.Object, conds, "status", "conditions")
		return true
	}
	m := map[string]any{"type": condType, "status": status, "reason": reason, "message": reason, "lastTransitionTime": now}
	if generation > 0 {
		m["observedGeneration"] = generation
	}
	conds = append(conds, m)
	_ = unstructured.SetNestedSlice(obj.Object, conds, "status", "conditions")
	return true
}

func accepted(mc *unstructured.Unstructured) bool {
	v, _, _ := unstructured.NestedBool(mc.Object, "spec", "hubAcceptsClient")
	return v
}
