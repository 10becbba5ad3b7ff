package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/hubmigrate/hubmigrate/reconcile"
)

// holdManagedClusterLists is a transport wrapper that holds the list
// requests of a hub's ManagedClusters until release is called (idempotent):
// the controller's caches of that hub cannot fill, while discovery and the
// liveness probe still answer — a hub slow to answer, as the controller sees it.
func holdManagedClusterLists(t *testing.T, hub string) (wrap func(http.RoundTripper) http.RoundTripper, release func()) {
	t.Helper()
	u, err := url.Parse(world.Hub(hub).URL())
	require.NoError(t, err)
	released := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(released) }) }
	wrap = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Host == u.Host && r.Method == http.MethodGet && r.URL.Query().Get("watch") == "" &&
				strings.HasSuffix(r.URL.Path, "/managedclusters") {
				select {
				case <-released:
				case <-r.Context().Done():
					return nil, r.Context().Err()
				}
			}
			return rt.RoundTrip(r)
		})
	}
	return wrap, release
}

// waitUnavailable waits until the hub shows the cluster not Available.
func waitUnavailable(t *testing.T, hub dynamic.Interface, cluster string) {
	t.Helper()
	require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		mc, err := hub.Resource(reconcile.ManagedClusterGVR).Get(ctx, cluster, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(mc.Object, "status", "conditions")
		for _, c := range conds {
			if m := c.(map[string]any); m["type"] == "ManagedClusterConditionAvailable" {
				return m["status"] != "True", nil
			}
		}
		return false, nil
	}), "the hub marks %s unavailable", cluster)
}
