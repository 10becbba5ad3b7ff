package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/hubmigrate/hubmigrate/informers"
)

// The executor's live re-reads (SPEC rule 5), each against what the cache
// does not show yet. Fakes stand for the API servers here; the same steps
// run on real ones in reconcile/e2e.

func fakeHub(name string, kubeObjs []runtime.Object, dynObjs ...runtime.Object) *informers.Hub {
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	lists := map[schema.GroupVersionResource]string{
		ManagedClusterGVR: "ManagedClusterList", ManifestWorkGVR: "ManifestWorkList", SecretGVR: "SecretList",
		ServiceAccountGVR: "ServiceAccountList", ClusterRoleBindingGVR: "ClusterRoleBindingList", ClusterRoleGVR: "ClusterRoleList",
		KlusterletConfigGVR: "KlusterletConfigList", NamespaceGVR: "NamespaceList", MigrationGVR: "ManagedClusterMigrationList",
	}
	return &informers.Hub{Name: name, Kube: kubefake.NewClientset(kubeObjs...),
		Dynamic: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, lists, dynObjs...)}
}

func liveSA() *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ServiceAccountName(testOwner.UID), Namespace: "open-cluster-management", UID: "sa-uid"}}
}

// A CSR that passes every check reached the target's API server, but not the
// cache, when the Registering deadline passed: the rollback decision must not
// be written (commit takes precedence).
func TestDecideRollbackSeesALiveCSR(t *testing.T) {
	w := newWorld().registering(nil)
	passing := agentCSR(t, nil)
	passing.Spec.Username = "system:serviceaccount:open-cluster-management:" + ServiceAccountName(testOwner.UID)
	passing.Spec.UID = "sa-uid"
	src := w.c().Source.MC.DeepCopy()
	source := fakeHub("hub1", nil, src)
	target := fakeHub("hub2", []runtime.Object{passing, liveSA()})
	w.f.Now = testNow.Add(20 * 60e9)
	p := PlanMigration(&w.f)
	require.Equal(t, []string{"DecideRollback source managedclusters c1"}, describe(p.Actions), "the cache shows no CSR")

	ex := &executor{source: source, target: target, facts: &w.f, seals: testSealer(t, 1)}
	err := ex.execute(context.Background(), p.Actions[0])
	assert.True(t, IsReplan(err), "re-plan, not roll back: %v", err)
	live, err := source.Dynamic.Resource(ManagedClusterGVR).Get(context.Background(), "c1", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "Registering", live.GetLabels()[LabelPhase], "no rollback decision written")

	// Without it, the decision is written.
	target = fakeHub("hub2", []runtime.Object{liveSA()})
	ex = &executor{source: source, target: target, facts: &w.f, seals: testSealer(t, 1)}
	require.NoError(t, ex.execute(context.Background(), p.Actions[0]))
	live, err = source.Dynamic.Resource(ManagedClusterGVR).Get(context.Background(), "c1", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "Rollbacking", live.GetLabels()[LabelPhase])
}

// The commit compares the CSR's ServiceAccount UID with the live one: a
// ServiceAccount deleted and re-created under the same name is another
// identity, whatever the cache says.
func TestCommitReadsTheServiceAccountLive(t *testing.T) {
	w := newWorld().registering(nil).csr(t, "c1-aaa", nil)
	p := PlanMigration(&w.f)
	require.Equal(t, []string{"Commit source certificatesigningrequests c1-aaa"}, describe(p.Actions))
	csr := w.c().Target.CSRs[0].DeepCopy()
	replaced := liveSA()
	replaced.UID = "new-sa-uid"
	source := fakeHub("hub1", nil, w.c().Source.MC.DeepCopy())
	ex := &executor{source: source, target: fakeHub("hub2", []runtime.Object{csr, replaced}), facts: &w.f, seals: testSealer(t, 1)}
	err := ex.execute(context.Background(), p.Actions[0])
	assert.True(t, IsReplan(err), "%v", err)
	live, _ := source.Dynamic.Resource(ManagedClusterGVR).Get(context.Background(), "c1", metav1.GetOptions{})
	assert.NotContains(t, live.GetAnnotations(), AnnCommitted)

	ex = &executor{source: source, target: fakeHub("hub2", []runtime.Object{csr, liveSA()}), facts: &w.f, seals: testSealer(t, 1)}
	require.NoError(t, ex.execute(context.Background(), p.Actions[0]))
	live, _ = source.Dynamic.Resource(ManagedClusterGVR).Get(context.Background(), "c1", metav1.GetOptions{})
	assert.Equal(t, "c1-aaa/uid-c1-aaa", live.GetAnnotations()[AnnCommitted])
}

