package reconcile

import (
	"context"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/hubmigrate/hubmigrate/informers"
)

// sweepKind is a kind of scaffolding, as the caches hold it, and where a
// migration makes it: its namespace (by role) and its name pattern.
type sweepKind struct {
	gvr      schema.GroupVersionResource
	informer func(informers.Informers) cache.SharedIndexInformer
	// perCluster: named hubmigrate-<cluster>-<uid8>; else hubmigrate-<uid8>.
	perCluster bool
	// namespaces it is made in ("" for cluster-scoped kinds).
	namespaces func(c Config) []string
}

var sweepKinds = []sweepKind{
	{SecretGVR, func(i informers.Informers) cache.SharedIndexInformer { return i.OurSecrets }, true,
		func(c Config) []string { return []string{c.BootstrapNamespace, c.BootstrapSecretNamespace} }},
	{ServiceAccountGVR, func(i informers.Informers) cache.SharedIndexInformer { return i.OurServiceAccounts }, false,
		func(c Config) []string { return []string{c.BootstrapNamespace} }},
	{ClusterRoleBindingGVR, func(i informers.Informers) cache.SharedIndexInformer { return i.OurBindings }, false, clusterScoped},
	{ClusterRoleGVR, func(i informers.Informers) cache.SharedIndexInformer { return i.OurClusterRoles }, false, clusterScoped},
	{KlusterletConfigGVR, func(i informers.Informers) cache.SharedIndexInformer { return i.KlusterletConfigs }, true, clusterScoped},
}

func clusterScoped(Config) []string { return []string{""} }

// provenScaffolding reports the migration UID of obj when everything about
// it says hubmigrate made it as scaffolding: this home's label, a migration
// UID label, the name and namespace a migration with that UID gives that
// kind, and a seal that verifies. Labels alone prove nothing — anyone who
// can label an object can copy them off an in-flight copy — and neither do
// a name and labels chosen to look like scaffolding, without the seal;
// ManagedClusters, Namespaces and copies are never swept.
func provenScaffolding(k sweepKind, obj metav1.Object, cfg Config, sealer *Sealer) (string, bool) {
	labels := obj.GetLabels()
	uid := labels[LabelMigrationUID]
	if labels[LabelHome] != cfg.HomeID || cfg.HomeID == "" || uid == "" || !slices.Contains(k.namespaces(cfg), obj.GetNamespace()) {
		return "", false
	}
	if sealer.Verify(k.gvr.Resource, obj) != nil {
		return "", false
	}
	name := obj.GetName()
	if !k.perCluster {
		return uid, name == ServiceAccountName(types.UID(uid))
	}
	cluster := scaffoldingCluster(name)
	return uid, cluster != "" && name == ScaffoldingName(cluster, types.UID(uid))
}

// sweep removes, from the hubs the migrations on this home name, the
// scaffolding of migrations that no longer exist — made by a stale leader
// after a finalizer was removed, or left by an abandoned deletion. Only
// scaffolding it can prove it made is touched (provenScaffolding, and a
// seal that verifies), and a migration is confirmed gone by a live read first.
func (c *Controller) sweep(ctx context.Context) {
	logger := klog.FromContext(ctx)
	sealer, err := c.sealer()
	if err != nil {
		logger.V(2).Info("sweep: nothing can be proven without the seal key", "err", err)
		return
	}
	for _, name := range c.hubsNamed() {
		h, err := c.registry.Hub(name)
		if err != nil || !h.Synced() || h.Down() != "" {
			continue
		}
		inf := h.Informers()
		knownUIDs := c.knownMigrationUIDs()
		type stray struct {
			ref          Ref
			migrationUID string
		}
		var strays []stray
		for _, k := range sweepKinds {
			for _, o := range k.informer(inf).GetStore().List() {
				obj, ok := o.(metav1.Object)
				if !ok {
					continue
				}
				if uid, proven := provenScaffolding(k, obj, c.cfg, sealer); proven && !knownUIDs[uid] {
					strays = append(strays, stray{Ref{GVR: k.gvr, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID()}, uid})
				}
			}
		}
		if len(strays) == 0 {
			continue
		}
		live, err := c.liveMigrationUIDs(ctx)
		if err != nil {
			logger.Error(err, "sweep: cannot re-read the migrations")
			return
		}
		for _, s := range strays {
			if live[s.migrationUID] {
				continue
			}
			err := resource(h.Dynamic, s.ref).Delete(ctx, s.ref.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr.To(s.ref.UID)}})
			if err != nil && !apierrors.IsNotFound(err) {
				logger.Error(err, "sweep: cannot delete", "hub", name, "object", s.ref.String())
				continue
			}
			logger.Info("swept scaffolding whose migration no longer exists", "hub", name, "object", s.ref.String(), "migrationUID", s.migrationUID)
		}
	}
}

// hubsNamed are the hubs a migration in the cache names: hubmigrate
// connects to no other (a kubeconfig Secret alone is not a reason to).
func (c *Controller) hubsNamed() []string {
	seen := map[string]bool{}
	var out []string
	for _, obj := range c.migrations.GetStore().List() {
		u := obj.(*unstructured.Unstructured)
		if !c.inScope(u.GetNamespace()) {
			continue
		}
		m, err := migrationFacts(u)
		if err != nil {
			continue
		}
		for _, hub := range []string{m.From, m.To} {
			if hub != "" && !seen[hub] {
				seen[hub] = true
				out = append(out, hub)
			}
		}
	}
	slices.Sort(out)
	return out
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
