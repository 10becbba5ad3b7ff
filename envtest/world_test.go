package envtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

var world *World

func TestMain(m *testing.M) {
	ctx := context.Background()
	w, err := Start(ctx, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test world:", err)
		os.Exit(1)
	}
	world = w
	code := m.Run()
	w.Stop()
	os.Exit(code)
}

var (
	managedClusterGVR = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1", Resource: "managedclusters"}
	clusterManagerGVR = schema.GroupVersionResource{Group: "operator.open-cluster-management.io", Version: "v1", Resource: "clustermanagers"}
)

func kube(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return cs
}

func dyn(t *testing.T, cfg *rest.Config) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	return d
}

func managedCluster(name string, accept bool, labels map[string]string) *unstructured.Unstructured {
	mc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.open-cluster-management.io/v1",
		"kind":       "ManagedCluster",
		"metadata":   map[string]any{"name": name},
		"spec":       map[string]any{"hubAcceptsClient": accept},
	}}
	mc.SetLabels(labels)
	return mc
}

// A certificate issued by one hub authenticates there and nowhere else.
func TestHubCertificatesAreHubLocal(t *testing.T) {
	ctx := context.Background()
	cfg, err := world.Hub("hub1").UserConfig("someone")
	require.NoError(t, err)
	review, err := kube(t, cfg).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, "someone", review.Status.UserInfo.Username)

	cfg.Host = world.Hub("hub2").URL()
	cfg.CAData = world.Hub("hub2").CA.CertPEM
	_, err = kube(t, cfg).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	require.Error(t, err)
	assert.True(t, apierrors.IsUnauthorized(err), "hub1's certificate must not authenticate on hub2: %v", err)
}

// The hub's kube-controller-manager signs an approved client CSR with the hub's
// CA, and the certificate works on that hub only.
func TestControllerManagerSignsApprovedCSRs(t *testing.T) {
	ctx := context.Background()
	hub := world.Hub("hub1")
	admin := kube(t, hub.AdminConfig())
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "csr-user", Organization: []string{"csr-group"}}}, key)
	require.NoError(t, err)
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "world-signing-test"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}
	csr, err = admin.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{})
	require.NoError(t, err)
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test",
	})
	_, err = admin.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{})
	require.NoError(t, err)

	var cert []byte
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := admin.CertificatesV1().CertificateSigningRequests().Get(ctx, csr.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		cert = got.Status.Certificate
		return len(cert) > 0, nil
	}))
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	cfg := &rest.Config{Host: hub.URL(), TLSClientConfig: rest.TLSClientConfig{
		CAData: hub.CA.CertPEM, CertData: cert, KeyData: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}}
	review, err := kube(t, cfg).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, "csr-user", review.Status.UserInfo.Username)

	other := world.Hub("hub2")
	cfg.Host, cfg.CAData = other.URL(), other.CA.CertPEM
	_, err = kube(t, cfg).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	assert.True(t, apierrors.IsUnauthorized(err), "a certificate signed on hub1 must not work on hub2: %v", err)
}

// The product's identity can do what the hub role grants and nothing else.
func TestProductIdentityIsHeldToTheHubRole(t *testing.T) {
	ctx := context.Background()
	cfg, err := world.ProductConfig("hub1")
	require.NoError(t, err)
	product := kube(t, cfg)

	_, err = product.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "role-allowed"}}, metav1.CreateOptions{})
	require.NoError(t, err, "the hub role grants namespace creation")

	_, err = product.CoreV1().Pods("role-allowed").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}},
	}, metav1.CreateOptions{})
	assert.True(t, apierrors.IsForbidden(err), "pods are outside the hub role: %v", err)

	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "operator.open-cluster-management.io/v1", "kind": "ClusterManager",
		"metadata": map[string]any{"name": "cluster-manager"}, "spec": map[string]any{},
	}}
	_, err = dyn(t, cfg).Resource(clusterManagerGVR).Create(ctx, cm, metav1.CreateOptions{})
	assert.True(t, apierrors.IsForbidden(err), "hubmigrate never edits ClusterManager: %v", err)

	_, err = dyn(t, world.Hub("hub1").AdminConfig()).Resource(clusterManagerGVR).Get(ctx, "cluster-manager", metav1.GetOptions{})
	require.NoError(t, err, "the world installs OCM's ClusterManager")
}

