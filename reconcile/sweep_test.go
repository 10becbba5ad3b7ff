package reconcile

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The sweep deletes only what it can prove a migration of this home made as
// scaffolding: labels alone prove nothing (they can be copied off any
// in-flight copy), so the name and namespace must be the ones a migration
// with that UID gives the kind.
func TestProvenScaffolding(t *testing.T) {
	cfg := Config{HomeID: "home-uid", BootstrapNamespace: "open-cluster-management", BootstrapSecretNamespace: "multicluster-engine"}
	const uid = "0ddba11a-0000-4000-8000-000000000000"
	ours := map[string]string{LabelHome: "home-uid", LabelMigrationUID: uid}
	sealer := testSealer(t, 1)
	secret := func(ns, name string, labels map[string]string) metav1.Object {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, UID: "u-" + types.UID(name)}}
		sealer.Seal("secrets", s)
		return s
	}
	unsealed := secret("open-cluster-management", "hubmigrate-c1-0ddba11a", ours).(*corev1.Secret)
	delete(unsealed.Annotations, AnnSeal)
	forged := secret("open-cluster-management", "hubmigrate-c1-0ddba11a", ours).(*corev1.Secret)
	testSealer(t, 2).Seal("secrets", forged)
	sa := func(ns string) metav1.Object {
		s := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hubmigrate-0ddba11a", Labels: ours, UID: "sa"}}
		sealer.Seal("serviceaccounts", s)
		return s
	}
	kind := func(gvr schemaGVR) sweepKind {
		for _, k := range sweepKinds {
			if k.gvr == gvr {
				return k
			}
		}
		t.Fatalf("no sweep kind %v", gvr)
		return sweepKind{}
	}
	cases := []struct {
		name   string
		kind   sweepKind
		obj    metav1.Object
		proven bool
	}{
		{"an anchor Secret", kind(SecretGVR), secret("open-cluster-management", "hubmigrate-c1-0ddba11a", ours), true},
		{"a bootstrap kubeconfig Secret", kind(SecretGVR), secret("multicluster-engine", "hubmigrate-my-cluster-0ddba11a", ours), true},
		{"the ServiceAccount", kind(ServiceAccountGVR), sa("open-cluster-management"), true},
		{"scaffolding without a seal", kind(SecretGVR), unsealed, false},
		{"scaffolding sealed with another key", kind(SecretGVR), forged, false},
		{"a Secret sealed as a ServiceAccount", kind(ServiceAccountGVR), secret("open-cluster-management", "hubmigrate-0ddba11a", ours), false},
		{"a Secret with our labels and any name", kind(SecretGVR), secret("open-cluster-management", "precious", ours), false},
		{"a Secret named for another migration", kind(SecretGVR), secret("open-cluster-management", "hubmigrate-c1-99999999", ours), false},
		{"a Secret with our name in another namespace", kind(SecretGVR), secret("c1", "hubmigrate-c1-0ddba11a", ours), false},
		{"another home's", kind(SecretGVR), secret("open-cluster-management", "hubmigrate-c1-0ddba11a", map[string]string{LabelHome: "other", LabelMigrationUID: uid}), false},
		{"no migration label", kind(SecretGVR), secret("open-cluster-management", "hubmigrate-c1-0ddba11a", map[string]string{LabelHome: "home-uid"}), false},
		{"a ServiceAccount in another namespace", kind(ServiceAccountGVR), sa("default"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, proven := provenScaffolding(tc.kind, tc.obj, cfg, sealer)
			assert.Equal(t, tc.proven, proven)
			if proven {
				assert.Equal(t, uid, got)
			}
		})
	}
	_, proven := provenScaffolding(kind(SecretGVR), secret("open-cluster-management", "hubmigrate-c1-0ddba11a", map[string]string{LabelHome: "", LabelMigrationUID: uid}), Config{}, sealer)
	assert.False(t, proven, "no home id: nothing is proven")
	for _, k := range sweepKinds {
		assert.NotEqual(t, ManagedClusterGVR, k.gvr, "ManagedClusters are never swept")
		assert.NotEqual(t, NamespaceGVR, k.gvr, "Namespaces are never swept")
	}
}
