package reconcile

import (
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// migrationFacts reads a ManagedClusterMigration (an unstructured object: the
// CRD is ours, but no generated client is needed for a handful of fields).
func migrationFacts(obj *unstructured.Unstructured) (MigrationFacts, error) {
	m := MigrationFacts{
		Owner:           Owner{Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID()},
		Annotations:     obj.GetAnnotations(),
		ResourceVersion: obj.GetResourceVersion(),
		Created:         obj.GetCreationTimestamp().Time,
		Deleting:        obj.GetDeletionTimestamp() != nil,
		Object:          obj,
	}
	m.From, _, _ = unstructured.NestedString(obj.Object, "spec", "from")
	m.To, _, _ = unstructured.NestedString(obj.Object, "spec", "to")
	m.Listed, _, _ = unstructured.NestedStringSlice(obj.Object, "spec", "includedManagedClusters")
	m.PlacementRef, _, _ = unstructured.NestedString(obj.Object, "spec", "includedManagedClustersPlacementRef")
	if s, ok, _ := unstructured.NestedString(obj.Object, "spec", "supportedConfigs", "stageTimeout"); ok && s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return m, fmt.Errorf("stageTimeout %q: %w", s, err)
		}
		m.StageTimeout = d
	}
	return m, nil
}

// Clusters are the migration's clusters: its list, or the Placement's
// decisions as resolved once and recorded on the migration.
func (m MigrationFacts) Clusters() []string {
	if m.PlacementRef == "" {
		return m.Listed
	}
	var clusters []string
	if s := m.Annotations[AnnClusters]; s != "" {
		_ = json.Unmarshal([]byte(s), &clusters)
	}
	return clusters
}
