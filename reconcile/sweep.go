package reconcile

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/hubmigrate/hubmigrate/informers"
)

// sweepKinds are the kinds hubmigrate makes, as the caches hold them.
type sweepKind struct {
	gvr      schema.GroupVersionResource
	informer func(informers.Informers) cache.SharedIndexInformer
	copy     bool // a copy (kept once its cluster is committed), not scaffolding
}

var sweepKinds = []sweepKind{
	{SecretGVR, func(i informers.Informers) cache.SharedIndexInformer { return i.OurSecrets }, false},
	{ServiceAccountGVR, func(i informers.Informers) cache.SharedIndexInformer { return i.OurServiceAccounts }, false},
	{ClusterRoleBindingGVR, func(i informers.Informers) cache.SharedIndexInformer { return i.OurBindings }, false},
	{ClusterRoleGVR, func(i informers.Informers) cache.SharedIndexInformer { return i.OurClusterRoles }, false},
	{KlusterletConfigGVR, func(i informers.Informers) cache.SharedIndexInformer { return i.KlusterletConfigs }, false},
	{KlusterletAddonConfigGVR, func(i informers.Informers) cache.SharedIndexInformer { return i.KlusterletAddonConfigs }, true},
	{ManagedClusterAddOnGVR, func(i informers.Informers) cache.SharedIndexInformer { return i.Addons }, true},
	{SecretGVR, func(i informers.Informers) cache.SharedIndexInformer { return i.PreservedSecrets }, true},
	{ConfigMapGVR, func(i informers.Informers) cache.SharedIndexInformer { return i.PreservedConfigMaps }, true},
}

// sweep removes, from every hub it can reach, what this home's migrations
// made but no migration owns any more — made by a stale leader after a
// finalizer was removed. Scaffolding goes; copies go unless their cluster is
// committed (a committed copy is the cluster's now); a namespace goes only if
// its ManagedCluster is not on that hub. Objects of another home are never
// touched, and a migration is confirmed gone by a live read first.
func (c *Controller) sweep(ctx context.Context) {
	logger := klog.FromContext(ctx)
	for _, name := range c.registry.Names() {
		h, err := c.registry.Hub(name)
		if err != nil || !h.Synced() {
			continue
		}
		inf := h.Informers()
		orphans := map[string]bool{} // migration UIDs found that no migration in the cache has
		knownUIDs := c.knownMigrationUIDs()
		known := func(uid string) bool { return knownUIDs[uid] }
		type stray struct {
			ref          Ref
			copy         bool
			migrationUID string
		}
		var strays []stray
		consider := func(gvr schema.GroupVersionResource, obj metav1.Object, isCopy bool) {
			labels := obj.GetLabels()
			uid := labels[LabelMigrationUID]
			if labels[LabelHome] != c.cfg.HomeID || uid == "" || known(uid) {
				return
			}
			orphans[uid] = true
			strays = append(strays, stray{Ref{GVR: gvr, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID()}, isCopy, uid})
		}
		for _, k := range sweepKinds {
			for _, o := range k.informer(inf).GetStore().List() {
				if m, ok := o.(metav1.Object); ok {
					consider(k.gvr, m, k.copy)
				}
			}
		}
		for _, o := range inf.ManagedClusters.GetStore().List() {
			consider(ManagedClusterGVR, o.(metav1.Object), true)
		}
		for _, o := range inf.Namespaces.GetStore().List() {
			consider(NamespaceGVR, o.(metav1.Object), false)
		}
		if len(strays) == 0 {
			continue
		}
		live, err := c.liveMigrationUIDs(ctx)
		if err != nil {
			logger.Error(err, "sweep: cannot re-read the migrations")
			return
		}
		committed := map[string]bool{}
		for _, o := range inf.ManagedClusters.GetStore().List() {
			mc := o.(*unstructured.Unstructured)
			if hasAnnotation(mc, AnnCommitted) || Phase(label(mc, LabelPhase)) == Completed {
				committed[mc.GetName()] = true
			}
		}
		for _, s := range strays {
			uid := s.migrationUID
			if live[uid] {
				continue
			}
			cluster := s.ref.Namespace
			if s.ref.GVR == ManagedClusterGVR || s.ref.GVR == NamespaceGVR {
				cluster = s.ref.Name
			} else if c := scaffoldingCluster(s.ref.Name); c != "" && !s.copy {
				cluster = c
			}
			if s.copy && committed[cluster] {
				continue
			}
			if s.ref.GVR == NamespaceGVR {
				if _, err := h.Dynamic.Resource(ManagedClusterGVR).Get(ctx, s.ref.Name, metav1.GetOptions{}); err == nil || !apierrors.IsNotFound(err) {
					continue
				}
			}
			if err := c.deleteStray(ctx, h, s.ref); err != nil {
				logger.Error(err, "sweep: cannot delete", "hub", name, "object", s.ref.String())
				continue
			}
			logger.Info("swept an object whose migration no longer exists", "hub", name, "object", s.ref.String(), "migrationUID", uid)
		}
	}
}

// knownMigrationUIDs is a copy of the migrations the cache holds, taken
// under the lock: the informer's handlers change the index while the sweep
// runs (a concurrent map read and write aborts the process).
func (c *Controller) knownMigrationUIDs() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]bool, len(c.byUID))
	for uid := range c.byUID {
		out[uid] = true
	}
	return out
}

// deleteStray deletes with a UID precondition; a ManagedCluster is set to
// hubAcceptsClient=false and re-read first.
func (c *Controller) deleteStray(ctx context.Context, h *informers.Hub, r Ref) error {
	if r.GVR == ManagedClusterGVR {
		mc, err := h.Dynamic.Resource(ManagedClusterGVR).Get(ctx, r.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if hubAcceptsClient(mc) {
			_ = unstructured.SetNestedField(mc.Object, false, "spec", "hubAcceptsClient")
			if _, err := h.Dynamic.Resource(ManagedClusterGVR).Update(ctx, mc, metav1.UpdateOptions{}); err != nil {
				return err
			}
			if mc, err = h.Dynamic.Resource(ManagedClusterGVR).Get(ctx, r.Name, metav1.GetOptions{}); err != nil {
				return err
			}
		}
		if hubAcceptsClient(mc) || hasAnnotation(mc, AnnCommitted) {
			return nil
		}
	}
	err := resource(h.Dynamic, r).Delete(ctx, r.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr.To(r.UID)}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// liveMigrationUIDs re-reads the migrations from the API server.
func (c *Controller) liveMigrationUIDs(ctx context.Context) (map[string]bool, error) {
	list, err := c.home.Resource(MigrationGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, m := range list.Items {
		out[string(m.GetUID())] = true
	}
	return out, nil
}
