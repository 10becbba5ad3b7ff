package baseline

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/hubmigrate/hubmigrate/informers"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// identity is the run's bootstrap ServiceAccount on the target, which every
// cluster's token belongs to and every agent files its CSR as.
type identity struct {
	name string
	uid  types.UID
	// ownRole: the target had no OCM bootstrap ClusterRole, so the run made
	// one with its rules (as hubmigrate does).
	ownRole bool
}

// user is the CSR requester the agents' CSRs show.
func (id identity) user(namespace string) string {
	return "system:serviceaccount:" + namespace + ":" + id.name
}

// makeIdentity creates the ServiceAccount and binds it to OCM's bootstrap
// ClusterRole (or to one of the run's own with the same rules where the hub
// has none): one write each, once for the whole run.
func (r *run) makeIdentity(ctx context.Context) (identity, error) {
	id := identity{name: reconcile.ServiceAccountName(r.uid)}
	sa, err := r.target.kube.CoreV1().ServiceAccounts(r.opts.BootstrapNamespace).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: r.scaffoldingMeta(r.opts.BootstrapNamespace, id.name)}, metav1.CreateOptions{})
	if err != nil {
		return id, err
	}
	id.uid = sa.UID
	role := informers.BootstrapClusterRole
	if _, err := r.target.kube.RbacV1().ClusterRoles().Get(ctx, role, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		role, id.ownRole = id.name, true
		_, err = r.target.kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
			ObjectMeta: r.scaffoldingMeta("", id.name),
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}, Verbs: []string{"create", "get", "list", "watch"}},
				{APIGroups: []string{"cluster.open-cluster-management.io"}, Resources: []string{"managedclusters"}, Verbs: []string{"get", "create"}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return id, err
		}
	} else if err != nil {
		return id, err
	}
	_, err = r.target.kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: r.scaffoldingMeta("", id.name),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: id.name, Namespace: r.opts.BootstrapNamespace}},
	}, metav1.CreateOptions{})
	return id, err
}

// removeIdentity deletes the binding, the run's ClusterRole if it made one,
// and the ServiceAccount (which also invalidates every token minted for it).
func (r *run) removeIdentity(ctx context.Context, id identity) error {
	rbac := r.target.kube.RbacV1()
	deletes := []func() error{
		func() error { return rbac.ClusterRoleBindings().Delete(ctx, id.name, metav1.DeleteOptions{}) },
	}
	if id.ownRole {
		deletes = append(deletes, func() error { return rbac.ClusterRoles().Delete(ctx, id.name, metav1.DeleteOptions{}) })
	}
	deletes = append(deletes, func() error {
		return r.target.kube.CoreV1().ServiceAccounts(r.opts.BootstrapNamespace).Delete(ctx, id.name,
			metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr.To(id.uid)}})
	})
	for _, del := range deletes {
		if err := del(); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
