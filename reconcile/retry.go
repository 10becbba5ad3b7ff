package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
)

// notRetriable are the reasons a retry cannot change.
var notRetriable = map[string]bool{"NotFound": true, "IsHub": true, "HostedMode": true, "AlreadyOnTarget": true}

// RetryPlan is the new migration a retry creates, or why it cannot.
type RetryPlan struct {
	Name     string
	Clusters []string
}

// PlanRetry decides a retry of the finished migration original, given the
// other migrations in its namespace: NAME-retry-<n> (the next free n) with the
// Failed clusters whose reason a retry can change. It refuses while NAME has
// not finished or an earlier retry of it is still running.
func PlanRetry(original *unstructured.Unstructured, siblings []unstructured.Unstructured) (RetryPlan, error) {
	results := original.GetAnnotations()[AnnResults]
	if results == "" {
		return RetryPlan{}, fmt.Errorf("%s has not finished: a retry is a new migration for the clusters of a finished one", original.GetName())
	}
	var outcomes map[string]string
	if err := json.Unmarshal([]byte(results), &outcomes); err != nil {
		return RetryPlan{}, fmt.Errorf("%s: unreadable results: %w", original.GetName(), err)
	}
	var clusters []string
	for c, r := range outcomes {
		phase, reason, _ := strings.Cut(r, ":")
		if Phase(phase) == Failed && !notRetriable[reason] {
			clusters = append(clusters, c)
		}
	}
	if len(clusters) == 0 {
		return RetryPlan{}, fmt.Errorf("%s has no failed cluster a retry can change", original.GetName())
	}
	sort.Strings(clusters)
	prefix := original.GetName() + "-retry-"
	next := 1
	for _, s := range siblings {
		n, err := strconv.Atoi(strings.TrimPrefix(s.GetName(), prefix))
		if !strings.HasPrefix(s.GetName(), prefix) || err != nil {
			continue
		}
		if s.GetAnnotations()[AnnResults] == "" {
			return RetryPlan{}, fmt.Errorf("an earlier retry, %s, is still running", s.GetName())
		}
		next = max(next, n+1)
	}
	return RetryPlan{Name: prefix + strconv.Itoa(next), Clusters: clusters}, nil
}

// Retry creates the retry of namespace/name on the home cluster.
func Retry(ctx context.Context, home dynamic.Interface, namespace, name string) (RetryPlan, error) {
	migrations := home.Resource(MigrationGVR).Namespace(namespace)
	original, err := migrations.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return RetryPlan{}, err
	}
	list, err := migrations.List(ctx, metav1.ListOptions{})
	if err != nil {
		return RetryPlan{}, err
	}
	plan, err := PlanRetry(original, list.Items)
	if err != nil {
		return plan, err
	}
	spec, _, _ := unstructured.NestedMap(original.Object, "spec")
	delete(spec, "includedManagedClustersPlacementRef")
	var list2 []any
	for _, c := range plan.Clusters {
		list2 = append(list2, c)
	}
	spec["includedManagedClusters"] = list2
	retry := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": original.GetAPIVersion(), "kind": original.GetKind(),
		"metadata": map[string]any{"name": plan.Name, "namespace": namespace,
			"annotations": map[string]any{Prefix + "retry-of": name}},
		"spec": spec,
	}}
	_, err = migrations.Create(ctx, retry, metav1.CreateOptions{})
	return plan, err
}