// A CSR approved by someone else before the commit (model gap 2) is
// committed: its agent holds a certificate of the target. Live, the commit
// goes through for it, not for one denied since the cache saw it; and the
// rollback decision yields to an approved one the cache has not seen.
func TestCommitOfACSRApprovedBySomeoneElse(t *testing.T) {
	w := newWorld().registering(nil).csr(t, "c1-aaa", approved)
	p := PlanMigration(&w.f)
	require.Equal(t, []string{"Commit source certificatesigningrequests c1-aaa"}, describe(p.Actions))
	deniedSince := w.c().Target.CSRs[0].DeepCopy()
	denied(deniedSince)
	source := fakeHub("hub1", nil, w.c().Source.MC.DeepCopy())
	ex := &executor{source: source, target: fakeHub("hub2", []runtime.Object{deniedSince, liveSA()}), facts: &w.f, seals: testSealer(t, 1)}
	err := ex.execute(context.Background(), p.Actions[0])
	assert.True(t, IsReplan(err), "a CSR denied since is not committed: %v", err)

	// The target's import controller already re-rendered the klusterlet
	// work for the joined agent: it is no baseline (it never changes again).
	ex = &executor{source: source, target: fakeHub("hub2", []runtime.Object{w.c().Target.CSRs[0].DeepCopy(), liveSA()}, work("c1", 1, 1, "601")), facts: &w.f, seals: testSealer(t, 1)}
	require.NoError(t, ex.execute(context.Background(), p.Actions[0]))
	live, _ := source.Dynamic.Resource(ManagedClusterGVR).Get(context.Background(), "c1", metav1.GetOptions{})
	assert.Equal(t, "c1-aaa/uid-c1-aaa", live.GetAnnotations()[AnnCommitted])
	assert.Equal(t, "absent", live.GetAnnotations()[AnnCommitWorkRV])

	// The deadline passed with nothing in the cache; live, the approved CSR is there.
	w = newWorld().registering(nil)
	w.f.Now = testNow.Add(20 * time.Minute)
	p = PlanMigration(&w.f)
	require.Equal(t, []string{"DecideRollback source managedclusters c1"}, describe(p.Actions))
	approvedCSR := agentCSR(t, nil)
	approvedCSR.Spec.Username = "system:serviceaccount:open-cluster-management:" + ServiceAccountName(testOwner.UID)
	approvedCSR.Spec.UID = "sa-uid"
	approved(approvedCSR)
	source = fakeHub("hub1", nil, w.c().Source.MC.DeepCopy())
	ex = &executor{source: source, target: fakeHub("hub2", []runtime.Object{approvedCSR, liveSA()}), facts: &w.f, seals: testSealer(t, 1)}
	err = ex.execute(context.Background(), p.Actions[0])
	assert.True(t, IsReplan(err), "commit takes precedence: %v", err)
	live, _ = source.Dynamic.Resource(ManagedClusterGVR).Get(context.Background(), "c1", metav1.GetOptions{})
	assert.Equal(t, "Registering", live.GetLabels()[LabelPhase], "no rollback decision written")
}

// Revoking the token is not undone: the anchor goes only once live reads
// show the token is not needed — never while the source ManagedCluster
// (which the cache may have lost) still holds the cluster.
func TestRevokeTokenReadsTheHubsLive(t *testing.T) {
	w := cleaning(t, sourceGone)
	p := PlanMigration(&w.f)
	require.Equal(t, []string{"RevokeToken target secrets " + scaffold}, describe(p.Actions))
	anchor := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": scaffold, "namespace": "open-cluster-management", "uid": "anchor-uid"}}}
	stillThere := newWorld().registering(nil).c().Source.MC
	tgt := w.c().Target.MC.DeepCopy()
	testSealer(t, 1).Seal("managedclusters", tgt)

	target := fakeHub("hub2", nil, anchor.DeepCopy(), tgt)
	ex := &executor{source: fakeHub("hub1", nil, stillThere), target: target, facts: &w.f, seals: testSealer(t, 1)}
	assert.True(t, IsReplan(ex.execute(context.Background(), p.Actions[0])))
	_, err := target.Dynamic.Resource(SecretGVR).Namespace("open-cluster-management").Get(context.Background(), scaffold, metav1.GetOptions{})
	assert.NoError(t, err, "the anchor is kept while the source holds the cluster")

	ex = &executor{source: fakeHub("hub1", nil), target: target, facts: &w.f, seals: testSealer(t, 1)}
	require.NoError(t, ex.execute(context.Background(), p.Actions[0]))
	_, err = target.Dynamic.Resource(SecretGVR).Namespace("open-cluster-management").Get(context.Background(), scaffold, metav1.GetOptions{})
	assert.Error(t, err, "revoked once the source is gone and the target speaks")
}

