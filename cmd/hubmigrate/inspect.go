package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/hubmigrate/hubmigrate/informers"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// inspectFlags are what `status` and `plan` need to see a migration as the
// controller sees it: the home cluster, and the controller's own settings
// (their defaults are the controller's).
type inspectFlags struct {
	home                                                              homeFlags
	hubmigrateNamespace, bootstrapNamespace, bootstrapSecretNamespace string
	timeout                                                           time.Duration
	verbose                                                           bool
}

func (o *inspectFlags) bind(fs *pflag.FlagSet) {
	o.home.bind(fs)
	fs.StringVar(&o.hubmigrateNamespace, "hubmigrate-namespace", "hubmigrate", "the controller's --namespace: where its <hub>-kubeconfig Secrets and seal key live")
	fs.StringVar(&o.bootstrapNamespace, "bootstrap-namespace", "open-cluster-management", "the controller's --bootstrap-namespace")
	fs.StringVar(&o.bootstrapSecretNamespace, "bootstrap-secret-namespace", "multicluster-engine", "the controller's --bootstrap-secret-namespace")
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "how long to wait for the hubs' caches")
	fs.BoolVar(&o.verbose, "verbose", false, "log what the caches do (to stderr)")
}

// inspector sees migrations as the controller does, with its caches and
// planner, and writes nothing.
type inspector struct {
	controller *reconcile.Controller
	registry   *informers.Registry
	home       dynamic.Interface
	namespace  string
	timeout    time.Duration
}

// start reads the home id, then starts the caches a preview reads. It
// needs to read the controller's Secrets (hub credentials, seal key), as
// the controller's ServiceAccount does.
func (o *inspectFlags) start(ctx context.Context) (*inspector, error) {
	if !o.verbose {
		klog.SetLogger(logr.Discard())
	}
	cfg, home, ns, err := o.home.connect()
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	kubeSystem, err := kube.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the home id (kube-system's UID): %w", err)
	}
	var registry *informers.Registry
	c := reconcile.NewController(reconcile.Config{
		HomeID: string(kubeSystem.UID), BootstrapNamespace: o.bootstrapNamespace, BootstrapSecretNamespace: o.bootstrapSecretNamespace,
		MigrationNamespaces: []string{ns},
	}, home, func(onEvent informers.EventHandler, onRebuild func(string)) *informers.Registry {
		registry = informers.NewRegistry(cfg, kube, informers.Options{Namespace: o.hubmigrateNamespace, QPS: 50, Burst: 100, OnEvent: onEvent, OnRebuild: onRebuild})
		return registry
	})
	if err := c.StartReadOnly(ctx); err != nil {
		return nil, err
	}
	return &inspector{controller: c, registry: registry, home: home, namespace: ns, timeout: o.timeout}, nil
}

// preview waits for the hubs' caches (up to the timeout), then previews u.
func (in *inspector) preview(ctx context.Context, u *unstructured.Unstructured) (*reconcile.Preview, error) {
	return in.whenSynced(ctx, func() (*reconcile.Preview, error) { return in.controller.Preview(u) })
}

// previewAhead is preview through the controller's first writes to the
// migration itself (reconcile.PreviewAhead).
func (in *inspector) previewAhead(ctx context.Context, u *unstructured.Unstructured) (*reconcile.Preview, error) {
	return in.whenSynced(ctx, func() (*reconcile.Preview, error) { return in.controller.PreviewAhead(u) })
}

func (in *inspector) whenSynced(ctx context.Context, preview func() (*reconcile.Preview, error)) (*reconcile.Preview, error) {
	var p *reconcile.Preview
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, in.timeout, true, func(context.Context) (bool, error) {
		var err error
		p, err = preview()
		if errors.Is(err, reconcile.ErrHubsSyncing) {
			return false, nil
		}
		return err == nil, err
	})
	if wait.Interrupted(err) {
		return nil, fmt.Errorf("the hubs' caches did not sync within %s", in.timeout)
	}
	return p, err
}
