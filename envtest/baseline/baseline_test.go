package baseline_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hubmigrate/hubmigrate/envtest/baseline"
	"github.com/hubmigrate/hubmigrate/envtest/invariants"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// Five Singleton-mode clusters, with addons and preserved resources, moved
// from hub1 to hub2 by the baseline; then the world is checked, not the
// baseline's word: each klusterlet joined to hub2 and pointing at hub2 alone,
// the copies equal to the originals, nothing left on the source, no
// scaffolding anywhere. The writes it spent are logged per cluster.
func TestBaselineMigratesClusters(t *testing.T) {
	if os.Getenv("HUBMIGRATE_BENCH") == "" {
		// make bench runs it: beside the end-to-end tests it would add two
		// simulated worlds of load and minutes to make test's cold budget.
		t.Skip("HUBMIGRATE_BENCH is not set: make bench runs this")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	// The controller's end-to-end world: a 1 s lease, HubAccepted lagging 2 s.
	world, simulator, err := sim.StartWorld(ctx, sim.Options{LeaseDuration: time.Second}, "")
	require.NoError(t, err)
	t.Cleanup(func() { cancel(); world.Stop() })

	clusters := []string{"base-01", "base-02", "base-03", "base-04", "base-05"}
	require.NoError(t, baseline.ImportClusters(ctx, simulator, world.Hub("hub1"), sim.Singleton, clusters...))
	source := invariants.NewHub(t, "hub1", world.Hub("hub1").AdminConfig())
	target := invariants.NewHub(t, "hub2", world.Hub("hub2").AdminConfig())
	hubs := []invariants.Hub{source, target}
	snap := invariants.Take(t, source, hubs, clusters)

	res, err := baseline.Migrate(ctx, world.Hub("hub1").AdminConfig(), world.Hub("hub2").AdminConfig(), clusters, baseline.Options{})
	logResult(t, res, clusters)
	require.NoError(t, err)

	bootstrapUser := "system:serviceaccount:open-cluster-management:" + reconcile.ServiceAccountName(res.UID)
	for _, c := range clusters {
		st, err := simulator.WaitFor(ctx, c, 30*time.Second, sim.JoinedTo("hub2"))
		require.NoError(t, err)
		assert.Equal(t, "hub2", st.CertificateHub, "%s: its certificate", c)
		// Re-rendered by hub2's import controller: the klusterlet's only
		// bootstrap kubeconfig is hub2's own, not the run's revoked token.
		assert.Equal(t, []string{"hub2"}, st.Bootstraps, "%s: its bootstrap kubeconfigs", c)

		mc, err := target.Dyn.Resource(reconcile.ManagedClusterGVR).Get(ctx, c, metav1.GetOptions{})
		require.NoError(t, err)
		accepted, _, _ := unstructured.NestedBool(mc.Object, "spec", "hubAcceptsClient")
		assert.True(t, accepted, "%s: accepted on hub2", c)
		for _, cond := range []string{"HubAcceptedManagedCluster", "ManagedClusterJoined", "ManagedClusterConditionAvailable"} {
			assert.Equal(t, "True", condition(mc, cond), "%s: %s on hub2", c, cond)
		}
		// The agent was approved once, by the baseline, as the run's identity.
		csrs, err := target.Kube.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{LabelSelector: reconcile.LabelClusterName + "=" + c})
		require.NoError(t, err)
		approved := 0
		for _, csr := range csrs.Items {
			for _, cond := range csr.Status.Conditions {
				if cond.Type == certificatesv1.CertificateApproved && csr.Spec.Username == bootstrapUser {
					assert.Equal(t, "BaselineApproved", cond.Reason, "%s: %s", c, csr.Name)
					approved++
				}
			}
		}
		assert.Equal(t, 1, approved, "%s: approvals of the run's credential", c)
	}
	// Copies equal the originals on SPEC's compared fields; the source
	// ManagedClusters are gone.
	invariants.CheckCompleted(t, snap, source, target, clusters)
	// Nothing labelled with the run is left, no CSR of its credential is
	// pending, ClusterManager untouched, no cluster lost.
	invariants.CheckTerminal(t, snap, hubs, string(res.UID), clusters)
	// And by name, which no missing label can hide.
	gone := func(what string, err error) {
		t.Helper()
		assert.True(t, apierrors.IsNotFound(err), "%s left (%v)", what, err)
	}
	sa := reconcile.ServiceAccountName(res.UID)
	_, err = target.Kube.CoreV1().ServiceAccounts("open-cluster-management").Get(ctx, sa, metav1.GetOptions{})
	gone("hub2: the bootstrap ServiceAccount", err)
	_, err = target.Kube.RbacV1().ClusterRoleBindings().Get(ctx, sa, metav1.GetOptions{})
	gone("hub2: its ClusterRoleBinding", err)
	_, err = target.Kube.RbacV1().ClusterRoles().Get(ctx, sa, metav1.GetOptions{})
	gone("hub2: a ClusterRole of the run", err)
	for _, c := range clusters {
		name := reconcile.ScaffoldingName(c, res.UID)
		for _, h := range hubs {
			_, err = h.Kube.CoreV1().Secrets("open-cluster-management").Get(ctx, name, metav1.GetOptions{})
			gone(h.Name+": the anchor Secret of "+c, err)
			_, err = h.Kube.CoreV1().Secrets(sim.BootstrapSecretNamespace).Get(ctx, name, metav1.GetOptions{})
			gone(h.Name+": the bootstrap Secret of "+c, err)
			_, err = h.Dyn.Resource(reconcile.KlusterletConfigGVR).Get(ctx, name, metav1.GetOptions{})
			gone(h.Name+": the KlusterletConfig of "+c, err)
		}
	}
}

// logResult logs the wall time, each cluster's steps and writes, and the
// run-wide writes.
func logResult(t *testing.T, res baseline.Result, clusters []string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "baseline: %d clusters hub1 → hub2 in %s (wall); %d writes, %.1f per cluster, %d of them failed\n",
		len(clusters), res.Wall.Round(time.Millisecond), res.Writes.Total(), float64(res.Writes.Total())/float64(len(clusters)), res.Failed.Total())
	for _, c := range clusters {
		cr := res.Clusters[c]
		fmt.Fprintf(&b, "%s: %s, %d writes (error: %v)\n", c, cr.Duration.Round(time.Millisecond), res.Writes.Of(c).Total(), cr.Err)
		for _, s := range cr.Steps {
			fmt.Fprintf(&b, "    %-45s %s\n", s.Name, s.Took.Round(time.Millisecond))
		}
		b.WriteString(res.Writes.Of(c).String())
	}
	fmt.Fprintf(&b, "run-wide (the bootstrap identity): %d writes\n%s", res.Writes.Of("").Total(), res.Writes.Of(""))
	if res.Failed.Total() > 0 {
		fmt.Fprintf(&b, "failed writes:\n%s", res.Failed)
	}
	t.Log(b.String())
}

func condition(obj *unstructured.Unstructured, condType string) string {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		if m, _ := c.(map[string]any); m["type"] == condType {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}