// A create that meets an object the caches hold (an addon the target's addon
// controller made from the KlusterletAddonConfig copy a moment ago) re-plans:
// the next plan adopts it. Only Secrets and ConfigMaps, which the caches hold
// only when labelled, are reported as a collision.
func TestCreateMeetsAnObjectNotOurs(t *testing.T) {
	w := newWorld().configured(Deploying, nil).copied(Deploying)
	addon := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "addon.open-cluster-management.io/v1alpha1", "kind": "ManagedClusterAddOn",
		"metadata": map[string]any{"name": "search-collector", "namespace": "c1"}}}
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "site-config", "namespace": "c1"}}}
	scheme := runtime.NewScheme()
	target := &informers.Hub{Name: "hub2", Dynamic: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme,
		map[schema.GroupVersionResource]string{ManagedClusterAddOnGVR: "ManagedClusterAddOnList", ConfigMapGVR: "ConfigMapList"}, addon.DeepCopy(), cm.DeepCopy())}
	ex := &executor{target: target, facts: &w.f, seals: testSealer(t, 1)}
	err := ex.execute(context.Background(), Action{Kind: Create, Hub: Target, Cluster: "c1", Ref: Ref{GVR: ManagedClusterAddOnGVR, Namespace: "c1", Name: "search-collector"}, Object: addon})
	assert.True(t, IsReplan(err), "an addon the caches will show: re-plan (%v)", err)
	err = ex.execute(context.Background(), Action{Kind: Create, Hub: Target, Cluster: "c1", Ref: Ref{GVR: ConfigMapGVR, Namespace: "c1", Name: "site-config"}, Object: cm})
	var collision *errCollision
	assert.ErrorAs(t, err, &collision, "a ConfigMap the caches cannot show: a collision")
}

// The token is minted once: a bootstrap Secret the cache has not shown yet
// (written by the previous MintToken) is read live, and no second token is
// requested (found by the crash sweep).
func TestMintTokenReadsTheBootstrapSecretLive(t *testing.T) {
	w := newWorld().scaffolding().claimed(Initializing, nil)
	w.c().Source.BootstrapSecret, w.c().Source.KlusterletConfig = nil, nil // not in the cache yet
	p := PlanMigration(&w.f)
	require.Equal(t, "MintToken", string(p.Actions[0].Kind), "%v", describe(p.Actions))
	written := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: scaffold, Namespace: "multicluster-engine",
		Labels: map[string]string{LabelMigrationUID: string(testOwner.UID)}}}
	testSealer(t, 1).Seal("secrets", written)
	source := fakeHub("hub1", []runtime.Object{written})
	target := fakeHub("hub2", []runtime.Object{liveSA()})
	ex := &executor{source: source, target: target, facts: &w.f, seals: testSealer(t, 1)}
	require.NoError(t, ex.execute(context.Background(), p.Actions[0]))
	for _, action := range target.Kube.(*kubefake.Clientset).Actions() {
		assert.NotEqual(t, "token", action.GetSubresource(), "no second token is minted")
	}
}

// A bootstrap token lives through three stages and a margin, and never
// longer than three of the longest stages (SPEC "Trust boundaries", limits).
func TestTokenLifetimeIsBounded(t *testing.T) {
	for _, tc := range []struct {
		stage, want time.Duration
	}{
		{0, 32 * time.Minute},
		{time.Second, 10*time.Minute + 3*time.Second},
		{10 * time.Minute, 40 * time.Minute},
		{MaxStageTimeout, 6*time.Hour + 10*time.Minute},
		{30 * 24 * time.Hour, 6*time.Hour + 10*time.Minute},
	} {
		e := &executor{facts: &Facts{Migration: MigrationFacts{StageTimeout: tc.stage}}}
		assert.Equal(t, tc.want, e.tokenLifetime(), "stage %s", tc.stage)
	}
}
