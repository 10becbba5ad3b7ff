package hubfacts

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestNoteKeepsDistinctValuesInOrder(t *testing.T) {
	r := &Recorder{seq: map[string]map[string][]string{"c": {}}}
	for _, v := range []string{"True", "True", "Unknown", "True", "True"} {
		r.note("c", "source ManagedClusterConditionAvailable", v)
	}
	assert.Equal(t, []string{"True", "Unknown", "True"}, r.Timeline("c")["source ManagedClusterConditionAvailable"])
}

func TestTimelineRoundTripsAndDiffs(t *testing.T) {
	tl := Timeline{"source ManagedCluster": {"present", "deleting", "gone"}, "target CSRs": {"pending", "approved", "issued"}}
	path := filepath.Join(t.TempDir(), "f.facts")
	require.NoError(t, os.WriteFile(path, []byte("# measured\n"+tl.String()), 0o644))
	back, err := Load(path)
	require.NoError(t, err)
	assert.Empty(t, back.Diff(tl))

	back["source ManagedCluster"] = []string{"present", "gone"}
	delete(back, "target CSRs")
	back["target taints"] = []string{"[]"}
	assert.Len(t, back.Diff(tl), 3, "a changed, a missing and an extra fact")
}

func TestFactsOfObjects(t *testing.T) {
	mc := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": "c"},
		"spec": map[string]any{"hubAcceptsClient": true, "taints": []any{
			map[string]any{"key": "z"}, map[string]any{"key": "a"},
		}},
		"status": map[string]any{"conditions": []any{
			map[string]any{"type": "ManagedClusterJoined", "status": "True"},
		}},
	}}
	assert.Equal(t, map[string]string{
		"ManagedCluster": "present", "hubAcceptsClient": "true", "taints": "[a z]",
		"HubAcceptedManagedCluster": "none", "ManagedClusterJoined": "True", "ManagedClusterConditionAvailable": "none",
	}, managedClusterFacts(mc, false))
	now := metav1.Now()
	mc.SetDeletionTimestamp(&now)
	assert.Equal(t, "deleting", managedClusterFacts(mc, false)["ManagedCluster"])
	assert.Equal(t, map[string]string{"ManagedCluster": "gone"}, managedClusterFacts(mc, true))

	work := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"generation": int64(2)}}}
	assert.Equal(t, "not applied", klusterletWorkFacts(work, false)["klusterlet work"])
	require.NoError(t, unstructured.SetNestedSlice(work.Object, []any{map[string]any{"type": "Applied", "status": "True", "observedGeneration": int64(1)}}, "status", "conditions"))
	assert.Equal(t, "not applied", klusterletWorkFacts(work, false)["klusterlet work"], "an older generation")
	require.NoError(t, unstructured.SetNestedSlice(work.Object, []any{map[string]any{"type": "Applied", "status": "True", "observedGeneration": int64(2)}}, "status", "conditions"))
	assert.Equal(t, "applied", klusterletWorkFacts(work, false)["klusterlet work"])

	csr := &certificatesv1.CertificateSigningRequest{}
	assert.Equal(t, "pending", csrState(csr, false))
	csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved}}
	assert.Equal(t, "approved", csrState(csr, false))
	csr.Status.Certificate = []byte("x")
	assert.Equal(t, "issued", csrState(csr, false))
	assert.Equal(t, "deleted", csrState(csr, true))
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateDenied})
	assert.Equal(t, "denied", csrState(csr, false))
}
