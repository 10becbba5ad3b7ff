package ocm

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	"github.com/hubmigrate/hubmigrate/envtest/sim"
)

const leaseDurationSeconds = 5

// importedCluster is a managed cluster imported into a hub through the
// import controller stand-in, its agent run by the operator stand-in.
type importedCluster struct {
	name, dir string
	base      []string // the agent's flags that do not come from the klusterlet
	operator  *Operator
}

// stop stops the cluster's operator and agent for good (a powered-off cluster).
func (c *importedCluster) stop() {
	c.operator.Stop()
}

// start starts them again, with whatever the work agent last applied.
func (c *importedCluster) start(t *testing.T) {
	t.Helper()
	op, err := StartOperator(c.name, c.dir, world.Home().AdminConfig(), c.base)
	require.NoError(t, err)
	c.operator = op
	t.Cleanup(op.Stop)
}

// importCluster imports a cluster into the hub as ACM does: the admin
// creates the accepted ManagedCluster, the import controller makes its
// bootstrap identity, and the import manifest (the bootstrap Secret and the
// klusterlet, here in the cluster's agent namespace on home) starts the
// agent, which joins with the identity's approved CSR.
func importCluster(t *testing.T, hubName, cluster string, agentFlags ...string) *importedCluster {
	t.Helper()
	return importClusterIn(t, hubName, cluster, "Singleton", agentFlags...)
}

// importClusterIn imports the cluster with its klusterlet in the mode
// (Singleton, ACM's default, or Default: set on the ManagedCluster with
// import.open-cluster-management.io/klusterlet-deploy-mode).
func importClusterIn(t *testing.T, hubName, cluster, mode string, agentFlags ...string) *importedCluster {
	t.Helper()
	ctx := context.Background()
	h := hubOf(t, hubName)
	var annotations map[string]string
	if mode == "Default" {
		annotations = map[string]string{"import.open-cluster-management.io/klusterlet-deploy-mode": "Default"}
	}
	_, err := h.cluster.ClusterV1().ManagedClusters().Create(ctx, &clusterv1.ManagedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: cluster, Annotations: annotations},
		// A short lease: a cluster whose agent has left turns unavailable
		// after 5 lease durations, and only then does the import controller
		// free its ManifestWorks (60 s would make that 5 minutes).
		Spec: clusterv1.ManagedClusterSpec{HubAcceptsClient: true, LeaseDurationSeconds: leaseDurationSeconds},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	var boot []byte
	eventually(t, 60*time.Second, "the import controller's identity for "+cluster, func() bool {
		boot, err = importers[hubName].ImportKubeconfig(ctx, cluster)
		return err == nil
	})
	home := kubernetes.NewForConfigOrDie(world.Home().AdminConfig())
	ns := AgentNamespace(cluster)
	_, err = home.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = home.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: defaultBootstrapSecret}, Data: map[string][]byte{"kubeconfig": boot},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = home.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: klusterletConfigMap},
		Data:       map[string]string{"mode": mode, "multipleHubs": "false", "bootstrapSecrets": defaultBootstrapSecret},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	dir := filepath.Join(world.Dir, "ocm", cluster)
	spoke, err := writeKubeconfig(filepath.Join(dir, "spoke.kubeconfig"), world.Home().AdminConfig())
	require.NoError(t, err)
	c := &importedCluster{name: cluster, dir: dir, base: []string{
		"--kubeconfig=" + spoke,
		"--spoke-cluster-name=" + cluster,
		"--agent-namespace=" + ns,
		"--hub-kubeconfig-dir=" + filepath.Join(dir, "hub-kubeconfig"),
		"--agent-id=" + cluster + "-agent-id",
	}}
	c.base = append(c.base, agentFlags...)
	c.start(t)
	return c
}

// waitJoined waits until the cluster is joined and available on the hub,
// its agent's hub kubeconfig points there and its klusterlet work is Applied.
func (c *importedCluster) waitJoined(t *testing.T, hubName string, timeout time.Duration) {
	t.Helper()
	require.NoError(t, c.joined(t, hubName, timeout))
}

// joined is waitJoined for any goroutine: it returns the failure.
func (c *importedCluster) joined(t *testing.T, hubName string, timeout time.Duration) error {
	h := hubOf(t, hubName)
	dyn := dynamic.NewForConfigOrDie(world.Hub(hubName).AdminConfig())
	deadline := time.Now().Add(timeout)
	for {
		mc, err := h.cluster.ClusterV1().ManagedClusters().Get(context.Background(), c.name, metav1.GetOptions{})
		if err == nil && condition(mc, clusterv1.ManagedClusterConditionJoined) == metav1.ConditionTrue &&
			condition(mc, clusterv1.ManagedClusterConditionAvailable) == metav1.ConditionTrue && hubOfAgent(c.dir) == world.Hub(hubName).URL() {
			work, err := dyn.Resource(sim.ManifestWorkGVR).Namespace(c.name).Get(context.Background(), sim.KlusterletWorkName(c.name), metav1.GetOptions{})
			if err == nil && workApplied(work) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not joined, available and its klusterlet applied on %s within %s (import controller: %v)",
				c.name, hubName, timeout, importers[hubName].LastError(c.name))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// workApplied: the work agent applied the work at its current generation.
func workApplied(work *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(work.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Applied" && m["status"] == "True" {
			g, _, _ := unstructured.NestedInt64(m, "observedGeneration")
			return g == work.GetGeneration()
		}
	}
	return false
}

// importJoined imports n clusters named <prefix>-1… into hub1 and waits
// until every one is joined there with its klusterlet work applied.
func importJoined(t *testing.T, prefix string, n int) ([]string, []*importedCluster) {
	t.Helper()
	names := make([]string, n)
	clusters := make([]*importedCluster, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", prefix, i+1)
		clusters[i] = importCluster(t, "hub1", names[i])
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, c := range clusters {
		wg.Go(func() { errs[i] = c.joined(t, "hub1", 2*time.Minute) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	return names, clusters
}
