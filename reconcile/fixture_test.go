package reconcile

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The fixture builds the facts a reconcile observes, step by step along the
// forward path, so each table row states only what differs.

var (
	testNow   = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	testOwner = Owner{Namespace: "ops", Name: "move", UID: "1234abcd-0000-0000-0000-000000000000"}
	scaffold  = ScaffoldingName("c1", testOwner.UID) // hubmigrate-c1-1234abcd
)

type world struct{ f Facts }

func newWorld() *world {
	return &world{f: Facts{
		Now: testNow, HomeID: "home-uid",
		BootstrapNamespace: "open-cluster-management", BootstrapSecretNamespace: "multicluster-engine",
		Migration: MigrationFacts{Owner: testOwner, From: "hub1", To: "hub2", Listed: []string{"c1"},
			Annotations: map[string]string{AnnStartedAt: "2026-11-29T11:58:00Z"}, Object: migrationObject()},
		Source: HubFacts{Reachable: true, ServesKlusterletConfig: true, BootstrapClusterRole: true},
		Target: HubFacts{Reachable: true, ServesKlusterletConfig: true, BootstrapClusterRole: true, RegistrationAddress: "https://hub2:6443"},
		Clusters: []ClusterFacts{{Name: "c1", Source: SourceFacts{
			MC:             mc("c1", true, nil, nil, "Available", "Joined", "HubAccepted"),
			KlusterletWork: work("c1", 3, 3, "10"),
		}}},
	}}
}

func (w *world) c() *ClusterFacts { return &w.f.Clusters[0] }

func mc(name string, accepted bool, labels, anns map[string]string, conds ...string) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
		"metadata": map[string]any{"name": name, "uid": "uid-" + name, "resourceVersion": "100"},
		"spec":     map[string]any{"hubAcceptsClient": accepted, "leaseDurationSeconds": int64(60)},
	}}
	obj.SetLabels(labels)
	obj.SetAnnotations(anns)
	var cs []any
	for _, c := range conds {
		t := map[string]string{"Available": "ManagedClusterConditionAvailable", "Joined": "ManagedClusterJoined", "HubAccepted": "HubAcceptedManagedCluster"}[c]
		cs = append(cs, map[string]any{"type": t, "status": "True"})
	}
	obj.Object["status"] = map[string]any{"conditions": cs}
	return obj
}

func work(cluster string, generation, applied int64, rv string) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
		"metadata": map[string]any{"name": cluster + "-klusterlet", "namespace": cluster, "generation": generation, "resourceVersion": rv},
	}}
	if applied > 0 {
		obj.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": "Applied", "status": "True", "observedGeneration": applied}}}
	}
	return obj
}

func ourMarkers(phase Phase, extra map[string]string) (map[string]string, map[string]string) {
	labels := map[string]string{LabelPhase: string(phase)}
	anns := map[string]string{AnnOwner: testOwner.String(), AnnPhaseSince: "2026-11-29T11:59:00Z"}
	for k, v := range extra {
		anns[k] = v
	}
	return labels, anns
}

// claimed: the source cluster carries our claim in phase.
func (w *world) claimed(phase Phase, extra map[string]string) *world {
	labels, anns := ourMarkers(phase, extra)
	w.c().Source.MC.SetLabels(labels)
	w.c().Source.MC.SetAnnotations(anns)
	return w
}

func (w *world) scaffolding() *world {
	w.f.ServiceAccount = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ServiceAccountName(testOwner.UID), Namespace: "open-cluster-management", UID: "sa-uid"}}
	w.f.Binding = &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ServiceAccountName(testOwner.UID)}}
	w.c().Target.Anchor = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: scaffold, Namespace: "open-cluster-management", UID: "anchor-uid"}}
	w.c().Source.BootstrapSecret = bootstrapSecret("jti-c1")
	w.c().Source.KlusterletConfig = &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "config.open-cluster-management.io/v1alpha1", "kind": "KlusterletConfig",
		"metadata": map[string]any{"name": scaffold, "uid": "kc-uid"},
	}}
	return w
}

