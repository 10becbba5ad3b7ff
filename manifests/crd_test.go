package manifests_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/hubmigrate/hubmigrate/envtest"
)

var (
	world        *envtest.World
	migrationGVR = schema.GroupVersionResource{Group: "global-hub.open-cluster-management.io", Version: "v1alpha1", Resource: "managedclustermigrations"}
)

func TestMain(m *testing.M) {
	w, err := envtest.Start(context.Background(), envtest.Options{HomeOnly: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test world:", err)
		os.Exit(1)
	}
	world = w
	code := m.Run()
	w.Stop()
	os.Exit(code)
}

func migrations(t *testing.T, ns string) dynamic.ResourceInterface {
	t.Helper()
	cfg := world.Home().AdminConfig()
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	_, _ = cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	d, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	return d.Resource(migrationGVR).Namespace(ns)
}

func fromYAML(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(y), &obj.Object))
	return obj
}

// Global Hub's documented samples apply unchanged.
func TestGlobalHubSamplesAreAccepted(t *testing.T) {
	ctx := context.Background()
	mcm := migrations(t, "multicluster-global-hub")
	for _, sample := range []string{`
apiVersion: global-hub.open-cluster-management.io/v1alpha1
kind: ManagedClusterMigration
metadata:
  name: ztp-sno-migration
  namespace: multicluster-global-hub
spec:
  from: local-cluster
  to: hub2
  includedManagedClustersPlacementRef: migration-50
  supportedConfigs:
    stageTimeout: 15m
`, `
apiVersion: global-hub.open-cluster-management.io/v1alpha1
kind: ManagedClusterMigration
metadata:
  name: migration-sample
  namespace: multicluster-global-hub
spec:
  from: hub1
  to: hub2
  includedManagedClusters:
  - cluster1
  - cluster2
`} {
		obj := fromYAML(t, sample)
		_, err := mcm.Create(ctx, obj, metav1.CreateOptions{FieldValidation: "Strict"})
		require.NoError(t, err, "sample %s", obj.GetName())
	}
}

