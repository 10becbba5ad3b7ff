// Package informers knows hubs and their caches, nothing about phases: it
// builds a client per hub from the <hub>-kubeconfig Secrets on the home
// cluster (rebuilding it when the Secret is rotated), and starts, for the
// hubs a live migration involves, the informers the planner reads.
package informers

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// The resources cached per hub.
var (
	ManagedClusters        = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1", Resource: "managedclusters"}
	ManifestWorks          = schema.GroupVersionResource{Group: "work.open-cluster-management.io", Version: "v1", Resource: "manifestworks"}
	KlusterletConfigs      = schema.GroupVersionResource{Group: "config.open-cluster-management.io", Version: "v1alpha1", Resource: "klusterletconfigs"}
	KlusterletAddonConfigs = schema.GroupVersionResource{Group: "agent.open-cluster-management.io", Version: "v1", Resource: "klusterletaddonconfigs"}
	ManagedClusterAddOns   = schema.GroupVersionResource{Group: "addon.open-cluster-management.io", Version: "v1alpha1", Resource: "managedclusteraddons"}
	PlacementDecisions     = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1beta1", Resource: "placementdecisions"}
	// Placements: a decision counts only when the Placement it names, in its
	// own namespace, owns it (by UID).
	Placements = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1beta1", Resource: "placements"}
)

// Labels that select the objects hubmigrate caches among Secrets and ConfigMaps.
const (
	labelMigrationUID = "migration.open-cluster-management.io/migration-uid"
	labelPreserve     = "siteconfig.open-cluster-management.io/preserve"
	labelClusterName  = "open-cluster-management.io/cluster-name"
	leaseName         = "managed-cluster-lease"
	// BootstrapClusterRole is OCM's ClusterRole for bootstrap credentials.
	BootstrapClusterRole = "open-cluster-management:bootstrap"
)

// Hub is one hub's clients and caches.
type Hub struct {
	Name      string
	Config    *rest.Config
	Kube      kubernetes.Interface
	Dynamic   dynamic.Interface
	dynamic   dynamicinformer.DynamicSharedInformerFactory
	all       informers.SharedInformerFactory
	ours      informers.SharedInformerFactory
	preserved informers.SharedInformerFactory
	csrs      informers.SharedInformerFactory
	leases    informers.SharedInformerFactory
	bootstrap informers.SharedInformerFactory
	stop      context.CancelFunc
	synced    []cache.InformerSynced

	mu sync.Mutex
	// acm is discovery's answer on the KlusterletConfig API (nil: not known
	// yet, discovery failed); probed again at most every probeEvery.
	acm       *bool
	probedAt  time.Time
	lastError string // the last list/watch error of any cache
	// down is the error of the liveness probe once it has failed twice in a
	// row ("" when it answers): synced caches go stale silently when a hub
	// goes away, and one lost probe is not an outage.
	down     string
	failures int
}

// livenessEvery is how often a hub in use is asked for its version.
const livenessEvery = 5 * time.Second

const probeEvery = 5 * time.Second

// newHub builds the clients and informers of a hub; start runs them.
func newHub(name string, cfg *rest.Config, resync time.Duration) (*Hub, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	h := &Hub{Name: name, Config: cfg, Kube: kube, Dynamic: dyn}
	h.dynamic = dynamicinformer.NewDynamicSharedInformerFactory(dyn, resync)
	h.all = informers.NewSharedInformerFactory(kube, resync)
	h.ours = informers.NewSharedInformerFactoryWithOptions(kube, resync, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = labelMigrationUID
	}))
	h.preserved = informers.NewSharedInformerFactoryWithOptions(kube, resync, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = labelPreserve
	}))
	h.csrs = informers.NewSharedInformerFactoryWithOptions(kube, resync, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = labelClusterName
	}))
	h.leases = informers.NewSharedInformerFactoryWithOptions(kube, resync, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = "metadata.name=" + leaseName
	}))
	h.bootstrap = informers.NewSharedInformerFactoryWithOptions(kube, resync, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = "metadata.name=" + BootstrapClusterRole
	}))
	return h, nil
}

// Informers is what a hub caches, for the observer and the event handlers.
type Informers struct {
	ManagedClusters, ManifestWorks, KlusterletConfigs, KlusterletAddonConfigs, Addons, PlacementDecisions cache.SharedIndexInformer
	Placements                                                                                            cache.SharedIndexInformer
	Namespaces, CSRs, Leases                                                                              cache.SharedIndexInformer
	// OurSecrets, OurServiceAccounts, OurBindings, OurClusterRoles carry the
	// migration-UID label.
	OurSecrets, OurServiceAccounts, OurBindings, OurClusterRoles cache.SharedIndexInformer
	// BootstrapRoles holds OCM's bootstrap ClusterRole, if the hub has it.
	BootstrapRoles                        cache.SharedIndexInformer
	PreservedSecrets, PreservedConfigMaps cache.SharedIndexInformer
}

