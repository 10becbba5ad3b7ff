package reconcile

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var testCredential = registrationCredential{
	Cluster:  "c1",
	Username: "system:serviceaccount:open-cluster-management:hubmigrate-1234abcd",
	UID:      "sa-uid",
	JTI:      "jti-c1",
}

func request(t testing.TB, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func agentCSR(t testing.TB, mutate func(*x509.CertificateRequest, *certificatesv1.CertificateSigningRequest)) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{
		CommonName:   "system:open-cluster-management:c1:agent1",
		Organization: []string{"system:open-cluster-management:c1", managedClustersGroup},
	}}
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "c1-abcde", UID: "csr-uid", Labels: map[string]string{LabelClusterName: "c1"}},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Username:   testCredential.Username,
			UID:        string(testCredential.UID),
			Extra:      map[string]certificatesv1.ExtraValue{credentialIDExtra: {"JTI=jti-c1"}},
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth},
		},
	}
	if mutate != nil {
		mutate(tmpl, csr)
	}
	if csr.Spec.Request == nil {
		csr.Spec.Request = request(t, tmpl)
	}
	return csr
}

func TestRegistrationCSRChecks(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*x509.CertificateRequest, *certificatesv1.CertificateSigningRequest)
		want   string // "" = passes
	}{
		{"as OCM's agent files it", nil, ""},
		{"only the cluster organization", func(r *x509.CertificateRequest, _ *certificatesv1.CertificateSigningRequest) {
			r.Subject.Organization = []string{"system:open-cluster-management:c1"}
		}, ""},
		{"no credential id although the cluster's token has a jti", func(_ *x509.CertificateRequest, c *certificatesv1.CertificateSigningRequest) {
			// A legacy Secret-based token, impersonation without extras or an
			// API server before 1.30: the shared bootstrap ServiceAccount
			// would let one member register as another.
			c.Spec.Extra = nil
		}, "no credential id"},
		{"two credential ids", func(_ *x509.CertificateRequest, c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Extra[credentialIDExtra] = certificatesv1.ExtraValue{"JTI=jti-c1", "JTI=jti-c2"}
		}, "another token"},
		{"CN whose agent part holds a colon", func(r *x509.CertificateRequest, _ *certificatesv1.CertificateSigningRequest) {
			r.Subject.CommonName = "system:open-cluster-management:c1:agent1:x"
		}, "CN"},
		{"a certificate of a year", func(_ *x509.CertificateRequest, c *certificatesv1.CertificateSigningRequest) {
			c.Spec.ExpirationSeconds = ptr.To(int32(365 * 24 * 3600))
		}, ""},
		{"a certificate for longer than a year", func(_ *x509.CertificateRequest, c *certificatesv1.CertificateSigningRequest) {
			c.Spec.ExpirationSeconds = ptr.To(int32(365*24*3600 + 1))
		}, "expirationSeconds"},
		{"wrong signer", func(_ *x509.CertificateRequest, c *certificatesv1.CertificateSigningRequest) {
			c.Spec.SignerName = "kubernetes.io/kube-apiserver-client-kubelet"
		}, "signer"},
		{"foreign requester", func(_ *x509.CertificateRequest, c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Username = "system:serviceaccount:c1:c1-bootstrap-sa"
		}, "not the migration's bootstrap identity"},
		{"requester with a recycled ServiceAccount name", func(_ *x509.CertificateRequest, c *certificatesv1.CertificateSigningRequest) {
			c.Spec.UID = "old-sa-uid"
		}, "not the migration's bootstrap identity"},
		{"another member's token", func(_ *x509.CertificateRequest, c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Extra[credentialIDExtra] = certificatesv1.ExtraValue{"JTI=jti-c2"}
		}, "another token"},
		{"label of another cluster", func(_ *x509.CertificateRequest, c *certificatesv1.CertificateSigningRequest) {
			c.Labels[LabelClusterName] = "c2"
		}, "label"},
		{"an addon CSR", func(_ *x509.CertificateRequest, c *certificatesv1.CertificateSigningRequest) {
			c.Labels[LabelAddonName] = "search"
		}, "addon"},
		{"not PEM", func(_ *x509.CertificateRequest, c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Request = []byte("garbage")
		}, "PEM"},
		{"wrong CN", func(r *x509.CertificateRequest, _ *certificatesv1.CertificateSigningRequest) {
			r.Subject.CommonName = "system:open-cluster-management:c2:agent1"
		}, "CN"},
		{"CN without an agent", func(r *x509.CertificateRequest, _ *certificatesv1.CertificateSigningRequest) {
			r.Subject.CommonName = "system:open-cluster-management:c1:"
		}, "CN"},
		{"extra organization", func(r *x509.CertificateRequest, _ *certificatesv1.CertificateSigningRequest) {
			r.Subject.Organization = append(r.Subject.Organization, "system:masters")
		}, "organizations"},
		{"organization of another cluster", func(r *x509.CertificateRequest, _ *certificatesv1.CertificateSigningRequest) {
			r.Subject.Organization = []string{"system:open-cluster-management:c2"}
		}, "organizations"},
		{"a SAN", func(r *x509.CertificateRequest, _ *certificatesv1.CertificateSigningRequest) {
			r.DNSNames = []string{"evil.example"}
		}, "subject alternative names"},
		{"an email SAN", func(r *x509.CertificateRequest, _ *certificatesv1.CertificateSigningRequest) {
			r.EmailAddresses = []string{"agent@evil.example"}
		}, "subject alternative names"},
		{"an IP SAN", func(r *x509.CertificateRequest, _ *certificatesv1.CertificateSigningRequest) {
			r.IPAddresses = []net.IP{net.ParseIP("10.0.0.1")}
		}, "subject alternative names"},
		{"a URI SAN", func(r *x509.CertificateRequest, _ *certificatesv1.CertificateSigningRequest) {
			r.URIs = []*url.URL{{Scheme: "spiffe", Host: "evil.example", Path: "/agent"}}
		}, "subject alternative names"},
		{"server auth usage", func(_ *x509.CertificateRequest, c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Usages = append(c.Spec.Usages, certificatesv1.UsageServerAuth)
		}, "usage"},
		{"no client auth", func(_ *x509.CertificateRequest, c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature}
		}, "client auth"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkRegistrationCSR(agentCSR(t, tc.mutate), testCredential)
			if tc.want == "" {
				assert.NoError(t, err)
			} else if assert.Error(t, err) {
				assert.Contains(t, err.Error(), tc.want)
			}
		})
	}
}

