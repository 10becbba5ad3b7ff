package sim

import (
	"context"
	"errors"
	"slices"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// syncHub plays, for one cluster on one hub, the hub-side controllers: OCM's
// hub controller, ACM's import controller and klusterlet-addon-controller, and
// the rogue approver knob.
func (s *Simulator) syncHub(ctx context.Context, h *hub, cluster string) error {
	var mc *unstructured.Unstructured
	if obj, err := h.mcs.Get(cluster); err == nil {
		mc = obj.(*unstructured.Unstructured)
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	// Separate controllers in OCM and ACM: one failing (the import
	// controller waiting for a Secret) does not hold the others back.
	var errs []error
	for _, step := range []func(context.Context, *hub, string, *unstructured.Unstructured) error{
		s.hubController, s.importController, s.addonController, s.rogueApprover,
	} {
		errs = append(errs, step(ctx, h, cluster, mc))
	}
	return errors.Join(errs...)
}

// hubController plays the effects of OCM's registration hub controller that
// hubmigrate can observe: on acceptance the namespace, the cluster's RBAC, the
// finalizer, the lease and HubAccepted; on hubAcceptsClient=false RBAC cut to
// reading itself (the work RoleBinding held by its finalizer while works
// exist) and HubAccepted lagging; Available → Unknown after 5 lease
// durations without renewal, with the unreachable taint; RBAC cleanup on deletion.
func (s *Simulator) hubController(ctx context.Context, h *hub, cluster string, mc *unstructured.Unstructured) error {
	if err := s.releaseWorkRoleBinding(ctx, h, cluster); err != nil {
		return err
	}
	if mc == nil {
		return nil
	}
	if mc.GetDeletionTimestamp() != nil {
		return s.cleanupCluster(ctx, h, mc)
	}
	// Lease renewals wake this often; the acceptance state is redone only
	// when the ManagedCluster changed since it was last put in place.
	if rv, ok := h.reconciledRV.Load(cluster); !ok || rv != mc.GetResourceVersion() {
		done, err := true, error(nil)
		if accepted(mc) {
			err = s.acceptCluster(ctx, h, mc)
		} else {
			done, err = s.unacceptCluster(ctx, h, mc)
		}
		if err != nil {
			return err
		}
		if done {
			h.reconciledRV.Store(cluster, mc.GetResourceVersion())
		}
	}
	return s.leaseAndAvailability(ctx, h, mc)
}

func (s *Simulator) acceptCluster(ctx context.Context, h *hub, mc *unstructured.Unstructured) error {
	c := mc.GetName()
	ns, err := h.kube.CoreV1().Namespaces().Get(ctx, c, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c, Labels: map[string]string{LabelClusterName: c}}}
		if _, err := h.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	case err != nil:
		return err
	case ns.DeletionTimestamp != nil:
		// OCM waits for a terminating namespace to go before it makes it again.
		s.queue.AddAfter(hubKey(h.Name, c), time.Second)
		return nil
	case ns.Labels[LabelClusterName] != c:
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[LabelClusterName] = c
		if _, err := h.kube.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	if err := s.ensureClusterRole(ctx, h, c, fullClusterRules(c)); err != nil {
		return err
	}
	if err := ensure(ctx, h.kube.RbacV1().ClusterRoleBindings(), &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: clusterRBACName(c)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRBACName(c)},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "Group", Name: ClusterGroup(c)}},
	}); err != nil {
		return err
	}
	for _, rb := range []struct{ suffix, role, finalizer string }{
		{"registration", registrationClusterRole, ""},
		{"work", workClusterRole, finalizerWorkCleanup},
	} {
		obj := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: clusterRBACName(c) + ":" + rb.suffix, Namespace: c},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: rb.role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "Group", Name: ClusterGroup(c)}},
		}
		if rb.finalizer != "" {
			obj.Finalizers = []string{rb.finalizer}
		}
		existing, err := h.kube.RbacV1().RoleBindings(c).Get(ctx, obj.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			if _, err := h.kube.RbacV1().RoleBindings(c).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
		} else if err != nil {
			return err
		}
		// After re-acceptance OCM does not make the work RoleBinding again
		// while the old one is held by its finalizer.
		_ = existing
	}
	if !slices.Contains(mc.GetFinalizers(), finalizerAPIResourceCleanup) {
		mc = mc.DeepCopy()
		mc.SetFinalizers(append(mc.GetFinalizers(), finalizerAPIResourceCleanup))
		updated, err := h.dyn.Resource(ManagedClusterGVR).Update(ctx, mc, metav1.UpdateOptions{})
		if err != nil {
			return err
		}
		mc = updated
	}
	if _, err := h.kube.CoordinationV1().Leases(c).Get(ctx, LeaseName, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		now := metav1.NewMicroTime(s.now())
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: LeaseName, Namespace: c, Labels: map[string]string{LabelClusterName: c}},
			Spec:       coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr.To[int32](60), RenewTime: &now},
		}
		if _, err := h.kube.CoordinationV1().Leases(c).Create(ctx, lease, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	} else if err != nil {
		return err
	}
	if status, _ := condition(mc, ConditionHubAccepted); status != "True" {
		mc = mc.DeepCopy()
		setCondition(mc, ConditionHubAccepted, "True", "HubClusterAdminAccepted", s.now().UTC().Format(time.RFC3339), 0)
		if _, err := h.dyn.Resource(ManagedClusterGVR).UpdateStatus(ctx, mc, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// unacceptCluster is OCM's reaction to hubAcceptsClient=false; done is false
// while it waits for the cluster's ManifestWorks to go (their events wake it).
func (s *Simulator) unacceptCluster(ctx context.Context, h *hub, mc *unstructured.Unstructured) (done bool, err error) {
	c := mc.GetName()
	if _, err := h.kube.RbacV1().ClusterRoles().Get(ctx, clusterRBACName(c), metav1.GetOptions{}); err == nil {
		if err := s.ensureClusterRole(ctx, h, c, selfReadRules(c)); err != nil {
			return false, err
		}
	}
	for _, suffix := range []string{"registration", "work"} {
		err := h.kube.RbacV1().RoleBindings(c).Delete(ctx, clusterRBACName(c)+":"+suffix, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return false, err
		}
	}
	if status, _ := condition(mc, ConditionHubAccepted); status != "True" {
		return true, nil
	}
	// OCM's hub controller sets HubAccepted False only once the cluster
	// namespace holds no ManifestWork (it requeues until then): with ACM's
	// klusterlet work there, not before the cluster is deleted.
	if works, _ := h.works.ByNamespace(c).List(labels.Everything()); len(works) > 0 {
		return false, nil
	}
	mc = mc.DeepCopy()
	setCondition(mc, ConditionHubAccepted, "False", "HubClusterAdminDenied", s.now().UTC().Format(time.RFC3339), 0)
	_, err = h.dyn.Resource(ManagedClusterGVR).UpdateStatus(ctx, mc, metav1.UpdateOptions{})
	return err == nil, err
}

// leaseAndAvailability turns Available Unknown 5 lease durations after the
// last renewal, and keeps the unreachable taint in step with Available.
func (s *Simulator) leaseAndAvailability(ctx context.Context, h *hub, mc *unstructured.Unstructured) error {
	c := mc.GetName()
	status, _ := condition(mc, ConditionAvailable)
	if obj, exists, _ := h.leases.GetByKey(c + "/" + LeaseName); exists && status == "True" {
		lease := obj.(*coordinationv1.Lease)
		last := lease.CreationTimestamp.Time
		if lease.Spec.RenewTime != nil {
			last = lease.Spec.RenewTime.Time
		}
		grace := 5 * s.opts.LeaseDuration
		if wait := last.Add(grace).Sub(s.now()); wait > 0 {
			s.queue.AddAfter(hubKey(h.Name, c), wait+10*time.Millisecond)
		} else {
			mc = mc.DeepCopy()
			setCondition(mc, ConditionAvailable, "Unknown", "ManagedClusterLeaseUpdateStopped", s.now().UTC().Format(time.RFC3339), 0)
			updated, err := h.dyn.Resource(ManagedClusterGVR).UpdateStatus(ctx, mc, metav1.UpdateOptions{})
			if err != nil {
				return err
			}
			mc, status = updated, "Unknown"
		}
	}
	// OCM's taint controller: unreachable while Available is missing or
	// Unknown, accepted or not; a deleting cluster's taints are left alone.
	if mc.GetDeletionTimestamp() != nil {
		return nil
	}
	taints, _, _ := unstructured.NestedSlice(mc.Object, "spec", "taints")
	has := slices.ContainsFunc(taints, func(t any) bool { m, _ := t.(map[string]any); return m["key"] == TaintUnreachable })
	want := status == "" || status == "Unknown"
	if has == want {
		return nil
	}
	mc = mc.DeepCopy()
	if want {
		taints = append(taints, map[string]any{"key": TaintUnreachable, "effect": "NoSelect", "timeAdded": s.now().UTC().Format(time.RFC3339)})
	} else {
		taints = slices.DeleteFunc(taints, func(t any) bool { m, _ := t.(map[string]any); return m["key"] == TaintUnreachable })
	}
	if len(taints) == 0 {
		unstructured.RemoveNestedField(mc.Object, "spec", "taints")
	} else {
		_ = unstructured.SetNestedSlice(mc.Object, taints, "spec", "taints")
	}
	_, err := h.dyn.Resource(ManagedClusterGVR).Update(ctx, mc, metav1.UpdateOptions{})
	return err
}

// cleanupCluster is the deletion finalizer: the cluster's RBAC goes, the
// namespace and the lease stay.
func (s *Simulator) cleanupCluster(ctx context.Context, h *hub, mc *unstructured.Unstructured) error {
	c := mc.GetName()
	for _, del := range []func() error{
		func() error {
			return h.kube.RbacV1().RoleBindings(c).Delete(ctx, clusterRBACName(c)+":registration", metav1.DeleteOptions{})
		},
		func() error {
			return h.kube.RbacV1().RoleBindings(c).Delete(ctx, clusterRBACName(c)+":work", metav1.DeleteOptions{})
		},
		func() error {
			return h.kube.RbacV1().ClusterRoleBindings().Delete(ctx, clusterRBACName(c), metav1.DeleteOptions{})
		},
		func() error {
			return h.kube.RbacV1().ClusterRoles().Delete(ctx, clusterRBACName(c), metav1.DeleteOptions{})
		},
	} {
		if err := del(); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if !slices.Contains(mc.GetFinalizers(), finalizerAPIResourceCleanup) {
		return nil
	}
	// OCM's resource cleanup: the ManifestWorks in the cluster namespace are
	// deleted, and the ManagedCluster stays until they are gone (their
	// finalizers are the work agent's, or the import controller's to force).
	works, err := h.works.ByNamespace(c).List(labels.Everything())
	if err != nil {
		return err
	}
	if len(works) > 0 {
		for _, w := range works {
			if u := w.(*unstructured.Unstructured); u.GetDeletionTimestamp() == nil {
				if err := h.dyn.Resource(ManifestWorkGVR).Namespace(c).Delete(ctx, u.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					return err
				}
			}
		}
		// Meanwhile the lease controller goes on: a cluster whose agent
		// left turns Unknown, which is what lets the import controller
		// free the works.
		if err := s.leaseAndAvailability(ctx, h, mc); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		return nil
	}
	mc = mc.DeepCopy()
	mc.SetFinalizers(slices.DeleteFunc(mc.GetFinalizers(), func(f string) bool { return f == finalizerAPIResourceCleanup }))
	_, err = h.dyn.Resource(ManagedClusterGVR).Update(ctx, mc, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// releaseWorkRoleBinding lets a deleted work RoleBinding go once no
// ManifestWork is left in the cluster namespace.
func (s *Simulator) releaseWorkRoleBinding(ctx context.Context, h *hub, c string) error {
	obj, exists, err := h.roleBindings.GetByKey(c + "/" + clusterRBACName(c) + ":work")
	if err != nil || !exists {
		return err
	}
	rb := obj.(*rbacv1.RoleBinding).DeepCopy()
	if rb.DeletionTimestamp == nil || !slices.Contains(rb.Finalizers, finalizerWorkCleanup) {
		return nil
	}
	if works, _ := h.works.ByNamespace(c).List(labels.Everything()); len(works) > 0 {
		return nil
	}
	rb.Finalizers = slices.DeleteFunc(rb.Finalizers, func(f string) bool { return f == finalizerWorkCleanup })
	_, err = h.kube.RbacV1().RoleBindings(c).Update(ctx, rb, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (s *Simulator) ensureClusterRole(ctx context.Context, h *hub, c string, rules []rbacv1.PolicyRule) error {
	existing, err := h.kube.RbacV1().ClusterRoles().Get(ctx, clusterRBACName(c), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: clusterRBACName(c)}, Rules: rules}
		_, err = h.kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	if equalRules(existing.Rules, rules) {
		return nil
	}
	existing.Rules = rules
	_, err = h.kube.RbacV1().ClusterRoles().Update(ctx, existing, metav1.UpdateOptions{})
	return err
}

func equalRules(a, b []rbacv1.PolicyRule) bool {
	return slices.EqualFunc(a, b, func(x, y rbacv1.PolicyRule) bool {
		return slices.Equal(x.APIGroups, y.APIGroups) && slices.Equal(x.Resources, y.Resources) &&
			slices.Equal(x.Verbs, y.Verbs) && slices.Equal(x.ResourceNames, y.ResourceNames)
	})
}

// fullClusterRules is OCM's per-cluster ClusterRole of an accepted cluster.
func fullClusterRules(c string) []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests"}, Verbs: []string{"create", "get", "list", "watch"}},
		{APIGroups: []string{"cluster.open-cluster-management.io"}, Resources: []string{"managedclusters"}, ResourceNames: []string{c}, Verbs: []string{"get", "list", "update", "watch"}},
		{APIGroups: []string{"cluster.open-cluster-management.io"}, Resources: []string{"managedclusters/status"}, ResourceNames: []string{c}, Verbs: []string{"patch", "update"}},
		{APIGroups: []string{"register.open-cluster-management.io"}, Resources: []string{"managedclusters/clientcertificates"}, ResourceNames: []string{c}, Verbs: []string{"renew"}},
	}
}

// selfReadRules is what an unaccepted cluster keeps: reading itself.
func selfReadRules(c string) []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{"cluster.open-cluster-management.io"}, Resources: []string{"managedclusters"}, ResourceNames: []string{c}, Verbs: []string{"get", "list", "watch"}},
	}
}

type creator[T any] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
}

func ensure[T any](ctx context.Context, client creator[T], obj T) error {
	_, err := client.Create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