// Informers returns the hub's informers (creating them on first use).
func (h *Hub) Informers() Informers {
	return Informers{
		ManagedClusters:        h.dynamic.ForResource(ManagedClusters).Informer(),
		ManifestWorks:          h.dynamic.ForResource(ManifestWorks).Informer(),
		KlusterletConfigs:      h.dynamic.ForResource(KlusterletConfigs).Informer(),
		KlusterletAddonConfigs: h.dynamic.ForResource(KlusterletAddonConfigs).Informer(),
		Addons:                 h.dynamic.ForResource(ManagedClusterAddOns).Informer(),
		PlacementDecisions:     h.dynamic.ForResource(PlacementDecisions).Informer(),
		Placements:             h.dynamic.ForResource(Placements).Informer(),
		Namespaces:             h.all.Core().V1().Namespaces().Informer(),
		CSRs:                   h.csrs.Certificates().V1().CertificateSigningRequests().Informer(),
		Leases:                 h.leases.Coordination().V1().Leases().Informer(),
		OurSecrets:             h.ours.Core().V1().Secrets().Informer(),
		OurServiceAccounts:     h.ours.Core().V1().ServiceAccounts().Informer(),
		OurBindings:            h.ours.Rbac().V1().ClusterRoleBindings().Informer(),
		OurClusterRoles:        h.ours.Rbac().V1().ClusterRoles().Informer(),
		BootstrapRoles:         h.bootstrap.Rbac().V1().ClusterRoles().Informer(),
		PreservedSecrets:       h.preserved.Core().V1().Secrets().Informer(),
		PreservedConfigMaps:    h.preserved.Core().V1().ConfigMaps().Informer(),
	}
}

// start runs the informers until Stop.
func (h *Hub) start(ctx context.Context) {
	ctx, h.stop = context.WithCancel(ctx)
	// Discovery is a request to the hub: never made while the registry's
	// lock is held (one hub that does not answer would stall the others).
	go h.ServesKlusterletConfig()
	inf := h.Informers()
	inf.narrow()
	base := []cache.SharedIndexInformer{
		inf.ManagedClusters, inf.ManifestWorks, inf.KlusterletAddonConfigs, inf.Addons,
		inf.PlacementDecisions, inf.Placements, inf.Namespaces, inf.CSRs, inf.Leases,
		inf.OurSecrets, inf.OurServiceAccounts, inf.OurBindings, inf.OurClusterRoles, inf.BootstrapRoles,
		inf.PreservedSecrets, inf.PreservedConfigMaps,
	}
	for _, i := range append(base, inf.KlusterletConfigs) {
		_ = i.SetWatchErrorHandlerWithContext(func(_ context.Context, r *cache.Reflector, err error) {
			h.mu.Lock()
			h.lastError = err.Error()
			h.mu.Unlock()
			// The reflector backs off by itself; migrations that need the
			// hub say why in their HubsReady condition, so the log is quiet.
			klog.FromContext(ctx).V(2).Info("hub cache list/watch failed", "hub", h.Name, "reflector", r.TypeDescription(), "err", err)
		})
	}
	for _, i := range base {
		h.synced = append(h.synced, i.HasSynced)
	}
	go wait.UntilWithContext(ctx, h.probe, livenessEvery)
	for _, f := range []interface{ Start(<-chan struct{}) }{h.dynamic, h.all, h.ours, h.preserved, h.csrs, h.leases, h.bootstrap} {
		f.Start(ctx.Done())
	}
}

// Synced reports whether every cache has synced: no write before that. The
// KlusterletConfig cache counts only on a hub that serves the API.
func (h *Hub) Synced() bool {
	for _, s := range h.synced {
		if !s() {
			return false
		}
	}
	if len(h.synced) == 0 {
		return false
	}
	if h.ServesKlusterletConfig() {
		return h.Informers().KlusterletConfigs.HasSynced()
	}
	return true
}

// probe asks the hub for its version (any authenticated user may) and
// records whether it answered.
func (h *Hub) probe(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, livenessEvery)
	defer cancel()
	err := h.Kube.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Error()
	if ctx.Err() != nil && err == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.down, h.failures = "", 0
		return
	}
	h.failures++
	if h.failures >= 2 {
		h.down = err.Error()
	}
}

// Down is why the hub did not answer its last liveness probe ("" if it did).
func (h *Hub) Down() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.down
}

// LastError is the last list or watch error of the hub's caches ("" if
// none): why a hub that has not synced is not reachable.
func (h *Hub) LastError() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastError
}

// NotACM reports whether discovery has said the hub does not serve the
// KlusterletConfig API (false while that is not known).
func (h *Hub) NotACM() bool {
	h.ServesKlusterletConfig()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.acm != nil && !*h.acm
}

// ServesKlusterletConfig reports whether the hub serves the KlusterletConfig
// API (an ACM hub). Discovery's answer is kept; a failed discovery (the hub
// unreachable) is asked again later, so an outage at start does not make an
// ACM hub look like a plain OCM one for good.
func (h *Hub) ServesKlusterletConfig() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.acm != nil {
		return *h.acm
	}
	if time.Since(h.probedAt) < probeEvery {
		return false
	}
	h.probedAt = time.Now()
	ok, err := serves(h.Kube, KlusterletConfigs)
	if err != nil {
		h.lastError = "discovery: " + err.Error()
		return false
	}
	h.acm = &ok
	return ok
}

// Stop ends the hub's informers.
func (h *Hub) Stop() {
	if h.stop != nil {
		h.stop()
	}
}

// serves asks discovery whether gvr is served; a 404 for its group version
// is a plain "no", anything else an error.
func serves(kube kubernetes.Interface, gvr schema.GroupVersionResource) (bool, error) {
	list, err := kube.Discovery().ServerResourcesForGroupVersion(gvr.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, r := range list.APIResources {
		if r.Name == gvr.Resource {
			return true, nil
		}
	}
	return false, nil
}

func (h *Hub) String() string { return fmt.Sprintf("hub %s", h.Name) }
