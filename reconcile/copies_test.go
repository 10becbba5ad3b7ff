package reconcile

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// What a copy carries over and what stays with the source hub.
func TestCopiesLeaveBehindWhatBelongsToAHub(t *testing.T) {
	labels := map[string]string{
		"env": "prod", LabelPhase: "Registering", LabelHome: "h", LabelMigrationUID: "u",
		"feature.open-cluster-management.io/addon-search": "available", LabelPreserve: "",
	}
	assert.Equal(t, map[string]string{"env": "prod", LabelPreserve: ""}, copyLabels(labels))

	anns := map[string]string{
		"team": "blue", AnnOwner: "ops/move/u", AnnGlobalHubMigrating: "", AnnDisableAutoImport: "",
		AnnKlusterletConfig: "kc", "open-cluster-management.io/automatically-accepted-on": "x",
		"kubectl.kubernetes.io/last-applied-configuration": "{}", "other.io/note": "kept",
	}
	assert.Equal(t, map[string]string{"team": "blue", "other.io/note": "kept"}, copyAnnotations(anns))
	assert.Equal(t, map[string]string{"first": "1"}, copyAnnotations(map[string]string{"first": "1"}),
		"an annotation is dropped only when it is in the list, not when another one is")

	p := &planner{f: &Facts{HomeID: "home-uid"}, owner: testOwner}
	plain := p.configMapCopy(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "c1"}, Data: map[string]string{"k": "v"}})
	assert.NotContains(t, plain.Object, "binaryData", "no binaryData where the source has none: the copy equals what the API server returns")
	binary := p.configMapCopy(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "c1"}, BinaryData: map[string][]byte{"b": {1, 2}}})
	assert.Equal(t, map[string]any{"b": "AQI="}, binary.Object["binaryData"])
}
