package informers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// LocalCluster is the hub name that, without a Secret, means the home cluster.
const LocalCluster = "local-cluster"

// EventHandler is told of every change on a hub's caches.
type EventHandler func(hub string, obj any)

// Registry holds a Hub per <hub>-kubeconfig Secret in the controller's
// namespace, built when a migration first needs it and rebuilt when its
// Secret changes (a rotated credential is picked up without a restart).
type Registry struct {
	home      *rest.Config
	namespace string
	resync    time.Duration
	qps       float32
	burst     int
	onEvent   EventHandler
	onRebuild func(hub string)
	wrap      func(http.RoundTripper) http.RoundTripper

	secrets cache.SharedIndexInformer
	mu      sync.Mutex
	hubs    map[string]*Hub
	sources map[string]string // hub → resourceVersion of the Secret it was built from
	ctx     context.Context
}

// Options configure a Registry.
type Options struct {
	Namespace string
	Resync    time.Duration
	QPS       float32
	Burst     int
	// OnEvent is called for every event on any hub's caches.
	OnEvent EventHandler
	// OnRebuild is called when a hub's Secret appears or changes (its
	// clients are then rebuilt on next use).
	OnRebuild func(hub string)
	// WrapTransport wraps every hub client's transport (tests count writes).
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// NewRegistry watches the kubeconfig Secrets in opts.Namespace on home.
func NewRegistry(home *rest.Config, homeKube kubernetes.Interface, opts Options) *Registry {
	r := &Registry{
		home: home, namespace: opts.Namespace, resync: opts.Resync, qps: opts.QPS, burst: opts.Burst,
		onEvent: opts.OnEvent, onRebuild: opts.OnRebuild, wrap: opts.WrapTransport,
		hubs: map[string]*Hub{}, sources: map[string]string{},
	}
	factory := informers.NewSharedInformerFactoryWithOptions(homeKube, opts.Resync, informers.WithNamespace(opts.Namespace))
	r.secrets = factory.Core().V1().Secrets().Informer()
	r.secrets.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.secretChanged(obj) },
		UpdateFunc: func(_, obj any) { r.secretChanged(obj) },
		DeleteFunc: func(obj any) { r.secretChanged(obj) },
	})
	return r
}

// Start runs the Secret informer; hubs start on demand.
func (r *Registry) Start(ctx context.Context) error {
	r.ctx = ctx
	go r.secrets.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), r.secrets.HasSynced) {
		return fmt.Errorf("kubeconfig Secrets did not sync")
	}
	return nil
}

func hubOfSecret(name string) (string, bool) {
	const suffix = "-kubeconfig"
	if len(name) > len(suffix) && name[len(name)-len(suffix):] == suffix {
		return name[:len(name)-len(suffix)], true
	}
	return "", false
}

func (r *Registry) secretChanged(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	secret, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	hub, ok := hubOfSecret(secret.Name)
	if !ok {
		return
	}
	_, exists, _ := r.secrets.GetStore().Get(secret)
	r.mu.Lock()
	h, running := r.hubs[hub]
	stale := running && (!exists || r.sources[hub] != secret.ResourceVersion)
	if stale {
		h.Stop()
		delete(r.hubs, hub)
	}
	r.mu.Unlock()
	if stale {
		klog.InfoS("hub credential changed: rebuilding its clients", "hub", hub)
	}
	// A migration waiting for this hub's credential looks again now.
	if (stale || !running) && r.onRebuild != nil {
		r.onRebuild(hub)
	}
}

// Hub returns the running hub, starting it first if needed. The caller must
// check Synced before writing.
func (r *Registry) Hub(name string) (*Hub, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h, ok := r.hubs[name]; ok {
		return h, nil
	}
	cfg, version, err := r.configFor(name)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = r.qps, r.burst
	if r.wrap != nil {
		cfg.Wrap(r.wrap)
	}
	h, err := newHub(name, cfg, r.resync)
	if err != nil {
		return nil, err
	}
	if r.onEvent != nil {
		handler := cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { r.onEvent(name, obj) },
			UpdateFunc: func(_, obj any) { r.onEvent(name, obj) },
			DeleteFunc: func(obj any) { r.onEvent(name, obj) },
		}
		inf := h.Informers()
		for _, i := range []cache.SharedIndexInformer{
			inf.ManagedClusters, inf.ManifestWorks, inf.KlusterletConfigs, inf.KlusterletAddonConfigs, inf.Addons, inf.PlacementDecisions, inf.Placements,
			inf.Namespaces, inf.CSRs, inf.Leases, inf.OurSecrets, inf.OurServiceAccounts, inf.OurBindings, inf.OurClusterRoles, inf.BootstrapRoles,
			inf.PreservedSecrets, inf.PreservedConfigMaps,
		} {
			if _, err := i.AddEventHandler(handler); err != nil {
				return nil, err
			}
		}
	}
	h.start(r.ctx)
	r.hubs[name] = h
	r.sources[name] = version
	klog.InfoS("hub caches started", "hub", name)
	return h, nil
}

