package envtest

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A user who may write ManagedClusters but holds neither accept nor join.
var (
	rbacClusterRole = rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "mc-editor"},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"cluster.open-cluster-management.io"},
			Resources: []string{"managedclusters"},
			Verbs:     []string{"get", "list", "create", "update"},
		}},
	}
	rbacBinding = rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "mc-editor"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "mc-editor"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "mc-editor"}},
	}
)
