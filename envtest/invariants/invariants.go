// Package invariants checks SPEC's invariants ("What every change is checked
// against") on the hubs of the test world, for any test to call.
package invariants

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hubmigrate/hubmigrate/reconcile"
)

var clusterManagerGVR = schema.GroupVersionResource{Group: "operator.open-cluster-management.io", Version: "v1", Resource: "clustermanagers"}

// Hub is a hub's admin clients.
type Hub struct {
	Name string
	Kube kubernetes.Interface
	Dyn  dynamic.Interface
}

// NewHub builds admin clients for a hub.
func NewHub(t *testing.T, name string, cfg *rest.Config) Hub {
	kube, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	return Hub{Name: name, Kube: kube, Dyn: dyn}
}

// Cluster is what a cluster looked like on the source before the migration,
// on SPEC's compared fields.
type Cluster struct {
	Spec                  map[string]any
	Labels, Annotations   map[string]string
	KlusterletAddonConfig map[string]any
	Addons                map[string]map[string]any
	Secrets               map[string]corev1.Secret
	ConfigMaps            map[string]corev1.ConfigMap
}

// Snapshot is taken before a migration starts.
type Snapshot struct {
	Clusters              map[string]Cluster
	ClusterManagerVersion map[string]string
}

// Take records the clusters on the source and every hub's ClusterManager.
func Take(t *testing.T, source Hub, hubs []Hub, clusters []string) Snapshot {
	t.Helper()
	ctx := context.Background()
	s := Snapshot{Clusters: map[string]Cluster{}, ClusterManagerVersion: map[string]string{}}
	for _, h := range hubs {
		cm, err := h.Dyn.Resource(clusterManagerGVR).Get(ctx, "cluster-manager", metav1.GetOptions{})
		require.NoError(t, err)
		s.ClusterManagerVersion[h.Name] = cm.GetResourceVersion()
	}
	for _, c := range clusters {
		s.Clusters[c] = read(t, source, c)
	}
	return s
}

func read(t *testing.T, h Hub, c string) Cluster {
	ctx := context.Background()
	mc, err := h.Dyn.Resource(reconcile.ManagedClusterGVR).Get(ctx, c, metav1.GetOptions{})
	require.NoError(t, err)
	cl := Cluster{Labels: compared(mc.GetLabels(), true), Annotations: compared(mc.GetAnnotations(), false), Addons: map[string]map[string]any{},
		Secrets: map[string]corev1.Secret{}, ConfigMaps: map[string]corev1.ConfigMap{}}
	cl.Spec, _, _ = unstructured.NestedMap(mc.Object, "spec")
	for _, k := range []string{"hubAcceptsClient", "managedClusterClientConfigs", "taints"} {
		delete(cl.Spec, k)
	}
	if kac, err := h.Dyn.Resource(reconcile.KlusterletAddonConfigGVR).Namespace(c).Get(ctx, c, metav1.GetOptions{}); err == nil {
		cl.KlusterletAddonConfig, _, _ = unstructured.NestedMap(kac.Object, "spec")
	}
	addons, err := h.Dyn.Resource(reconcile.ManagedClusterAddOnGVR).Namespace(c).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, a := range addons.Items {
		cl.Addons[a.GetName()], _, _ = unstructured.NestedMap(a.Object, "spec")
	}
	preserved := metav1.ListOptions{LabelSelector: reconcile.LabelPreserve}
	secrets, err := h.Kube.CoreV1().Secrets(c).List(ctx, preserved)
	require.NoError(t, err)
	for _, s := range secrets.Items {
		cl.Secrets[s.Name] = corev1.Secret{Type: s.Type, Data: s.Data, ObjectMeta: metav1.ObjectMeta{Labels: compared(s.Labels, true)}}
	}
	cms, err := h.Kube.CoreV1().ConfigMaps(c).List(ctx, preserved)
	require.NoError(t, err)
	for _, cm := range cms.Items {
		cl.ConfigMaps[cm.Name] = corev1.ConfigMap{Data: cm.Data, BinaryData: cm.BinaryData, ObjectMeta: metav1.ObjectMeta{Labels: compared(cm.Labels, true)}}
	}
	return cl
}

