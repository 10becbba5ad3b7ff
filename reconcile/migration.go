package reconcile

//hubmigrate:pure

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
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

// MaxClusters caps the clusters of one migration: the CRD's maxItems on
// spec.includedManagedClusters, and the most a Placement may resolve to.
const MaxClusters = 3000

// The reasons a migration's cluster list cannot be used; the migration then
// fails before any claim, with one of them.
const (
	ReasonInvalidClusterList = "InvalidClusterList"
	ReasonTooManyClusters    = "TooManyClusters"
)

// ClusterListError says why a migration's cluster list cannot be used.
type ClusterListError struct{ Reason, Message string }

func (e *ClusterListError) Error() string { return e.Reason + ": " + e.Message }

// Clusters are the migration's clusters: its list, or the Placement's
// decisions as resolved once and recorded on the migration. A list that
// cannot be used (ClusterList says why) gives none, so nothing is observed
// or claimed for it.
func (m MigrationFacts) Clusters() []string {
	clusters, err := m.ClusterList()
	if err != nil {
		return nil
	}
	return clusters
}

// ClusterList is the migration's clusters, or why they cannot be used: an
// invalid ManagedCluster name, a name listed twice, more than MaxClusters,
// or a recorded list that is not a non-empty JSON list of names. A Placement
// not resolved yet is an empty list, not an error.
func (m MigrationFacts) ClusterList() ([]string, error) {
	if m.PlacementRef == "" {
		if err := checkClusterNames(m.Listed, "spec.includedManagedClusters"); err != nil {
			return nil, err
		}
		return m.Listed, nil
	}
	s, ok := m.Annotations[AnnClusters]
	if !ok || s == "" {
		return nil, nil
	}
	var clusters []string
	if err := json.Unmarshal([]byte(s), &clusters); err != nil {
		return nil, &ClusterListError{Reason: ReasonInvalidClusterList, Message: fmt.Sprintf("annotation %s is not a JSON list of names: %v", AnnClusters, err)}
	}
	if len(clusters) == 0 {
		return nil, &ClusterListError{Reason: ReasonInvalidClusterList, Message: fmt.Sprintf("annotation %s is an empty list", AnnClusters)}
	}
	if err := checkClusterNames(clusters, "annotation "+AnnClusters); err != nil {
		return nil, err
	}
	return clusters, nil
}

// checkClusterNames: each a valid ManagedCluster name (a DNS-1123 label, the
// CRD's pattern), each once, at most MaxClusters.
func checkClusterNames(clusters []string, where string) error {
	if len(clusters) > MaxClusters {
		return &ClusterListError{Reason: ReasonTooManyClusters, Message: fmt.Sprintf("%s names %d clusters, more than %d", where, len(clusters), MaxClusters)}
	}
	seen := make(map[string]bool, len(clusters))
	for _, c := range clusters {
		if problems := validation.IsDNS1123Label(c); len(problems) > 0 {
			return &ClusterListError{Reason: ReasonInvalidClusterList, Message: fmt.Sprintf("%s names %q, not a valid ManagedCluster name: %s", where, c, strings.Join(problems, "; "))}
		}
		if seen[c] {
			return &ClusterListError{Reason: ReasonInvalidClusterList, Message: fmt.Sprintf("%s names %q twice", where, c)}
		}
		seen[c] = true
	}
	return nil
}
