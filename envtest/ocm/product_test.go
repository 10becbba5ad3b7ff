package ocm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

var (
	productOnce       sync.Once
	productKubeconfig string
	productBinary     string
	productErr        error
)

// installProduct installs manifests/base on home, as docs/install.md says,
// and builds the hubmigrate binary in hubmigrate's own module (so it links
// exactly what the product's go.mod resolves, not this module's versions).
func installProduct(t *testing.T) (kubeconfig, binary string) {
	t.Helper()
	productOnce.Do(func() {
		ctx := context.Background()
		root, err := filepath.Abs("../..")
		if err != nil {
			productErr = err
			return
		}
		cfg, err := envtest.InstallProduct(ctx, world, filepath.Join(root, "manifests", "base"))
		if err != nil {
			productErr = err
			return
		}
		if productKubeconfig, productErr = writeKubeconfig(filepath.Join(world.Dir, "ocm", "product.kubeconfig"), cfg); productErr != nil {
			return
		}
		productBinary = filepath.Join(world.Dir, "ocm", "hubmigrate")
		build := exec.Command("go", "build", "-o", productBinary, "./cmd/hubmigrate")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			productErr = &buildError{out: string(out), err: err}
		}
	})
	require.NoError(t, productErr)
	return productKubeconfig, productBinary
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string {
	return "go build ./cmd/hubmigrate: " + e.err.Error() + "\n" + e.out
}

// product is a running hubmigrate binary that a test can SIGKILL and start
// again, as a node failure and the Deployment's restart would.
type product struct {
	t         *testing.T
	namespace string
	log       *os.File
	cmd       *exec.Cmd
	kills     int
}

// runProduct runs the hubmigrate binary, watching the namespace, until the
// test ends.
func runProduct(t *testing.T, namespace string) *product {
	t.Helper()
	log, err := os.Create(filepath.Join(world.Dir, "ocm", "hubmigrate-"+namespace+".log"))
	require.NoError(t, err)
	p := &product{t: t, namespace: namespace, log: log}
	p.start()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		_ = p.cmd.Wait()
		log.Close()
	})
	return p
}

func (p *product) start() {
	p.t.Helper()
	kubeconfig, binary := installProduct(p.t)
	cmd := exec.Command(binary, "--kubeconfig="+kubeconfig, "--namespace="+envtest.ProductNamespace, "--migration-namespaces="+p.namespace,
		"--metrics-bind-address=127.0.0.1:0", "--health-probe-bind-address=", "--resync-period=1m",
		// As $POD_NAME in a Deployment: stable across restarts of the
		// container, so a restarted process takes its own Lease back at once.
		"--leader-elect-identity=hubmigrate-ocm-"+p.namespace)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(p.t, cmd.Start())
	p.cmd = cmd
}

// killAndStart SIGKILLs the process and starts a new one.
func (p *product) killAndStart() {
	p.t.Helper()
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.kills++
	fmt.Fprintf(p.log, "=== SIGKILL %d at %s\n", p.kills, time.Now().Format(time.RFC3339Nano))
	p.start()
}

// migrate applies a migration of the clusters from → to and waits for its end.
func migrate(t *testing.T, namespace, name, from, to string, clusters []string, timeout time.Duration) *unstructured.Unstructured {
	t.Helper()
	return migrateWith(t, namespace, name, from, to, clusters, "", timeout)
}

// migrateWith is migrate with a stage timeout ("" for the default).
func migrateWith(t *testing.T, namespace, name, from, to string, clusters []string, stageTimeout string, timeout time.Duration) *unstructured.Unstructured {
	t.Helper()
	createMigration(t, namespace, name, from, to, clusters, stageTimeout)
	return waitMigrationEnd(t, namespace, name, timeout)
}

// createMigration applies a migration of the clusters from → to.
func createMigration(t *testing.T, namespace, name, from, to string, clusters []string, stageTimeout string) {
	t.Helper()
	ctx := context.Background()
	home := world.Home().AdminConfig()
	_, err := kubernetes.NewForConfigOrDie(home).CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	require.NoError(t, client(err))
	list := make([]any, len(clusters))
	for i, c := range clusters {
		list[i] = c
	}
	spec := map[string]any{"from": from, "to": to, "includedManagedClusters": list}
	if stageTimeout != "" {
		spec["supportedConfigs"] = map[string]any{"stageTimeout": stageTimeout}
	}
	_, err = dynamic.NewForConfigOrDie(home).Resource(reconcile.MigrationGVR).Namespace(namespace).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "global-hub.open-cluster-management.io/v1alpha1", "kind": "ManagedClusterMigration",
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"spec":     spec,
	}}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// waitMigrationEnd waits until the migration is Completed or Failed, with its results.
func waitMigrationEnd(t *testing.T, namespace, name string, timeout time.Duration) *unstructured.Unstructured {
	t.Helper()
	var m *unstructured.Unstructured
	eventually(t, timeout, "migration "+name+" finished", func() bool {
		m = getMigration(t, namespace, name)
		return finished(m)
	})
	return m
}

// finished: the migration is Completed or Failed, with its results written.
func finished(m *unstructured.Unstructured) bool {
	phase, _, _ := unstructured.NestedString(m.Object, "status", "phase")
	return (phase == "Completed" || phase == "Failed") && m.GetAnnotations()[reconcile.AnnResults] != ""
}

func getMigration(t *testing.T, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	m, err := dynamic.NewForConfigOrDie(world.Home().AdminConfig()).Resource(reconcile.MigrationGVR).Namespace(namespace).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return m
}

// conditionMessage is the message of the migration's condition when it is True.
func conditionMessage(m *unstructured.Unstructured, condType string) (string, bool) {
	conds, _, _ := unstructured.NestedSlice(m.Object, "status", "conditions")
	for _, c := range conds {
		cm, _ := c.(map[string]any)
		if cm["type"] == condType && cm["status"] == "True" {
			msg, _ := cm["message"].(string)
			return msg, true
		}
	}
	return "", false
}
