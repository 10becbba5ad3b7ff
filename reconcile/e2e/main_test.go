package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/informers"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

var (
	world     *envtest.World
	simulator *sim.Simulator
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithCancel(context.Background())
	w, err := envtest.Start(ctx, envtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test world:", err)
		os.Exit(1)
	}
	world = w
	s, err := sim.New(sim.Hubs(w.Hub("hub1"), w.Hub("hub2")), sim.Options{LeaseDuration: time.Second, AcceptedLag: 2 * time.Second})
	if err == nil {
		err = s.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the simulator:", err)
		w.Stop()
		os.Exit(1)
	}
	simulator = s
	code := m.Run()
	cancel()
	w.Stop()
	os.Exit(code)
}

// startController runs hubmigrate's controller in this process until the
// returned stop is called: on the hubs it acts as the product identity bound
// to the hub role (the <hub>-kubeconfig Secrets the world wrote).
func startController(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), klog.Background()))
	home := world.Home().AdminConfig()
	kube, err := kubernetes.NewForConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	c := reconcile.NewController(reconcile.Config{
		HomeID: "e2e-home", BootstrapNamespace: "open-cluster-management", BootstrapSecretNamespace: sim.BootstrapSecretNamespace,
		Resync: 30 * time.Second,
	}, dyn, func(onEvent informers.EventHandler, onRebuild func(string)) *informers.Registry {
		return informers.NewRegistry(home, kube, informers.Options{Namespace: envtest.ProductNamespace, Resync: 30 * time.Second, QPS: 50, Burst: 100, OnEvent: onEvent, OnRebuild: onRebuild})
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(ctx, 4); err != nil {
			t.Errorf("controller: %v", err)
		}
	}()
	return func() { cancel(); <-done }
}
