package reconcile

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func testSealer(t testing.TB, fill byte) *Sealer {
	t.Helper()
	s, err := NewSealer(bytes.Repeat([]byte{fill}, 32))
	require.NoError(t, err)
	return s
}

func sealedCluster(t testing.TB, s *Sealer) *unstructured.Unstructured {
	t.Helper()
	mc := mcObj("c1", "uid-c1", map[string]string{LabelPhase: "Registering", LabelMigrationUID: "m-uid", "team": "a"},
		map[string]string{AnnOwner: "ops/m/m-uid", AnnOriginalHubAcceptsClient: "true", AnnCommitted: "csr/uid", "other.io/x": "1"})
	s.Seal("managedclusters", mc)
	require.Contains(t, mc.GetAnnotations(), AnnSeal)
	return mc
}

func mcObj(name, uid string, labels, anns map[string]string) *unstructured.Unstructured {
	mc := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
		"metadata": map[string]any{"name": name, "uid": uid}}}
	mc.SetLabels(labels)
	mc.SetAnnotations(anns)
	return mc
}

func TestSealVerifiesOnlyWhatItSealed(t *testing.T) {
	s := testSealer(t, 1)
	require.NoError(t, s.Verify("managedclusters", sealedCluster(t, s)))

	changes := map[string]func(mc *unstructured.Unstructured){
		"a decision added": func(mc *unstructured.Unstructured) {
			a := mc.GetAnnotations()
			a[AnnReason] = "Forged"
			mc.SetAnnotations(a)
		},
		"a saved original changed": func(mc *unstructured.Unstructured) {
			a := mc.GetAnnotations()
			a[AnnOriginalHubAcceptsClient] = "false"
			mc.SetAnnotations(a)
		},
		"the owner removed": func(mc *unstructured.Unstructured) {
			a := mc.GetAnnotations()
			delete(a, AnnOwner)
			mc.SetAnnotations(a)
		},
		"a prefixed label changed": func(mc *unstructured.Unstructured) {
			l := mc.GetLabels()
			l[LabelMigrationUID] = "other"
			mc.SetLabels(l)
		},
		"the seal copied to another object":   func(mc *unstructured.Unstructured) { mc.SetName("c2") },
		"the seal copied to a re-created one": func(mc *unstructured.Unstructured) { mc.SetUID("uid-new") },
		"the seal removed": func(mc *unstructured.Unstructured) {
			a := mc.GetAnnotations()
			delete(a, AnnSeal)
			mc.SetAnnotations(a)
		},
		"the seal garbled": func(mc *unstructured.Unstructured) {
			a := mc.GetAnnotations()
			a[AnnSeal] = a[AnnSeal][:len(a[AnnSeal])-2] + "AA"
			mc.SetAnnotations(a)
		},
		"the seal made create-time": func(mc *unstructured.Unstructured) {
			a := mc.GetAnnotations()
			a[AnnSeal] = sealCreated + a[AnnSeal][len(sealBound):]
			mc.SetAnnotations(a)
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			mc := sealedCluster(t, s)
			change(mc)
			assert.ErrorIs(t, s.Verify("managedclusters", mc), ErrUnsealed)
		})
	}
	t.Run("as another kind", func(t *testing.T) {
		assert.ErrorIs(t, s.Verify("secrets", sealedCluster(t, s)), ErrUnsealed)
	})
	t.Run("by another key", func(t *testing.T) {
		assert.ErrorIs(t, testSealer(t, 2).Verify("managedclusters", sealedCluster(t, s)), ErrUnsealed)
	})

	outside := map[string]func(mc *unstructured.Unstructured){
		"the phase label (a projection)": func(mc *unstructured.Unstructured) {
			l := mc.GetLabels()
			l[LabelPhase] = "Completed"
			mc.SetLabels(l)
		},
		"a label that is not a marker": func(mc *unstructured.Unstructured) {
			l := mc.GetLabels()
			l["team"] = "b"
			mc.SetLabels(l)
		},
		"an annotation that is not a marker": func(mc *unstructured.Unstructured) {
			a := mc.GetAnnotations()
			a["other.io/x"] = "2"
			mc.SetAnnotations(a)
		},
		"the spec": func(mc *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(mc.Object, false, "spec", "hubAcceptsClient")
		},
	}
	for name, change := range outside {
		t.Run("outside the seal: "+name, func(t *testing.T) {
			mc := sealedCluster(t, s)
			change(mc)
			assert.NoError(t, s.Verify("managedclusters", mc))
		})
	}
}

func TestSealAfterRotation(t *testing.T) {
	old := testSealer(t, 1)
	mc := sealedCluster(t, old)
	rotated, err := NewSealer(bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{1}, 32))
	require.NoError(t, err)
	assert.NoError(t, rotated.Verify("managedclusters", mc), "the previous key still verifies")
	rotated.Seal("managedclusters", mc)
	assert.NoError(t, rotated.Verify("managedclusters", mc))
	assert.ErrorIs(t, old.Verify("managedclusters", mc), ErrUnsealed, "a new seal is made with the current key")
	twice, err := NewSealer(bytes.Repeat([]byte{3}, 32), bytes.Repeat([]byte{2}, 32))
	require.NoError(t, err)
	assert.ErrorIs(t, twice.Verify("managedclusters", sealedCluster(t, old)), ErrUnsealed, "a key rotated out twice verifies nothing")
}

func TestCreateTimeSeal(t *testing.T) {
	s := testSealer(t, 1)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hubmigrate-c1-m", Namespace: "ocm",
		Labels: map[string]string{LabelHome: "home", LabelMigrationUID: "m-uid"}, Annotations: map[string]string{AnnOwner: "ops/m/m-uid"}}}
	s.Seal("secrets", secret)
	assert.Contains(t, secret.Annotations[AnnSeal], sealCreated+".")
	secret.UID = "assigned-by-the-api-server"
	assert.NoError(t, s.Verify("secrets", secret), "a create is sealed before the object has a UID")

	secret.Annotations[AnnCommitted] = "csr/uid"
	s.Seal("secrets", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secret.Name, Namespace: secret.Namespace, Labels: secret.Labels, Annotations: secret.Annotations}})
	assert.ErrorIs(t, s.Verify("secrets", secret), ErrUnsealed, "a create-time seal never vouches for a decision")
}

func TestSealOfAnObjectWithoutMarkers(t *testing.T) {
	s := testSealer(t, 1)
	mc := mcObj("c1", "u", map[string]string{"team": "a"}, map[string]string{AnnSeal: "v1u.x.y"})
	s.Seal("managedclusters", mc)
	assert.NotContains(t, mc.GetAnnotations(), AnnSeal, "markers gone, seal gone")
	assert.NoError(t, s.Verify("managedclusters", mc), "nothing to vouch for")
}

func TestSealKeys(t *testing.T) {
	_, err := NewSealer([]byte("short"))
	assert.Error(t, err)
	_, err = SealerFromSecret(&corev1.Secret{Data: map[string][]byte{"current": bytes.Repeat([]byte{1}, 32), "previous": []byte("short")}})
	assert.Error(t, err, "a previous key too short is refused, not ignored")
	_, err = SealerFromSecret(nil)
	assert.Error(t, err)
	s, err := SealerFromSecret(&corev1.Secret{Data: map[string][]byte{"current": bytes.Repeat([]byte{1}, 32)}})
	require.NoError(t, err)
	assert.Len(t, s.keys, 1)
}
