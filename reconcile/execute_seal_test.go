package reconcile

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// The executor's live reads before an irreversible step believe markers only
// under a seal that verifies (SPEC "Trust boundaries" rule 1): the cache may
// have shown sealed markers a moment ago, and someone may have changed them
// since. Every write with markers is sealed.

func sealedCopy(t *testing.T, resource string, obj *unstructured.Unstructured) *unstructured.Unstructured {
	out := obj.DeepCopy()
	testSealer(t, 1).Seal(resource, out)
	return out
}

func TestApproveNeedsASealedCommit(t *testing.T) {
	w := newWorld().registering(map[string]string{AnnCommitted: "c1-aaa/uid-c1-aaa", AnnCommitLeaseRV: "500", AnnCommitWorkRV: "absent"}).csr(t, "c1-aaa", nil)
	p := PlanMigration(&w.f)
	require.Equal(t, []string{"Approve target certificatesigningrequests c1-aaa"}, describe(p.Actions))
	csr := w.c().Target.CSRs[0].DeepCopy()

	forged := w.c().Source.MC.DeepCopy() // a commit nobody sealed
	ex := &executor{source: fakeHub("hub1", nil, forged), target: fakeHub("hub2", []runtime.Object{csr.DeepCopy(), liveSA()}), facts: &w.f, seals: testSealer(t, 1)}
	assert.True(t, IsReplan(ex.execute(context.Background(), p.Actions[0])), "an unsealed commit approves nothing")
	live, err := ex.target.Kube.CertificatesV1().CertificateSigningRequests().Get(context.Background(), "c1-aaa", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, live.Status.Conditions)

	ex.source = fakeHub("hub1", nil, sealedCopy(t, "managedclusters", w.c().Source.MC))
	require.NoError(t, ex.execute(context.Background(), p.Actions[0]))
	live, err = ex.target.Kube.CertificatesV1().CertificateSigningRequests().Get(context.Background(), "c1-aaa", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotEmpty(t, live.Status.Conditions, "a sealed commit approves")
}

func TestDeleteSourceClusterNeedsASealedTarget(t *testing.T) {
	w := cleaning(t)
	a := Action{Kind: DeleteSourceCluster, Hub: Source, Cluster: "c1", Ref: RefOf(ManagedClusterGVR, w.c().Source.MC)}
	tgt := w.c().Target.MC.DeepCopy()
	tgt.SetUID("uid-c1-target")
	src := w.c().Source.MC.DeepCopy()

	ex := &executor{source: fakeHub("hub1", nil, sealedCopy(t, "managedclusters", src)), target: fakeHub("hub2", nil, tgt.DeepCopy()), facts: &w.f, seals: testSealer(t, 1)}
	assert.True(t, IsReplan(ex.execute(context.Background(), a)), "an unsealed target copy does not speak for the cluster")
	_, err := ex.source.Dynamic.Resource(ManagedClusterGVR).Get(context.Background(), "c1", metav1.GetOptions{})
	assert.NoError(t, err, "the source stays")

	ex.target = fakeHub("hub2", nil, sealedCopy(t, "managedclusters", tgt))
	ex.source = fakeHub("hub1", nil, src.DeepCopy())
	assert.True(t, IsReplan(ex.execute(context.Background(), a)), "an unsealed source is not deleted on its word either")

	ex.source = fakeHub("hub1", nil, sealedCopy(t, "managedclusters", src))
	require.NoError(t, ex.execute(context.Background(), a))
	_, err = ex.source.Dynamic.Resource(ManagedClusterGVR).Get(context.Background(), "c1", metav1.GetOptions{})
	assert.Error(t, err, "deleted once both are sealed")
}

func TestRevokeTokenNeedsASealedSpeaker(t *testing.T) {
	w := cleaning(t, sourceGone)
	a := Action{Kind: RevokeToken, Hub: Target, Cluster: "c1", Ref: Ref{GVR: SecretGVR, Namespace: "open-cluster-management", Name: scaffold, UID: "anchor-uid"}}
	anchor := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": scaffold, "namespace": "open-cluster-management", "uid": "anchor-uid"}}}
	target := fakeHub("hub2", nil, anchor, w.c().Target.MC.DeepCopy())
	ex := &executor{source: fakeHub("hub1", nil), target: target, facts: &w.f, seals: testSealer(t, 1)}
	assert.True(t, IsReplan(ex.execute(context.Background(), a)), "a forged commit on the target keeps the token")
	_, err := target.Dynamic.Resource(SecretGVR).Namespace("open-cluster-management").Get(context.Background(), scaffold, metav1.GetOptions{})
	assert.NoError(t, err)
}

func TestReleaseFinalizerIgnoresForgedClaims(t *testing.T) {
	w := newWorld()
	w.f.Migration.Deleting = true
	forged := mc("c1", true, map[string]string{LabelMigrationUID: string(testOwner.UID)}, map[string]string{AnnOwner: testOwner.String()})
	forgedSecret := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Name: "lookalike", Namespace: "open-cluster-management", UID: "s-uid",
		Labels: map[string]string{LabelMigrationUID: string(testOwner.UID)}}}
	migration := migrationObject()
	migration.SetFinalizers([]string{Finalizer})
	home := fakeHub("home", nil, migration.DeepCopy())
	release := Action{Kind: ReleaseFinalizer, Hub: Home, Object: migration}

	ex := &executor{source: fakeHub("hub1", nil), target: fakeHub("hub2", nil, forged.DeepCopy(), forgedSecret.DeepCopy()), home: home.Dynamic, facts: &w.f, seals: testSealer(t, 1)}
	require.NoError(t, ex.execute(context.Background(), release), "what only claims to be the migration's holds nothing up")

	ex.target = fakeHub("hub2", nil, sealedCopy(t, "managedclusters", forged))
	assert.True(t, IsReplan(ex.execute(context.Background(), release)), "a sealed ManagedCluster naming the migration holds it")
	sealedSecret := forgedSecret.DeepCopy()
	testSealer(t, 1).Seal("secrets", sealedSecret)
	ex.target = fakeHub("hub2", nil, sealedSecret)
	assert.True(t, IsReplan(ex.execute(context.Background(), release)), "sealed scaffolding holds it")
}