func TestBadMigrationsAreRejectedAtAdmission(t *testing.T) {
	ctx := context.Background()
	mcm := migrations(t, "admission")
	cases := []struct {
		name, spec, want string
	}{
		{"same-hub", "from: hub1\nto: hub1\nincludedManagedClusters: [c1]", "spec.from and spec.to must name different hubs"},
		{"both-selectors", "from: hub1\nto: hub2\nincludedManagedClusters: [c1]\nincludedManagedClustersPlacementRef: p", "exactly one of includedManagedClusters or includedManagedClustersPlacementRef must be specified"},
		{"no-selector", "from: hub1\nto: hub2", "exactly one of includedManagedClusters or includedManagedClustersPlacementRef must be specified"},
		{"bad-cluster-name", "from: hub1\nto: hub2\nincludedManagedClusters: [Bad_Name]", "spec.includedManagedClusters[0]: Invalid value: \"Bad_Name\": spec.includedManagedClusters[0] in body should match"},
		{"duplicate-cluster", "from: hub1\nto: hub2\nincludedManagedClusters: [c1, c2, c1]", "Duplicate value: \"c1\""},
		{"empty-list", "from: hub1\nto: hub2\nincludedManagedClusters: []", "should have at least 1 items"},
		{"too-many-clusters", "from: hub1\nto: hub2\nincludedManagedClusters: [" + clusterNames(3001) + "]", "must have at most 3000 items"},
		{"no-target", "from: hub1\nincludedManagedClusters: [c1]", "spec.to: Required value"},
		{"bad-hub-name", "from: hub1\nto: Hub.Two\nincludedManagedClusters: [c1]", "spec.to in body should match"},
		{"tiny-timeout", "from: hub1\nto: hub2\nincludedManagedClusters: [c1]\nsupportedConfigs: {stageTimeout: 500ms}", "stageTimeout must be a duration of at least 1s"},
		{"endless-timeout", "from: hub1\nto: hub2\nincludedManagedClusters: [c1]\nsupportedConfigs: {stageTimeout: 720h}", "stageTimeout must be at most 2h"},
		{"nonsense-timeout", "from: hub1\nto: hub2\nincludedManagedClusters: [c1]\nsupportedConfigs: {stageTimeout: soon}", "stageTimeout must be a duration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := fromYAML(t, "apiVersion: global-hub.open-cluster-management.io/v1alpha1\nkind: ManagedClusterMigration\nmetadata: {name: "+tc.name+"}\nspec:\n  "+strings.ReplaceAll(tc.spec, "\n", "\n  "))
			_, err := mcm.Create(ctx, obj, metav1.CreateOptions{})
			require.Error(t, err, "admission must reject %s", tc.name)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// clusterNames is n distinct valid cluster names, comma-separated.
func clusterNames(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("c%04d", i)
	}
	return strings.Join(names, ", ")
}

// The cap is 3000 clusters per migration (reconcile.MaxClusters): 3000 are admitted.
func TestThreeThousandClustersAreAllowed(t *testing.T) {
	mcm := migrations(t, "admission")
	obj := fromYAML(t, "apiVersion: global-hub.open-cluster-management.io/v1alpha1\nkind: ManagedClusterMigration\nmetadata: {name: at-the-cap}\nspec: {from: hub1, to: hub2, includedManagedClusters: ["+clusterNames(3000)+"]}")
	_, err := mcm.Create(context.Background(), obj, metav1.CreateOptions{})
	require.NoError(t, err)
}

func TestShortTimeoutsAreAllowed(t *testing.T) {
	mcm := migrations(t, "admission")
	obj := fromYAML(t, "apiVersion: global-hub.open-cluster-management.io/v1alpha1\nkind: ManagedClusterMigration\nmetadata: {name: quick}\nspec: {from: hub1, to: hub2, includedManagedClusters: [c1], supportedConfigs: {stageTimeout: 30s}}")
	_, err := mcm.Create(context.Background(), obj, metav1.CreateOptions{})
	require.NoError(t, err)
}

func TestSpecIsImmutable(t *testing.T) {
	ctx := context.Background()
	mcm := migrations(t, "admission")
	obj := fromYAML(t, "apiVersion: global-hub.open-cluster-management.io/v1alpha1\nkind: ManagedClusterMigration\nmetadata: {name: frozen}\nspec: {from: hub1, to: hub2, includedManagedClusters: [c1]}")
	created, err := mcm.Create(ctx, obj, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, unstructured.SetNestedStringSlice(created.Object, []string{"c1", "c2"}, "spec", "includedManagedClusters"))
	_, err = mcm.Update(ctx, created, metav1.UpdateOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "spec is immutable once the migration is created")

	// Metadata and status stay writable: hubmigrate keeps its markers there.
	created, err = mcm.Get(ctx, "frozen", metav1.GetOptions{})
	require.NoError(t, err)
	created.SetAnnotations(map[string]string{"migration.open-cluster-management.io/started-at": "2026-11-29T00:00:00Z"})
	_, err = mcm.Update(ctx, created, metav1.UpdateOptions{})
	require.NoError(t, err)
}

// `kubectl get mcm` shows Phase, From, To, Progress and Age; -o wide adds
// the stage timeout and the oldest phase-since.
func TestPrinterColumns(t *testing.T) {
	ctx := context.Background()
	mcm := migrations(t, "printer")
	obj := fromYAML(t, "apiVersion: global-hub.open-cluster-management.io/v1alpha1\nkind: ManagedClusterMigration\nmetadata: {name: shown}\nspec: {from: hub1, to: hub2, includedManagedClusters: [c1]}")
	_, err := mcm.Create(ctx, obj, metav1.CreateOptions{})
	require.NoError(t, err)

	cs, err := kubernetes.NewForConfig(world.Home().AdminConfig())
	require.NoError(t, err)
	raw, err := cs.Discovery().RESTClient().Get().
		AbsPath("/apis/global-hub.open-cluster-management.io/v1alpha1/namespaces/printer/managedclustermigrations").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
	require.NoError(t, err)
	var table metav1.Table
	require.NoError(t, json.Unmarshal(raw, &table))
	var names []string
	for _, c := range table.ColumnDefinitions {
		names = append(names, c.Name)
	}
	assert.Equal(t, []string{"Name", "Phase", "From", "To", "Progress", "Age", "Stage Timeout", "Oldest Phase"}, names)
	for _, c := range table.ColumnDefinitions[6:] {
		assert.Equal(t, int32(1), c.Priority, "%s: shown by -o wide only", c.Name)
	}
	require.Len(t, table.Rows, 1)
	assert.Equal(t, "hub1", table.Rows[0].Cells[2])
	assert.Equal(t, "hub2", table.Rows[0].Cells[3])
}
