package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// fileCSR files a registration CSR for cluster on hub2 with the bootstrap
// token the migration minted for tokenOf (read from its Secret on hub1).
func fileCSR(t *testing.T, m *unstructured.Unstructured, cluster, tokenOf, cn string) string {
	t.Helper()
	ctx := context.Background()
	hub1Kube, _ := clients(t, "hub1")
	secret, err := hub1Kube.CoreV1().Secrets(sim.BootstrapSecretNamespace).Get(ctx, reconcile.ScaffoldingName(tokenOf, m.GetUID()), metav1.GetOptions{})
	require.NoError(t, err)
	cfg, err := clientcmd.RESTConfigFromKubeConfig(secret.Data["kubeconfig"])
	require.NoError(t, err)
	kube, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{
		CommonName: cn, Organization: []string{"system:open-cluster-management:" + cluster},
	}}, key)
	require.NoError(t, err)
	csr, err := kube.CertificatesV1().CertificateSigningRequests().Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: cluster + "-", Labels: map[string]string{reconcile.LabelClusterName: cluster}},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return csr.Name
}

func sourceLabel(t *testing.T, cluster string) string {
	_, dyn := clients(t, "hub1")
	mc, err := dyn.Resource(reconcile.ManagedClusterGVR).Get(context.Background(), cluster, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return mc.GetLabels()[reconcile.LabelPhase]
}

// hubmigrate approves no CSR that fails its checks: a wrong CN, an extra
// organization, a SAN (the agent files them, by simulator knob), another
// member's token, or two pending CNs for one cluster (filed by hand with the
// migration's own credential).
func TestRefusedRegistrations(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"csr-cn", "csr-org", "csr-san", "csr-steal", "csr-two", "csr-early"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	require.NoError(t, simulator.SetCSRMutator("csr-cn", func(r *x509.CertificateRequest) {
		r.Subject.CommonName = "system:open-cluster-management:csr-org:agent"
	}))
	require.NoError(t, simulator.SetCSRMutator("csr-org", func(r *x509.CertificateRequest) {
		// (system:masters itself is refused by the API server's CertificateSubjectRestriction)
		r.Subject.Organization = append(r.Subject.Organization, "cluster-admins")
	}))
	require.NoError(t, simulator.SetCSRMutator("csr-san", func(r *x509.CertificateRequest) { r.IPAddresses = []net.IP{net.ParseIP("10.0.0.1")} }))
	require.NoError(t, simulator.NeverFileCSROn("csr-steal", "hub2", true))
	require.NoError(t, simulator.NeverFileCSROn("csr-two", "hub2", true))
	require.NoError(t, simulator.NeverFileCSROn("csr-early", "hub2", true))

	c := startController(t, 30*time.Second)
	defer func() { c.stop() }()
	createMigration(t, migrationSpec{namespace: "ops", name: "refused", from: "hub1", to: "hub2", clusters: clusters})
	_, homeDyn := clients(t, "home")
	var m *unstructured.Unstructured
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		m, err = homeDyn.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, "refused", metav1.GetOptions{})
		return err == nil && m.GetUID() != "", nil
	}))
	// csr-early: whoever holds its token (it sits in the source's bootstrap
	// Secret) files a passing CSR as soon as the token exists, before the
	// Registering write, while the real agent cannot: it must never count.
	hub1Kube, _ := clients(t, "hub1")
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := hub1Kube.CoreV1().Secrets(sim.BootstrapSecretNamespace).Get(ctx, reconcile.ScaffoldingName("csr-early", m.GetUID()), metav1.GetOptions{})
		return err == nil, nil
	}), "token of csr-early")
	c.stop() // so that the Registering write comes clearly after the CSR
	require.NotEqual(t, "Registering", sourceLabel(t, "csr-early"))
	fileCSR(t, m, "csr-early", "csr-early", "system:open-cluster-management:csr-early:agent")
	time.Sleep(2100 * time.Millisecond) // CSR times have seconds, and a second of slack is allowed
	c = startController(t, 30*time.Second)
	for _, cl := range clusters {
		require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
			return sourceLabel(t, cl) == "Registering", nil
		}), "%s reaches Registering", cl)
	}
	// The hand-made CSRs after the Registering write, with the controller
	// stopped, so it sees both of csr-two's at once.
	c.stop()
	time.Sleep(1100 * time.Millisecond) // CSR times have seconds: clear of the Registering write's
	fileCSR(t, m, "csr-steal", "csr-cn", "system:open-cluster-management:csr-steal:agent")
	fileCSR(t, m, "csr-two", "csr-two", "system:open-cluster-management:csr-two:agent1")
	fileCSR(t, m, "csr-two", "csr-two", "system:open-cluster-management:csr-two:agent2")
	c = startController(t, 30*time.Second)
	hub2Kube, _ := clients(t, "hub2")
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, "refused", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		failed, _, _ := unstructured.NestedSlice(m.Object, "status", "failedClusters")
		for _, f := range failed {
			if f.(map[string]any)["name"] == "csr-two" && f.(map[string]any)["reason"] == "AmbiguousRegistration" {
				return true, nil
			}
		}
		return false, nil
	}), "two pending CNs are reported")
	time.Sleep(3 * time.Second) // time for a wrong approval, were there one
	for _, cl := range clusters {
		csrs, err := hub2Kube.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{LabelSelector: reconcile.LabelClusterName + "=" + cl})
		require.NoError(t, err)
		assert.NotEmpty(t, csrs.Items, "%s has a CSR on the target", cl)
		for _, csr := range csrs.Items {
			assert.Empty(t, csr.Status.Conditions, "%s: CSR %s must not be approved", cl, csr.Name)
		}
		assert.Equal(t, "Registering", sourceLabel(t, cl), "%s is not committed", cl)
	}
}