func TestCreateMeetsAnUnsealedLookalike(t *testing.T) {
	w := newWorld().scaffolding().claimed(Initializing, nil)
	lookalike := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: scaffold, Namespace: "open-cluster-management",
		Labels: map[string]string{LabelMigrationUID: string(testOwner.UID)}, Annotations: map[string]string{AnnOwner: testOwner.String()}}}
	obj := toUnstructured(lookalike, "v1", "Secret")
	a := Action{Kind: Create, Hub: Target, Cluster: "c1", Ref: Ref{GVR: SecretGVR, Namespace: lookalike.Namespace, Name: scaffold}, Object: obj}
	ex := &executor{target: fakeHub("hub2", nil, obj.DeepCopy()), facts: &w.f, seals: testSealer(t, 1)}
	var collision *errCollision
	assert.ErrorAs(t, ex.execute(context.Background(), a), &collision, "a Secret with our markers but no seal is someone else's")

	ex.target = fakeHub("hub2", nil, sealedCopy(t, "secrets", obj))
	assert.NoError(t, ex.execute(context.Background(), a), "our own create, its reply lost: done")
}

func TestWritesAreSealed(t *testing.T) {
	w := newWorld().configured(Deploying, nil).copied(Deploying)
	s := testSealer(t, 1)
	source := fakeHub("hub1", nil, w.c().Source.MC.DeepCopy())
	target := fakeHub("hub2", nil)
	ex := &executor{source: source, target: target, facts: &w.f, seals: s}
	update, _ := withMarkers(w.c().Source.MC, map[string]string{LabelPhase: string(Registering)}, map[string]string{AnnPhaseSince: "now"}, nil, nil)
	require.NoError(t, ex.execute(context.Background(), Action{Kind: Update, Hub: Source, Cluster: "c1", Ref: RefOf(ManagedClusterGVR, update), Object: update}))
	live, err := source.Dynamic.Resource(ManagedClusterGVR).Get(context.Background(), "c1", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NoError(t, s.Verify("managedclusters", live), "an update is sealed")
	assert.NotContains(t, update.GetAnnotations(), AnnSeal, "the planned object is left as planned")

	copyMC := w.c().Target.MC.DeepCopy()
	copyMC.SetUID("")
	copyMC.SetResourceVersion("")
	require.NoError(t, ex.execute(context.Background(), Action{Kind: Create, Hub: Target, Cluster: "c1", Ref: Ref{GVR: ManagedClusterGVR, Name: "c1"}, Object: copyMC}))
	created, err := target.Dynamic.Resource(ManagedClusterGVR).Get(context.Background(), "c1", metav1.GetOptions{})
	require.NoError(t, err)
	created.SetUID("given-by-the-api-server")
	assert.NoError(t, s.Verify("managedclusters", created), "a create is sealed")
}