// A token without a jti (none is minted so today, but a hub may) cannot be
// matched to a CSR: the checks then rest on the other fields.
func TestTokenWithoutJTI(t *testing.T) {
	cred := testCredential
	cred.JTI = ""
	csr := agentCSR(t, func(_ *x509.CertificateRequest, c *certificatesv1.CertificateSigningRequest) { c.Spec.Extra = nil })
	assert.NoError(t, checkRegistrationCSR(csr, cred))
	csr = agentCSR(t, nil)
	assert.Error(t, checkRegistrationCSR(csr, cred), "a credential id that cannot be matched is refused")
}

func TestTamperedRequestSignatureFails(t *testing.T) {
	csr := agentCSR(t, nil)
	block, _ := pem.Decode(csr.Spec.Request)
	block.Bytes[len(block.Bytes)-3] ^= 0xff
	csr.Spec.Request = pem.EncodeToMemory(block)
	assert.Error(t, checkRegistrationCSR(csr, testCredential))
}

func TestCSRStates(t *testing.T) {
	csr := agentCSR(t, nil)
	assert.True(t, csrPending(csr))
	csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue}}
	assert.False(t, csrPending(csr))
	assert.True(t, csrRefused(csr))
	csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue}}
	assert.False(t, csrPending(csr), "a Failed CSR is not pending")
	assert.True(t, csrRefused(csr))
	csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
	assert.False(t, csrPending(csr))
	assert.False(t, csrRefused(csr))
}

// agentCSRFrom gives csr a fresh request with common name cn.
func agentCSRFrom(t *testing.T, csr *certificatesv1.CertificateSigningRequest, cn string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	csr.Spec.Request = request(t, &x509.CertificateRequest{Subject: pkix.Name{
		CommonName: cn, Organization: []string{"system:open-cluster-management:c1", managedClustersGroup},
	}})
	return csr
}
