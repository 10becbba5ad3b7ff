// Package sim simulates the managed-cluster side of OCM and the hub-side
// controllers of OCM and ACM that hubmigrate depends on, against the real API
// servers of the test world: per cluster, OCM's registration agent and work
// agent (the klusterlet), and per hub, OCM's hub controller effects, ACM's
// import controller and ACM's klusterlet-addon-controller. It is built to the
// measured behaviour in SPEC "How OCM and ACM behave"; docs/test-world.md maps
// each part to what it stands for. One process and one work queue hold every
// simulated cluster. It is never linked into the product binary.
package sim

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// BootstrapSecretNamespace is where ACM's import controller finds the bootstrap
// kubeconfig Secrets a KlusterletConfig names (multicluster engine's namespace).
const BootstrapSecretNamespace = "multicluster-engine"

// Options are the world-wide knobs.
type Options struct {
	// LeaseDuration is how often an agent renews its lease; the hub marks a
	// cluster Unknown after 5 × LeaseDuration without renewal. OCM: 60s.
	LeaseDuration time.Duration
	// RestartBackoff is the first back-off of a crash-looping agent; it doubles
	// up to 8 × RestartBackoff, as the kubelet's does.
	RestartBackoff time.Duration
	// NoAddonController turns ACM's klusterlet-addon-controller off.
	NoAddonController bool
	// Workers is how many clusters are stepped at once.
	Workers int
	Clock   clock.WithTicker
}

func (o *Options) defaults() {
	if o.LeaseDuration == 0 {
		o.LeaseDuration = 10 * time.Second
	}
	if o.RestartBackoff == 0 {
		o.RestartBackoff = 500 * time.Millisecond
	}
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
}

// HubInfo is how the simulator reaches a hub.
type HubInfo struct {
	Name   string
	URL    string
	CAData []byte
	Admin  *rest.Config
}

// hub is one hub as the simulator sees it: an admin client for the hub-side
// controllers it plays, and informers that wake the clusters involved.
type hub struct {
	HubInfo
	kube         kubernetes.Interface
	dyn          dynamic.Interface
	mcs          cache.GenericLister
	works        cache.GenericLister
	kcs          cache.GenericLister
	kacs         cache.GenericLister
	csrs         cache.Indexer
	leases       cache.Indexer
	kubeInf      informers.SharedInformerFactory
	secretInf    informers.SharedInformerFactory
	dynInf       dynamicinformer.DynamicSharedInformerFactory
	roleBindings cache.Indexer
	importTokens sync.Map // cluster → token of the import controller's bootstrap identity
	reconciledRV sync.Map // cluster → ManagedCluster resourceVersion whose acceptance state is in place
}

// Simulator runs every simulated cluster and the hub-side controllers.
type Simulator struct {
	opts     Options
	hubs     map[string]*hub
	byURL    map[string]*hub
	mu       sync.Mutex
	clusters map[string]*Cluster
	// clientCache holds one client per credential a simulated agent uses.
	clientCache sync.Map
	queue       workqueue.TypedRateLimitingInterface[string]
}

// New prepares a simulator for the given hubs; Start runs it.
func New(hubs []HubInfo, opts Options) (*Simulator, error) {
	opts.defaults()
	s := &Simulator{
		opts:     opts,
		hubs:     map[string]*hub{},
		byURL:    map[string]*hub{},
		clusters: map[string]*Cluster{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 2*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "sim", Clock: opts.Clock}),
	}
	for _, info := range hubs {
		h, err := s.newHub(info)
		if err != nil {
			return nil, err
		}
		s.hubs[info.Name] = h
		s.byURL[info.URL] = h
	}
	return s, nil
}

