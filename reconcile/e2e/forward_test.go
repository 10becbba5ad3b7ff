package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

func clients(t *testing.T, plane string) (kubernetes.Interface, dynamic.Interface) {
	t.Helper()
	cfg := world.Planes[plane].AdminConfig()
	kube, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	return kube, dyn
}

func createMigration(t *testing.T, namespace, name string, clusters []string) {
	t.Helper()
	ctx := context.Background()
	kube, dyn := clients(t, "home")
	_, _ = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	var list []any
	for _, c := range clusters {
		list = append(list, c)
	}
	m := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "global-hub.open-cluster-management.io/v1alpha1", "kind": "ManagedClusterMigration",
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"spec":     map[string]any{"from": "hub1", "to": "hub2", "includedManagedClusters": list},
	}}
	_, err := dyn.Resource(reconcile.MigrationGVR).Namespace(namespace).Create(ctx, m, metav1.CreateOptions{})
	require.NoError(t, err)
}

func waitMigrationPhase(t *testing.T, namespace, name, phase string, timeout time.Duration) *unstructured.Unstructured {
	t.Helper()
	_, dyn := clients(t, "home")
	var last *unstructured.Unstructured
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		m, err := dyn.Resource(reconcile.MigrationGVR).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = m
		p, _, _ := unstructured.NestedString(m.Object, "status", "phase")
		return p == phase, nil
	})
	if err != nil {
		status, _, _ := unstructured.NestedMap(last.Object, "status")
		t.Fatalf("migration %s/%s not %s within %s; status %v", namespace, name, phase, timeout, status)
	}
	return last
}

// The forward path end to end: clusters in Singleton mode move from hub1 to
// hub2, each joined to hub2 with hubmigrate's own approval, nothing of the
// migration left on either hub but the records.
func TestForwardMigration(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"fw-1", "fw-2", "fw-3"}
	for _, c := range clusters {
		require.NoError(t, simulator.AddCluster(ctx, c, "hub1", sim.ClusterOptions{Labels: map[string]string{"env": "prod"}}))
	}
	for _, c := range clusters {
		_, err := simulator.WaitFor(ctx, c, time.Minute, sim.JoinedTo("hub1"))
		require.NoError(t, err)
	}
	stop := startController(t)
	defer stop()
	createMigration(t, "ops", "forward", clusters)
	m := waitMigrationPhase(t, "ops", "forward", "Completed", 3*time.Minute)
	progress, _, _ := unstructured.NestedString(m.Object, "status", "progress")
	assert.Equal(t, "3/3", progress)

	hub1Kube, hub1 := clients(t, "hub1")
	hub2Kube, hub2 := clients(t, "hub2")
	for _, c := range clusters {
		st, err := simulator.WaitFor(ctx, c, 30*time.Second, sim.JoinedTo("hub2"))
		require.NoError(t, err)
		assert.Equal(t, "hub2", st.CertificateHub)
		_, err = hub1.Resource(reconcile.ManagedClusterGVR).Get(ctx, c, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "%s gone from the source", c)
		mc, err := hub2.Resource(reconcile.ManagedClusterGVR).Get(ctx, c, metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, "Completed", mc.GetLabels()[reconcile.LabelPhase])
		assert.Equal(t, "prod", mc.GetLabels()["env"], "labels copied")
		assert.Equal(t, "ops/forward/"+string(m.GetUID()), mc.GetAnnotations()[reconcile.AnnOwner], "the record")
		for _, k := range []string{reconcile.AnnCommitted, reconcile.AnnPhaseSince, reconcile.AnnGlobalHubMigrating} {
			assert.NotContains(t, mc.GetAnnotations(), k, "in-flight annotation left on %s", c)
		}
		csrs, err := hub2Kube.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{LabelSelector: "open-cluster-management.io/cluster-name=" + c})
		require.NoError(t, err)
		approvedByUs := 0
		for _, csr := range csrs.Items {
			for _, cond := range csr.Status.Conditions {
				if cond.Reason == "HubmigrateApproved" {
					approvedByUs++
					assert.Equal(t, "system:serviceaccount:open-cluster-management:"+reconcile.ServiceAccountName(m.GetUID()), csr.Spec.Username)
				}
			}
		}
		assert.Equal(t, 1, approvedByUs, "one approval, by hubmigrate, for %s", c)
	}
	// No scaffolding and no in-flight marker anywhere.
	selector := metav1.ListOptions{LabelSelector: reconcile.LabelMigrationUID + "=" + string(m.GetUID())}
	for name, kube := range map[string]kubernetes.Interface{"hub1": hub1Kube, "hub2": hub2Kube} {
		secrets, err := kube.CoreV1().Secrets("").List(ctx, selector)
		require.NoError(t, err)
		assert.Empty(t, secrets.Items, "secrets left on %s", name)
		sas, err := kube.CoreV1().ServiceAccounts("").List(ctx, selector)
		require.NoError(t, err)
		assert.Empty(t, sas.Items, "service accounts left on %s", name)
		crbs, err := kube.RbacV1().ClusterRoleBindings().List(ctx, selector)
		require.NoError(t, err)
		assert.Empty(t, crbs.Items, "bindings left on %s", name)
		nss, err := kube.CoreV1().Namespaces().List(ctx, selector)
		require.NoError(t, err)
		assert.Empty(t, nss.Items, "namespaces still owned on %s", name)
	}
	kcs, err := hub1.Resource(reconcile.KlusterletConfigGVR).List(ctx, selector)
	require.NoError(t, err)
	assert.Empty(t, kcs.Items)
	assert.NotEmpty(t, m.GetAnnotations()[reconcile.AnnResults])
	fmt.Println("results:", m.GetAnnotations()[reconcile.AnnResults])
}