func bootstrapSecret(jti string) *corev1.Secret {
	payload := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"jti":%q,"exp":%d}`, jti, testNow.Add(time.Hour).Unix())))
	kc := clientcmdapi.NewConfig()
	kc.Clusters["hub"] = &clientcmdapi.Cluster{Server: "https://hub2:6443"}
	kc.AuthInfos["bootstrap"] = &clientcmdapi.AuthInfo{Token: "e30." + payload + ".sig"}
	kc.Contexts["bootstrap"] = &clientcmdapi.Context{Cluster: "hub", AuthInfo: "bootstrap"}
	kc.CurrentContext = "bootstrap"
	data, _ := clientcmd.Write(*kc)
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: scaffold, Namespace: "multicluster-engine", UID: "boot-uid"}, Data: map[string][]byte{"kubeconfig": data}}
}

// configured: the cluster uses our KlusterletConfig, recorded at generation 3,
// and the work was applied at 4 (Initializing's gate passed).
func (w *world) configured(phase Phase, extra map[string]string) *world {
	anns := map[string]string{AnnKlusterletConfig: scaffold, AnnKlusterletWorkGeneration: "3", AnnOriginalKlusterletConfig: ""}
	for k, v := range extra {
		anns[k] = v
	}
	w.scaffolding().claimed(phase, anns)
	w.c().Source.KlusterletWork = work("c1", 4, 4, "11")
	return w
}

// copied: the namespace and the ManagedCluster copy are on the target.
func (w *world) copied(phase Phase) *world {
	w.c().Target.Namespace = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "c1", UID: "ns-uid",
		Labels: map[string]string{LabelHome: "home-uid", LabelMigrationUID: string(testOwner.UID)}, Annotations: map[string]string{AnnOwner: testOwner.String()}}}
	w.c().Target.MC = mc("c1", true, map[string]string{LabelPhase: string(phase), LabelHome: "home-uid", LabelMigrationUID: string(testOwner.UID)},
		map[string]string{AnnOwner: testOwner.String(), AnnGlobalHubMigrating: ""}, "HubAccepted")
	return w
}

// registering: the Registering write is on the source.
func (w *world) registering(extra map[string]string) *world {
	anns := map[string]string{AnnOriginalHubAcceptsClient: "true"}
	for k, v := range extra {
		anns[k] = v
	}
	w.configured(Registering, anns).copied(Registering)
	_ = unstructured.SetNestedField(w.c().Source.MC.Object, false, "spec", "hubAcceptsClient")
	return w
}

func (w *world) csr(t *testing.T, name string, mutate func(*certificatesv1.CertificateSigningRequest)) *world {
	csr := agentCSR(t, nil)
	csr.Name, csr.UID = name, types.UID("uid-"+name)
	csr.Spec.Username = "system:serviceaccount:open-cluster-management:" + ServiceAccountName(testOwner.UID)
	csr.Spec.UID = "sa-uid"
	if mutate != nil {
		mutate(csr)
	}
	w.c().Target.CSRs = append(w.c().Target.CSRs, csr)
	return w
}

// registeredOnTarget: joined, available, lease renewed and work replaced since the commit.
func (w *world) registeredOnTarget() *world {
	w.c().Target.MC = mc("c1", true, w.c().Target.MC.GetLabels(), w.c().Target.MC.GetAnnotations(), "HubAccepted", "Joined", "Available")
	w.c().Target.Lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "managed-cluster-lease", Namespace: "c1", ResourceVersion: "501"}}
	w.c().Target.KlusterletWork = work("c1", 1, 1, "601")
	return w
}

func migrationObject() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "global-hub.open-cluster-management.io/v1alpha1", "kind": "ManagedClusterMigration",
		"metadata": map[string]any{"name": "move", "namespace": "ops", "uid": string(testOwner.UID), "resourceVersion": "42",
			"annotations": map[string]any{AnnStartedAt: "2026-11-29T11:58:00Z"}},
	}}
}
