package ocm

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "open-cluster-management.io/api/cluster/v1"
)

// OCM's own agent joins a hub with OCM's own hub controller: it creates the
// ManagedCluster with its bootstrap credential, files a CSR once accepted,
// and after the approval renews the lease the hub controller made.
func TestAgentJoinsAHub(t *testing.T) {
	const cluster = "join1"
	dir := filepath.Join(world.Dir, "ocm", cluster)
	hub1 := hubOf(t, "hub1")
	boot := bootstrapKubeconfig(t, hub1, cluster, dir)
	began := time.Now()
	startAgent(t, cluster, dir, append(agentFlags(t, cluster, dir, true), "--bootstrap-kubeconfig="+boot)...)

	eventually(t, 60*time.Second, "the agent's ManagedCluster on hub1", func() bool { return hub1.mc(t, cluster) != nil })
	hub1.setAccept(t, cluster, true)
	csr := hub1.approvePendingCSR(t, cluster, 60*time.Second)
	assert.Equal(t, "system:serviceaccount:"+bootstrapNamespace+":"+cluster+"-bootstrap-sa", csr.Spec.Username, "filed with the bootstrap credential")
	eventually(t, 60*time.Second, "Joined and Available on hub1", func() bool {
		mc := hub1.mc(t, cluster)
		return condition(mc, clusterv1.ManagedClusterConditionJoined) == metav1.ConditionTrue &&
			condition(mc, clusterv1.ManagedClusterConditionAvailable) == metav1.ConditionTrue
	})
	t.Logf("agent start to Joined+Available on hub1: %s", time.Since(began).Round(100*time.Millisecond))
	assert.Equal(t, world.Hub("hub1").URL(), hubOfAgent(dir))

	hub1.waitLeaseRenewed(t, cluster, 90*time.Second)
}

// With MultipleHubs, hubAcceptsClient=false on its hub makes OCM's agent
// restart, select the next bootstrap kubeconfig whose hub accepts it, file a
// CSR there and join once it is approved.
func TestAgentSwitchesWhenUnaccepted(t *testing.T) {
	const cluster = "switch1"
	dir := filepath.Join(world.Dir, "ocm", cluster)
	hub1, hub2 := hubOf(t, "hub1"), hubOf(t, "hub2")
	boot1, boot2 := bootstrapKubeconfig(t, hub1, cluster, dir), bootstrapKubeconfig(t, hub2, cluster, dir)
	agent := startAgent(t, cluster, dir, append(agentFlags(t, cluster, dir, true),
		"--feature-gates=MultipleHubs=true", "--bootstrap-kubeconfigs="+boot1, "--bootstrap-kubeconfigs="+boot2)...)

	eventually(t, 60*time.Second, "the agent's ManagedCluster on hub1", func() bool { return hub1.mc(t, cluster) != nil })
	hub1.setAccept(t, cluster, true)
	hub1.approvePendingCSR(t, cluster, 60*time.Second)
	eventually(t, 60*time.Second, "Joined on hub1", func() bool {
		return condition(hub1.mc(t, cluster), clusterv1.ManagedClusterConditionJoined) == metav1.ConditionTrue && hubOfAgent(dir) == world.Hub("hub1").URL()
	})

	// The target: accepted before the agent arrives, as a migration makes it.
	_, err := hub2.cluster.ClusterV1().ManagedClusters().Create(context.Background(), &clusterv1.ManagedCluster{
		ObjectMeta: metav1.ObjectMeta{Name: cluster},
		Spec:       clusterv1.ManagedClusterSpec{HubAcceptsClient: true, LeaseDurationSeconds: 60},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	starts := agent.Starts()
	switched := time.Now()
	hub1.setAccept(t, cluster, false)
	csr := hub2.approvePendingCSR(t, cluster, 60*time.Second)
	t.Logf("hubAcceptsClient=false to a CSR on hub2: %s", time.Since(switched).Round(100*time.Millisecond))
	assert.Equal(t, "system:serviceaccount:"+bootstrapNamespace+":"+cluster+"-bootstrap-sa", csr.Spec.Username)
	eventually(t, 60*time.Second, "Joined and Available on hub2", func() bool {
		mc := hub2.mc(t, cluster)
		return condition(mc, clusterv1.ManagedClusterConditionJoined) == metav1.ConditionTrue &&
			condition(mc, clusterv1.ManagedClusterConditionAvailable) == metav1.ConditionTrue && hubOfAgent(dir) == world.Hub("hub2").URL()
	})
	t.Logf("hubAcceptsClient=false to Joined+Available on hub2: %s", time.Since(switched).Round(100*time.Millisecond))
	assert.Greater(t, agent.Starts(), starts, "the agent restarted to switch")
}