// compared drops what a hub, klusterlet, import controller or the migration sets.
func compared(m map[string]string, _ bool) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, reconcile.Prefix), k == reconcile.LabelPhase, k == reconcile.AnnGlobalHubMigrating,
			strings.HasPrefix(k, "feature.open-cluster-management.io/"), k == "open-cluster-management.io/automatically-accepted-on",
			k == reconcile.AnnDisableAutoImport, k == reconcile.AnnKlusterletConfig:
			continue
		}
		out[k] = v
	}
	return out
}

// CheckCompleted: each copy on the target equals the source's snapshot on the
// compared fields, and the source no longer holds the cluster.
func CheckCompleted(t *testing.T, snap Snapshot, source, target Hub, clusters []string) {
	t.Helper()
	ctx := context.Background()
	for _, c := range clusters {
		_, err := source.Dyn.Resource(reconcile.ManagedClusterGVR).Get(ctx, c, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "%s: still on the source (%v)", c, err)
		got := read(t, target, c)
		want := snap.Clusters[c]
		assert.True(t, equalJSON(want.Spec, got.Spec), "%s: ManagedCluster spec differs:\n%v\n%v", c, want.Spec, got.Spec)
		assert.Equal(t, want.Labels, got.Labels, "%s: labels", c)
		assert.Equal(t, want.Annotations, got.Annotations, "%s: annotations", c)
		assert.True(t, equalJSON(want.KlusterletAddonConfig, got.KlusterletAddonConfig), "%s: KlusterletAddonConfig spec", c)
		assert.True(t, equalJSON(want.Addons, got.Addons), "%s: addons %v vs %v", c, want.Addons, got.Addons)
		assert.Equal(t, want.Secrets, got.Secrets, "%s: preserved Secrets", c)
		assert.Equal(t, want.ConfigMaps, got.ConfigMaps, "%s: preserved ConfigMaps", c)
	}
}

func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var x, y any
	_ = json.Unmarshal(ja, &x)
	_ = json.Unmarshal(jb, &y)
	return reflect.DeepEqual(x, y)
}

