package reconcile

import (
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"

	"github.com/hubmigrate/hubmigrate/informers"
)

// observer collects one migration's facts from the hubs' caches.
type observer struct {
	source, target *informers.Hub
	src, tgt       informers.Informers
	facts          *Facts
}

func getFrom[T any](store cache.Store, key string) T {
	var zero T
	obj, exists, err := store.GetByKey(key)
	if err != nil || !exists {
		return zero
	}
	t, ok := obj.(T)
	if !ok {
		return zero
	}
	return t
}

func listIn[T any](store cache.Indexer, namespace string) []T {
	objs, err := store.ByIndex(cache.NamespaceIndex, namespace)
	if err != nil {
		return nil
	}
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// observeClusters fills f.Clusters and the migration-wide facts. source and
// target may be nil (unreachable); their facts are then empty.
func observeClusters(f *Facts, source, target *informers.Hub) {
	o := &observer{source: source, target: target, facts: f}
	uid := f.Migration.Owner.UID
	if source != nil {
		o.src = source.Informers()
		if ref := f.Migration.PlacementRef; ref != "" && f.Migration.Annotations[AnnClusters] == "" {
			// The decisions labelled with the Placement, and the Placements
			// of that name: the planner counts a decision only when the
			// Placement in its namespace owns it.
			for _, obj := range o.src.PlacementDecisions.GetStore().List() {
				if pd, ok := obj.(*unstructured.Unstructured); ok && pd.GetLabels()[LabelPlacement] == ref {
					f.PlacementDecisions = append(f.PlacementDecisions, pd)
				}
			}
			for _, obj := range o.src.Placements.GetStore().List() {
				if pl, ok := obj.(*unstructured.Unstructured); ok && pl.GetName() == ref {
					f.Placements = append(f.Placements, pl)
				}
			}
		}
	}
	if target != nil {
		o.tgt = target.Informers()
		f.ServiceAccount = getFrom[*corev1.ServiceAccount](o.tgt.OurServiceAccounts.GetStore(), f.BootstrapNamespace+"/"+ServiceAccountName(uid))
		f.Binding = getFrom[*rbacv1.ClusterRoleBinding](o.tgt.OurBindings.GetStore(), ServiceAccountName(uid))
		f.ClusterRole = getFrom[*rbacv1.ClusterRole](o.tgt.OurClusterRoles.GetStore(), ServiceAccountName(uid))
		f.Target.BootstrapClusterRole = len(o.tgt.BootstrapRoles.GetStore().ListKeys()) > 0
	}
	for _, name := range f.Migration.Clusters() {
		cf := ClusterFacts{Name: name}
		if source != nil {
			o.observeSource(&cf)
		}
		if target != nil {
			o.observeTarget(&cf)
		}
		f.Clusters = append(f.Clusters, cf)
	}
}

func (o *observer) observeSource(cf *ClusterFacts) {
	f, c := o.facts, cf.Name
	scaffold := ScaffoldingName(c, f.Migration.Owner.UID)
	s := &cf.Source
	s.MC = getFrom[*unstructured.Unstructured](o.src.ManagedClusters.GetStore(), c)
	s.KlusterletWork = getFrom[*unstructured.Unstructured](o.src.ManifestWorks.GetStore(), c+"/"+c+"-klusterlet")
	s.KlusterletConfig = getFrom[*unstructured.Unstructured](o.src.KlusterletConfigs.GetStore(), scaffold)
	named := annotation(s.MC, AnnOriginalKlusterletConfig)
	if !hasAnnotation(s.MC, AnnOriginalKlusterletConfig) {
		named = annotation(s.MC, AnnKlusterletConfig)
	}
	if named != "" && named != scaffold {
		s.NamedKlusterletConfig = getFrom[*unstructured.Unstructured](o.src.KlusterletConfigs.GetStore(), named)
	}
	s.BootstrapSecret = getFrom[*corev1.Secret](o.src.OurSecrets.GetStore(), f.BootstrapSecretNamespace+"/"+scaffold)
	s.Lease = getFrom[*coordinationv1.Lease](o.src.Leases.GetStore(), c+"/managed-cluster-lease")
	s.Migrated = migrated(o.src, c)
}

func (o *observer) observeTarget(cf *ClusterFacts) {
	f, c := o.facts, cf.Name
	t := &cf.Target
	t.MC = getFrom[*unstructured.Unstructured](o.tgt.ManagedClusters.GetStore(), c)
	t.Namespace = getFrom[*corev1.Namespace](o.tgt.Namespaces.GetStore(), c)
	t.KlusterletWork = getFrom[*unstructured.Unstructured](o.tgt.ManifestWorks.GetStore(), c+"/"+c+"-klusterlet")
	t.Lease = getFrom[*coordinationv1.Lease](o.tgt.Leases.GetStore(), c+"/managed-cluster-lease")
	t.Anchor = getFrom[*corev1.Secret](o.tgt.OurSecrets.GetStore(), f.BootstrapNamespace+"/"+ScaffoldingName(c, f.Migration.Owner.UID))
	for _, obj := range o.tgt.CSRs.GetStore().List() {
		if csr, ok := obj.(*certificatesv1.CertificateSigningRequest); ok && csr.Labels[LabelClusterName] == c {
			t.CSRs = append(t.CSRs, csr)
		}
	}
	t.KlusterletConfigNames = map[string]bool{}
	for _, key := range o.tgt.KlusterletConfigs.GetStore().ListKeys() {
		t.KlusterletConfigNames[key] = true
	}
	t.Migrated = migrated(o.tgt, c)
}

// migrated lists the resources in a cluster's namespace that move with it.
func migrated(inf informers.Informers, c string) MigratedObjects {
	m := MigratedObjects{
		KlusterletAddonConfig: getFrom[*unstructured.Unstructured](inf.KlusterletAddonConfigs.GetStore(), c+"/"+c),
		Addons:                listIn[*unstructured.Unstructured](inf.Addons.GetIndexer(), c),
		Secrets:               listIn[*corev1.Secret](inf.PreservedSecrets.GetIndexer(), c),
		ConfigMaps:            listIn[*corev1.ConfigMap](inf.PreservedConfigMaps.GetIndexer(), c),
	}
	return m
}

// clusterOfEvent is the cluster an object on a hub belongs to, for mapping
// events to migrations ("" when it names none).
func clusterOfEvent(obj any) string {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	type named interface {
		GetName() string
		GetNamespace() string
		GetLabels() map[string]string
	}
	o, ok := obj.(named)
	if !ok {
		return ""
	}
	if c := o.GetLabels()[LabelClusterName]; c != "" {
		return c
	}
	switch v := obj.(type) {
	case *unstructured.Unstructured:
		if v.GetKind() == "ManagedCluster" {
			return v.GetName()
		}
		if v.GetKind() == "KlusterletConfig" {
			// hubmigrate-<cluster>-<uid8>
			return scaffoldingCluster(v.GetName())
		}
	case *corev1.Namespace:
		return v.Name
	case *corev1.Secret:
		if v.Namespace != "" && strings.HasPrefix(v.Name, "hubmigrate-") {
			if c := scaffoldingCluster(v.Name); c != "" {
				return c
			}
		}
	}
	return o.GetNamespace()
}

// scaffoldingCluster is the cluster named in hubmigrate-<cluster>-<uid8>.
func scaffoldingCluster(name string) string {
	rest, ok := strings.CutPrefix(name, "hubmigrate-")
	if !ok {
		return ""
	}
	i := strings.LastIndex(rest, "-")
	if i <= 0 {
		return ""
	}
	return rest[:i]
}
