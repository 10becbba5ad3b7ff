// Package envtest is hubmigrate's test world: real kube-apiservers (home and
// hubs), a kube-controller-manager per hub, the real OCM and ACM CRDs, OCM's
// admission rules, and the identity hubmigrate runs as, bound only to the hub
// role from manifests/. The simulated managed clusters live in envtest/sim.
// Nothing here is linked into the product binary.
package envtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hubmigrate/hubmigrate/manifests"
)

const (
	// HomeName is the cluster hubmigrate runs on.
	HomeName = "home"
	// ProductUser is the identity hubmigrate authenticates as on each hub.
	ProductUser = "hubmigrate"
	// ProductNamespace is where hubmigrate runs on the home cluster and finds
	// the <hub>-kubeconfig Secrets.
	ProductNamespace = "hubmigrate"
)

// Options says which world to start.
type Options struct {
	// Hubs are the hubs besides home; default hub1 and hub2.
	Hubs []string
	// HomeOnly starts the home cluster alone.
	HomeOnly bool
	// Dir holds every control plane's data and logs; default a new temp dir.
	Dir string
}

// World is a running set of control planes.
type World struct {
	Dir    string
	Planes map[string]*ControlPlane
	Hubs   []string
}

// Start starts home and the hubs in parallel and prepares each of them.
func Start(ctx context.Context, opts Options) (*World, error) {
	if opts.HomeOnly {
		opts.Hubs = nil
	} else if len(opts.Hubs) == 0 {
		opts.Hubs = []string{"hub1", "hub2"}
	}
	if opts.Dir == "" {
		dir, err := os.MkdirTemp("", "hubmigrate-world-")
		if err != nil {
			return nil, err
		}
		opts.Dir = dir
	}
	w := &World{Dir: opts.Dir, Planes: map[string]*ControlPlane{}, Hubs: opts.Hubs}
	names := append([]string{HomeName}, opts.Hubs...)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Home runs a controller manager too: it is a hub ("local-cluster")
			// in migrations from or to the cluster hubmigrate runs on.
			cp, err := StartControlPlane(ctx, name, filepath.Join(opts.Dir, name), true)
			if err == nil {
				err = prepare(ctx, cp)
			}
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", name, err)
			}
			if cp != nil {
				mu.Lock()
				w.Planes[name] = cp
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			w.Stop()
			return nil, err
		}
	}
	if err := w.bindHomeRole(ctx); err != nil {
		w.Stop()
		return nil, err
	}
	if err := w.writeHubKubeconfigs(ctx); err != nil {
		w.Stop()
		return nil, err
	}
	return w, nil
}

// prepare installs the CRDs, OCM's admission rules and the product's role.
func prepare(ctx context.Context, cp *ControlPlane) error {
	a, err := NewApplier(cp.AdminConfig())
	if err != nil {
		return err
	}
	docs, err := upstreamCRDs()
	if err != nil {
		return err
	}
	// docs is shared by the planes starting in parallel: never append to it.
	for _, doc := range append(slices.Clone(docs), manifests.MigrationCRD) {
		if err := a.Apply(ctx, doc); err != nil {
			return err
		}
	}
	if err := a.Apply(ctx, []byte(ocmHub)); err != nil {
		return err
	}
	if err := a.Apply(ctx, []byte(ocmAdmissionPolicy)); err != nil {
		return err
	}
	if err := waitAdmissionEnforced(ctx, cp, a); err != nil {
		return err
	}
	webhook, err := startTerminatingNamespaceWebhook(cp)
	if err != nil {
		return err
	}
	cp.webhook = webhook
	if err := a.Apply(ctx, webhook.configuration(cp.CA.CertPEM)); err != nil {
		return err
	}
	if err := a.Apply(ctx, manifests.HubRole); err != nil {
		return err
	}
	if err := a.Apply(ctx, []byte(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: hubmigrate-hub
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: hubmigrate-hub
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: `+ProductUser+`
`)); err != nil {
		return err
	}
	return fenceProductIdentity(ctx, cp, a)
}

// writeHubKubeconfigs stores, on home, a <hub>-kubeconfig Secret per hub
// holding a credential of the product identity, which only the hub role binds.
func (w *World) writeHubKubeconfigs(ctx context.Context) error {
	home, err := kubernetes.NewForConfig(w.Home().AdminConfig())
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ProductNamespace}}
	if _, err := home.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	for _, hub := range w.Hubs {
		cfg, err := w.ProductConfig(hub)
		if err != nil {
			return err
		}
		kc, err := Kubeconfig(cfg)
		if err != nil {
			return err
		}
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: hub + "-kubeconfig", Namespace: ProductNamespace},
			Data:       map[string][]byte{"kubeconfig": kc},
		}
		if _, err := home.CoreV1().Secrets(ProductNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}

// bindHomeRole gives the product identity manifests/base/home-role.yaml on home.
func (w *World) bindHomeRole(ctx context.Context) error {
	a, err := NewApplier(w.Home().AdminConfig())
	if err != nil {
		return err
	}
	if err := a.Apply(ctx, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+ProductNamespace+"\n")); err != nil {
		return err
	}
	roles, err := Decode(manifests.HomeRole)
	if err != nil {
		return err
	}
	for _, role := range roles {
		if role.GetKind() == "Role" {
			role.SetNamespace(ProductNamespace) // as kustomization.yaml's namespace does
		}
		if err := a.ApplyObject(ctx, role); err != nil {
			return err
		}
	}
	// The bindings of the test's user are named apart from the ones of the
	// rendered manifests (bound to their ServiceAccount), which a test applies.
	return a.Apply(ctx, []byte(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: hubmigrate-home-test-user
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: hubmigrate-home
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: `+ProductUser+`
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: hubmigrate-test-user
  namespace: `+ProductNamespace+`
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: hubmigrate
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: `+ProductUser+`
`))
}

// Home is the home cluster.
func (w *World) Home() *ControlPlane { return w.Planes[HomeName] }

// Hub is the named control plane.
func (w *World) Hub(name string) *ControlPlane { return w.Planes[name] }

// ProductConfig is a client config for the product's identity on a hub.
func (w *World) ProductConfig(hub string) (*rest.Config, error) {
	return w.Planes[hub].UserConfig(ProductUser)
}

// Stop ends every control plane and removes the world's data.
func (w *World) Stop() {
	var wg sync.WaitGroup
	for _, cp := range w.Planes {
		wg.Add(1)
		go func() { defer wg.Done(); cp.Stop() }()
	}
	wg.Wait()
	if os.Getenv("HUBMIGRATE_KEEP_WORLD") == "" {
		os.RemoveAll(w.Dir)
	}
}