// CheckTerminal: a terminal migration leaves no scaffolding, no pending CSR of
// its credential and no in-flight annotation on any hub, and ClusterManager
// never changed.
func CheckTerminal(t *testing.T, snap Snapshot, hubs []Hub, migrationUID string, clusters []string) {
	t.Helper()
	ctx := context.Background()
	selector := metav1.ListOptions{LabelSelector: reconcile.LabelMigrationUID + "=" + migrationUID}
	user := "system:serviceaccount:open-cluster-management:" + reconcile.ServiceAccountName(typesUID(migrationUID))
	for _, h := range hubs {
		secrets, err := h.Kube.CoreV1().Secrets("").List(ctx, selector)
		require.NoError(t, err)
		assert.Empty(t, names(secrets.Items), "%s: Secrets of the migration left", h.Name)
		sas, err := h.Kube.CoreV1().ServiceAccounts("").List(ctx, selector)
		require.NoError(t, err)
		assert.Empty(t, sas.Items, "%s: ServiceAccounts left", h.Name)
		crbs, err := h.Kube.RbacV1().ClusterRoleBindings().List(ctx, selector)
		require.NoError(t, err)
		assert.Empty(t, crbs.Items, "%s: ClusterRoleBindings left", h.Name)
		roles, err := h.Kube.RbacV1().ClusterRoles().List(ctx, selector)
		require.NoError(t, err)
		assert.Empty(t, roles.Items, "%s: ClusterRoles left", h.Name)
		nss, err := h.Kube.CoreV1().Namespaces().List(ctx, selector)
		require.NoError(t, err)
		assert.Empty(t, nss.Items, "%s: namespaces still the migration's", h.Name)
		kcs, err := h.Dyn.Resource(reconcile.KlusterletConfigGVR).List(ctx, selector)
		require.NoError(t, err)
		assert.Empty(t, kcs.Items, "%s: KlusterletConfigs left", h.Name)
		csrs, err := h.Kube.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		for _, csr := range csrs.Items {
			if csr.Spec.Username == user {
				assert.NotEmpty(t, csr.Status.Conditions, "%s: CSR %s of the migration's credential still pending", h.Name, csr.Name)
			}
		}
		for _, c := range clusters {
			mc, err := h.Dyn.Resource(reconcile.ManagedClusterGVR).Get(ctx, c, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				continue
			}
			require.NoError(t, err)
			for k := range mc.GetAnnotations() {
				// A finished cluster keeps its owner and reason under the seal.
				if strings.HasPrefix(k, reconcile.Prefix) && k != reconcile.AnnOwner && k != reconcile.AnnReason && k != reconcile.AnnSeal {
					t.Errorf("%s: in-flight annotation %s left on %s", h.Name, k, c)
				}
			}
			assert.NotContains(t, mc.GetAnnotations(), reconcile.AnnGlobalHubMigrating, "%s: %s", h.Name, c)
			assert.NotContains(t, mc.GetLabels(), reconcile.LabelMigrationUID, "%s: %s", h.Name, c)
		}
		cm, err := h.Dyn.Resource(clusterManagerGVR).Get(ctx, "cluster-manager", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Equal(t, snap.ClusterManagerVersion[h.Name], cm.GetResourceVersion(), "%s: ClusterManager changed", h.Name)
	}
	// No cluster is lost.
	for _, c := range clusters {
		found := false
		for _, h := range hubs {
			if _, err := h.Dyn.Resource(reconcile.ManagedClusterGVR).Get(ctx, c, metav1.GetOptions{}); err == nil {
				found = true
			}
		}
		assert.True(t, found, "%s is on no hub", c)
	}
}

func names(secrets []corev1.Secret) []string {
	var out []string
	for _, s := range secrets {
		out = append(out, s.Namespace+"/"+s.Name)
	}
	return out
}

// CheckRolledBack: after a rollback the source objects equal their
// pre-migration snapshot on the compared fields (the Failed record aside), the
// cluster is accepted on the source, and no copy of it is on the target.
func CheckRolledBack(t *testing.T, snap Snapshot, source, target Hub, clusters []string) {
	t.Helper()
	ctx := context.Background()
	for _, c := range clusters {
		got := read(t, source, c)
		want := snap.Clusters[c]
		assert.True(t, equalJSON(want.Spec, got.Spec), "%s: source spec differs:\n%v\n%v", c, want.Spec, got.Spec)
		assert.Equal(t, want.Labels, got.Labels, "%s: source labels", c)
		assert.Equal(t, want.Annotations, got.Annotations, "%s: source annotations", c)
		assert.True(t, equalJSON(want.KlusterletAddonConfig, got.KlusterletAddonConfig), "%s: KlusterletAddonConfig", c)
		assert.True(t, equalJSON(want.Addons, got.Addons), "%s: addons", c)
		assert.Equal(t, want.Secrets, got.Secrets, "%s: preserved Secrets", c)
		assert.Equal(t, want.ConfigMaps, got.ConfigMaps, "%s: preserved ConfigMaps", c)
		mc, err := source.Dyn.Resource(reconcile.ManagedClusterGVR).Get(ctx, c, metav1.GetOptions{})
		require.NoError(t, err)
		accepted, _, _ := unstructured.NestedBool(mc.Object, "spec", "hubAcceptsClient")
		assert.True(t, accepted, "%s: accepted on the source again", c)
		_, err = target.Dyn.Resource(reconcile.ManagedClusterGVR).Get(ctx, c, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err), "%s: a copy is left on the target (%v)", c, err)
		kac, err := target.Dyn.Resource(reconcile.KlusterletAddonConfigGVR).Namespace(c).Get(ctx, c, metav1.GetOptions{})
		assert.True(t, apierrors.IsNotFound(err) || kac.GetDeletionTimestamp() != nil, "%s: KlusterletAddonConfig copy left", c)
		secrets, err := target.Kube.CoreV1().Secrets(c).List(ctx, metav1.ListOptions{LabelSelector: reconcile.LabelPreserve})
		if err == nil {
			for _, s := range secrets.Items {
				assert.NotNil(t, s.DeletionTimestamp, "%s: preserved Secret copy %s left", c, s.Name)
			}
		}
	}
}