// OCM's admission: accepting a ManagedCluster needs managedclusters/accept, a
// clusterset label needs managedclustersets/join.
func TestOCMAdmissionRules(t *testing.T) {
	ctx := context.Background()
	hub := world.Hub("hub1")
	admin := kube(t, hub.AdminConfig())
	_, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacClusterRole, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacBinding, metav1.CreateOptions{})
	require.NoError(t, err)
	cfg, err := hub.UserConfig("mc-editor")
	require.NoError(t, err)
	editor := dyn(t, cfg).Resource(managedClusterGVR)

	_, err = editor.Create(ctx, managedCluster("adm-accepted", true, nil), metav1.CreateOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot update the HubAcceptsClient field")

	created, err := editor.Create(ctx, managedCluster("adm-unaccepted", false, nil), metav1.CreateOptions{})
	require.NoError(t, err, "an unaccepted cluster needs no accept permission")
	require.NoError(t, unstructured.SetNestedField(created.Object, true, "spec", "hubAcceptsClient"))
	_, err = editor.Update(ctx, created, metav1.UpdateOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot update the HubAcceptsClient field")

	_, err = editor.Create(ctx, managedCluster("adm-set", false, map[string]string{"cluster.open-cluster-management.io/clusterset": "blue"}), metav1.CreateOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ManagedClusterSet blue")

	product, err := world.ProductConfig("hub1")
	require.NoError(t, err)
	_, err = dyn(t, product).Resource(managedClusterGVR).Create(ctx,
		managedCluster("adm-product", true, map[string]string{"cluster.open-cluster-management.io/clusterset": "blue"}), metav1.CreateOptions{})
	require.NoError(t, err, "the hub role holds accept and join")
}

// Stopping and starting an API server keeps its data and its address.
func TestAPIServerRestartKeepsDataAndPort(t *testing.T) {
	ctx := context.Background()
	hub := world.Hub("hub2")
	url := hub.URL()
	d := dyn(t, hub.AdminConfig()).Resource(managedClusterGVR)
	_, err := d.Create(ctx, managedCluster("survives-restart", false, nil), metav1.CreateOptions{})
	require.NoError(t, err)

	require.NoError(t, hub.StopAPIServer())
	_, err = d.Get(ctx, "survives-restart", metav1.GetOptions{})
	require.Error(t, err, "the API server is down")

	require.NoError(t, hub.StartAPIServer(ctx))
	assert.Equal(t, url, hub.URL())
	got, err := d.Get(ctx, "survives-restart", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "survives-restart", got.GetName())
}

// The namespace controller finishes a namespace's deletion.
func TestNamespaceDeletionFinishes(t *testing.T) {
	ctx := context.Background()
	admin := kube(t, world.Hub("hub1").AdminConfig())
	_, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "goes-away"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = admin.CoreV1().ConfigMaps("goes-away").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, admin.CoreV1().Namespaces().Delete(ctx, "goes-away", metav1.DeleteOptions{}))
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := admin.CoreV1().Namespaces().Get(ctx, "goes-away", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}))
}

// OCM refuses to accept a cluster while its namespace is Terminating.
func TestAcceptanceRefusedWhileNamespaceTerminates(t *testing.T) {
	ctx := context.Background()
	hub := world.Hub("hub1")
	admin := kube(t, hub.AdminConfig())
	mcs := dyn(t, hub.AdminConfig()).Resource(managedClusterGVR)
	_, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "term", Finalizers: []string{"hubmigrate.test/hold"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, admin.CoreV1().Namespaces().Delete(ctx, "term", metav1.DeleteOptions{}))

	_, err = mcs.Create(ctx, managedCluster("term", true, nil), metav1.CreateOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the namespace term is terminating")
	created, err := mcs.Create(ctx, managedCluster("term", false, nil), metav1.CreateOptions{})
	require.NoError(t, err, "an unaccepted cluster is let in")
	require.NoError(t, unstructured.SetNestedField(created.Object, true, "spec", "hubAcceptsClient"))
	_, err = mcs.Update(ctx, created, metav1.UpdateOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the namespace term is terminating")

	ns, err := admin.CoreV1().Namespaces().Get(ctx, "term", metav1.GetOptions{})
	require.NoError(t, err)
	ns.Finalizers = nil
	_, err = admin.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := admin.CoreV1().Namespaces().Get(ctx, "term", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}))
	created, err = mcs.Get(ctx, "term", metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, unstructured.SetNestedField(created.Object, true, "spec", "hubAcceptsClient"))
	_, err = mcs.Update(ctx, created, metav1.UpdateOptions{})
	require.NoError(t, err, "accepted once the namespace is gone")
}
