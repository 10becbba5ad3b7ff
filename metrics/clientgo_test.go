package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
)

// Once registered, a named workqueue and every REST request report through
// the registry.
func TestClientGoMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, RegisterClientGo(reg))

	q := workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[string]{Name: "test-queue"})
	defer q.ShutDown()
	q.Add("a")
	q.Add("b")

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","code":404,"reason":"NotFound"}`, http.StatusNotFound)
	}))
	defer srv.Close()
	kube, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	require.NoError(t, err)
	_, err = kube.CoreV1().Namespaces().Get(context.Background(), "x", metav1.GetOptions{})
	require.Error(t, err)

	assert.Equal(t, 2.0, testutil.ToFloat64(queueDepth.WithLabelValues("test-queue")))
	assert.Equal(t, 2.0, testutil.ToFloat64(queueAdds.WithLabelValues("test-queue")))
	host := strings.TrimPrefix(srv.URL, "http://")
	assert.Equal(t, 1.0, testutil.ToFloat64(requestResults.WithLabelValues("404", "GET", host)))
	n, err := testutil.GatherAndCount(reg, "rest_client_request_duration_seconds", "workqueue_depth")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 2)
}
