package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/informers"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// A hub's caches keep what hubmigrate reads and no more (issue 19): on a
// real API server, which keeps managed fields and the works' manifests, the
// cached klusterlet work has neither spec nor managed fields but keeps its
// generation, resourceVersion and conditions; a cached ManagedCluster keeps
// its spec and markers without managed fields.
func TestHubCachesKeepOnlyWhatIsRead(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	importClusters(t, "hub1", sim.Singleton, "narrow-1")
	home, err := world.ProductConfig(envtest.HomeName)
	require.NoError(t, err)
	kube, err := kubernetes.NewForConfig(home)
	require.NoError(t, err)
	reg := informers.NewRegistry(home, kube, informers.Options{Namespace: envtest.ProductNamespace, Resync: time.Minute, QPS: 50, Burst: 100})
	require.NoError(t, reg.Start(ctx))
	defer reg.Stop()
	h, err := reg.Hub("hub1")
	require.NoError(t, err)
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return h.Synced(), nil
	}))

	_, hub1 := clients(t, "hub1")
	key := "narrow-1/" + sim.KlusterletWorkName("narrow-1")
	live, err := hub1.Resource(reconcile.ManifestWorkGVR).Namespace("narrow-1").Get(ctx, sim.KlusterletWorkName("narrow-1"), metav1.GetOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, live.GetManagedFields(), "the API server keeps managed fields")
	_, hasSpec, _ := unstructured.NestedFieldNoCopy(live.Object, "spec")
	require.True(t, hasSpec)

	var cached *unstructured.Unstructured
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		obj, ok, _ := h.Informers().ManifestWorks.GetStore().GetByKey(key)
		if ok {
			cached = obj.(*unstructured.Unstructured)
		}
		return ok, nil
	}))
	assert.NotContains(t, cached.Object, "spec")
	assert.Empty(t, cached.GetManagedFields())
	assert.Equal(t, live.GetGeneration(), cached.GetGeneration())
	conds, _, _ := unstructured.NestedSlice(cached.Object, "status", "conditions")
	assert.NotEmpty(t, conds, "the Applied condition stays")

	obj, ok, _ := h.Informers().ManagedClusters.GetStore().GetByKey("narrow-1")
	require.True(t, ok)
	mc := obj.(*unstructured.Unstructured)
	assert.Empty(t, mc.GetManagedFields())
	accepted, _, _ := unstructured.NestedBool(mc.Object, "spec", "hubAcceptsClient")
	assert.True(t, accepted, "a ManagedCluster keeps its spec")
}