// SecretAnnotations are the annotations of a hub's kubeconfig Secret (nil
// for local-cluster without one).
func (r *Registry) SecretAnnotations(hub string) map[string]string {
	obj, exists, err := r.secrets.GetIndexer().GetByKey(r.namespace + "/" + hub + "-kubeconfig")
	if err != nil || !exists {
		return nil
	}
	return obj.(*corev1.Secret).Annotations
}

// Namespace is hubmigrate's namespace on home.
func (r *Registry) Namespace() string { return r.namespace }

// Secret is a Secret of hubmigrate's namespace as the cache holds it (nil
// when absent).
func (r *Registry) Secret(name string) *corev1.Secret {
	obj, exists, err := r.secrets.GetIndexer().GetByKey(r.namespace + "/" + name)
	if err != nil || !exists {
		return nil
	}
	return obj.(*corev1.Secret)
}

// Names are the hubs hubmigrate can reach: one per <hub>-kubeconfig Secret,
// and local-cluster.
func (r *Registry) Names() []string {
	names := []string{LocalCluster}
	for _, key := range r.secrets.GetStore().ListKeys() {
		_, name, _ := cache.SplitMetaNamespaceKey(key)
		if hub, ok := hubOfSecret(name); ok && hub != LocalCluster {
			names = append(names, hub)
		}
	}
	return names
}

// ErrNoCredential: there is no usable <hub>-kubeconfig Secret for a hub.
type ErrNoCredential struct {
	Hub string
	// Code is HubUnknown (no Secret), KubeconfigInvalid (one that holds no
	// usable kubeconfig) or KubeconfigRefused (one that names more than data:
	// a plugin, a file path, impersonation or a proxy): the reason hubmigrate
	// reports.
	Code   string
	Reason string
}

func (e *ErrNoCredential) Error() string {
	return fmt.Sprintf("hub %s: %s", e.Hub, e.Reason)
}

// configFor reads <hub>-kubeconfig (key kubeconfig, or Cluster API's value);
// local-cluster without one is the home cluster.
func (r *Registry) configFor(hub string) (*rest.Config, string, error) {
	obj, exists, err := r.secrets.GetIndexer().GetByKey(r.namespace + "/" + hub + "-kubeconfig")
	if err != nil {
		return nil, "", err
	}
	if !exists {
		if hub == LocalCluster {
			return rest.CopyConfig(r.home), "", nil
		}
		return nil, "", &ErrNoCredential{Hub: hub, Code: "HubUnknown", Reason: fmt.Sprintf("no Secret %s/%s-kubeconfig", r.namespace, hub)}
	}
	secret := obj.(*corev1.Secret)
	data := secret.Data["kubeconfig"]
	if len(data) == 0 {
		data = secret.Data["value"]
	}
	if len(data) == 0 {
		return nil, "", &ErrNoCredential{Hub: hub, Code: "KubeconfigInvalid", Reason: fmt.Sprintf("Secret %s has neither key kubeconfig nor value", secret.Name)}
	}
	cfg, err := restConfigFromSecretData(data)
	var refused *KubeconfigRefusedError
	if errors.As(err, &refused) {
		return nil, "", &ErrNoCredential{Hub: hub, Code: "KubeconfigRefused", Reason: fmt.Sprintf("Secret %s: %v", secret.Name, refused)}
	}
	if err != nil {
		return nil, "", &ErrNoCredential{Hub: hub, Code: "KubeconfigInvalid", Reason: fmt.Sprintf("Secret %s holds no valid kubeconfig: %v", secret.Name, err)}
	}
	if cfg.Insecure {
		// Allowed (it is data), but the hub's identity is then not checked.
		klog.InfoS("hub kubeconfig skips TLS verification of the hub's certificate", "hub", hub, "secret", secret.Name)
	}
	return cfg, secret.ResourceVersion, nil
}

// IsNoCredential reports whether err says a hub has no usable credential.
func IsNoCredential(err error) bool {
	_, ok := err.(*ErrNoCredential)
	return ok || apierrors.IsNotFound(err)
}

// Stop ends every hub's caches.
func (r *Registry) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.hubs {
		h.Stop()
	}
}