func (s *Simulator) newHub(info HubInfo) (*hub, error) {
	kube, err := kubernetes.NewForConfig(info.Admin)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(info.Admin)
	if err != nil {
		return nil, err
	}
	h := &hub{HubInfo: info, kube: kube, dyn: dyn}
	h.kubeInf = informers.NewSharedInformerFactory(kube, 0)
	h.secretInf = informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(BootstrapSecretNamespace))
	h.dynInf = dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)

	onCluster := func(cluster string) {
		if cluster != "" {
			s.queue.Add(hubKey(h.Name, cluster))
			s.queue.Add(agentKey(cluster))
		}
	}
	onAllClusters := func() {
		objs, _ := h.mcs.List(labels.Everything())
		for _, o := range objs {
			s.queue.Add(hubKey(h.Name, o.(*unstructured.Unstructured).GetName()))
		}
	}
	handler := func(key func(obj any) string) cache.ResourceEventHandler {
		return cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { onCluster(key(obj)) },
			UpdateFunc: func(_, obj any) { onCluster(key(obj)) },
			DeleteFunc: func(obj any) {
				if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = d.Obj
				}
				onCluster(key(obj))
			},
		}
	}
	byName := func(obj any) string { return obj.(metav1.Object).GetName() }
	byNamespace := func(obj any) string { return obj.(metav1.Object).GetNamespace() }
	byLabel := func(obj any) string { return obj.(metav1.Object).GetLabels()[LabelClusterName] }
	all := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { onAllClusters() },
		UpdateFunc: func(any, any) { onAllClusters() },
		DeleteFunc: func(any) { onAllClusters() },
	}

	mcInf := h.dynInf.ForResource(ManagedClusterGVR)
	mcInf.Informer().AddEventHandler(handler(byName))
	h.mcs = mcInf.Lister()
	workInf := h.dynInf.ForResource(ManifestWorkGVR)
	workInf.Informer().AddEventHandler(handler(byNamespace))
	h.works = workInf.Lister()
	kcInf := h.dynInf.ForResource(KlusterletConfigGVR)
	kcInf.Informer().AddEventHandler(all)
	h.kcs = kcInf.Lister()
	kacInf := h.dynInf.ForResource(KlusterletAddonConfigGVR)
	kacInf.Informer().AddEventHandler(handler(byNamespace))
	h.kacs = kacInf.Lister()

	csrInf := h.kubeInf.Certificates().V1().CertificateSigningRequests().Informer()
	csrInf.AddEventHandler(handler(byLabel))
	h.csrs = csrInf.GetIndexer()
	leaseInf := h.kubeInf.Coordination().V1().Leases().Informer()
	leaseInf.AddEventHandler(handler(byNamespace))
	h.leases = leaseInf.GetIndexer()
	h.secretInf.Core().V1().Secrets().Informer().AddEventHandler(all)
	rbInf := h.kubeInf.Rbac().V1().RoleBindings().Informer()
	rbInf.AddEventHandler(handler(byNamespace))
	h.roleBindings = rbInf.GetIndexer()
	return h, nil
}

// Start runs the informers and workers until ctx ends.
func (s *Simulator) Start(ctx context.Context) error {
	for _, h := range s.hubs {
		h.kubeInf.Start(ctx.Done())
		h.secretInf.Start(ctx.Done())
		h.dynInf.Start(ctx.Done())
	}
	for _, h := range s.hubs {
		for typ, ok := range h.kubeInf.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return fmt.Errorf("hub %s: %v informer did not sync", h.Name, typ)
			}
		}
		for typ, ok := range h.dynInf.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return fmt.Errorf("hub %s: %v informer did not sync", h.Name, typ)
			}
		}
		h.secretInf.WaitForCacheSync(ctx.Done())
	}
	go func() {
		<-ctx.Done()
		s.queue.ShutDown()
	}()
	for range s.opts.Workers {
		go s.work(ctx)
	}
	return nil
}

func agentKey(cluster string) string    { return "agent/" + cluster }
func hubKey(hub, cluster string) string { return "hub/" + hub + "/" + cluster }

func (s *Simulator) work(ctx context.Context) {
	defer runtime.HandleCrash()
	for {
		key, quit := s.queue.Get()
		if quit {
			return
		}
		err := s.sync(ctx, key)
		if err != nil && ctx.Err() == nil {
			klog.V(4).InfoS("sim step failed, retrying", "key", key, "err", err)
			s.queue.AddRateLimited(key)
		} else {
			s.queue.Forget(key)
		}
		s.queue.Done(key)
	}
}

func (s *Simulator) sync(ctx context.Context, key string) error {
	parts := strings.Split(key, "/")
	switch {
	case parts[0] == "agent" && len(parts) == 2:
		c := s.cluster(parts[1])
		if c == nil {
			return nil
		}
		return s.syncAgent(ctx, c)
	case parts[0] == "hub" && len(parts) == 3:
		h := s.hubs[parts[1]]
		if h == nil {
			return nil
		}
		return s.syncHub(ctx, h, parts[2])
	}
	return nil
}

func (s *Simulator) cluster(name string) *Cluster {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clusters[name]
}

func (s *Simulator) now() time.Time { return s.opts.Clock.Now() }

func (s *Simulator) hubByName(name string) (*hub, error) {
	h := s.hubs[name]
	if h == nil {
		return nil, fmt.Errorf("unknown hub %q", name)
	}
	return h, nil
}
