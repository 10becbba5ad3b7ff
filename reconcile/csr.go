package reconcile

//hubmigrate:pure

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/types"
)

// credentialIDExtra is where Kubernetes ≥ 1.30 records which token a request
// was made with ("JTI=<jti>").
const credentialIDExtra = "authentication.kubernetes.io/credential-id"

// registrationCredential is what a CSR of a cluster must have been filed with:
// the migration's bootstrap ServiceAccount, and this cluster's own token.
type registrationCredential struct {
	Cluster  string
	Username string
	UID      types.UID
	// JTI of the cluster's token, read back from its bootstrap Secret.
	JTI string
}

// clusterGroup is the organization of a cluster's agent certificates.
func clusterGroup(cluster string) string { return "system:open-cluster-management:" + cluster }

const managedClustersGroup = "system:open-cluster-management:managed-clusters"

var allowedUsages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth}

// checkRegistrationCSR returns nil when csr passes every check of SPEC
// "Registering" for the credential, else what failed. Whether it is still
// pending is checked separately (csrPending).
// maxCertLifetime caps the lifetime an approved agent certificate may ask
// for (the signer may give less; OCM's agents renew long before).
const maxCertLifetime = 365 * 24 * time.Hour

func checkRegistrationCSR(csr *certificatesv1.CertificateSigningRequest, cred registrationCredential) error {
	if csr.Spec.SignerName != certificatesv1.KubeAPIServerClientSignerName {
		return fmt.Errorf("signer %q", csr.Spec.SignerName)
	}
	if e := csr.Spec.ExpirationSeconds; e != nil && time.Duration(*e)*time.Second > maxCertLifetime {
		// Approved, it would stay a credential of this cluster for that long.
		return fmt.Errorf("expirationSeconds %d: longer than %s", *e, maxCertLifetime)
	}
	if csr.Spec.Username != cred.Username || types.UID(csr.Spec.UID) != cred.UID {
		return fmt.Errorf("filed by %q (uid %s), not the migration's bootstrap identity", csr.Spec.Username, csr.Spec.UID)
	}
	// The bootstrap ServiceAccount is shared by every cluster of the
	// migration: only the credential id tells this cluster's token from
	// another member's. Where the cluster's token has a jti the CSR must
	// carry it (a legacy token, impersonation without extras or an API
	// server before 1.30 records none, and is refused).
	ids := csr.Spec.Extra[credentialIDExtra]
	switch {
	case cred.JTI != "" && len(ids) == 0:
		return fmt.Errorf("no credential id: not provably filed with %s's token", cred.Cluster)
	case len(ids) > 0 && (len(ids) != 1 || cred.JTI == "" || ids[0] != "JTI="+cred.JTI):
		return fmt.Errorf("filed with another token than %s's", cred.Cluster)
	}
	if csr.Labels[LabelClusterName] != cred.Cluster {
		return fmt.Errorf("label %s=%q", LabelClusterName, csr.Labels[LabelClusterName])
	}
	if _, ok := csr.Labels[LabelAddonName]; ok {
		return fmt.Errorf("an addon CSR")
	}
	block, _ := pem.Decode(csr.Spec.Request)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return fmt.Errorf("no PEM CERTIFICATE REQUEST")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return fmt.Errorf("unparseable request: %v", err)
	}
	if err := req.CheckSignature(); err != nil {
		return fmt.Errorf("bad request signature: %v", err)
	}
	prefix := clusterGroup(cred.Cluster) + ":"
	if agent, ok := strings.CutPrefix(req.Subject.CommonName, prefix); !ok || agent == "" || strings.Contains(agent, ":") {
		return fmt.Errorf("CN %q", req.Subject.CommonName)
	}
	orgs := slices.Clone(req.Subject.Organization)
	slices.Sort(orgs)
	want1 := []string{clusterGroup(cred.Cluster)}
	want2 := []string{clusterGroup(cred.Cluster), managedClustersGroup}
	slices.Sort(want2)
	if !slices.Equal(orgs, want1) && !slices.Equal(orgs, want2) {
		return fmt.Errorf("organizations %v", req.Subject.Organization)
	}
	if len(req.DNSNames)+len(req.EmailAddresses)+len(req.IPAddresses)+len(req.URIs) > 0 {
		return fmt.Errorf("subject alternative names")
	}
	if !slices.Contains(csr.Spec.Usages, certificatesv1.UsageClientAuth) {
		return fmt.Errorf("no client auth usage")
	}
	for _, u := range csr.Spec.Usages {
		if !slices.Contains(allowedUsages, u) {
			return fmt.Errorf("usage %q", u)
		}
	}
	return nil
}

// csrCommonName is the CN of a CSR's request ("" if unreadable).
func csrCommonName(csr *certificatesv1.CertificateSigningRequest) string {
	block, _ := pem.Decode(csr.Spec.Request)
	if block == nil {
		return ""
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return ""
	}
	return req.Subject.CommonName
}

// csrPending: not yet approved, denied or failed.
func csrPending(csr *certificatesv1.CertificateSigningRequest) bool {
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed:
			return false
		}
	}
	return true
}

// csrRefused: denied or failed.
func csrRefused(csr *certificatesv1.CertificateSigningRequest) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == certificatesv1.CertificateDenied || c.Type == certificatesv1.CertificateFailed {
			return true
		}
	}
	return false
}
