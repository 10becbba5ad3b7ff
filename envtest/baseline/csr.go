package baseline

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/hubmigrate/hubmigrate/reconcile"
)

// credentialIDKey is where the API server (≥ 1.30) records which token a
// request was made with: "JTI=<the token's jti>".
const credentialIDKey = "authentication.kubernetes.io/credential-id"

// tokenID reads the jti claim of the cluster's own token (not verified: the
// baseline minted it a moment ago).
func tokenID(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("the bootstrap token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var claims struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", err
	}
	return claims.JTI, nil
}

// agentCSR: the CSR is the registration of this cluster's agent with this
// cluster's token — a subset of hubmigrate's checks (reconcile/csr.go), enough
// that the baseline approves what the protocol approves and nothing of
// anyone else's. Checking is reading: it costs no write.
func (m *clusterRun) agentCSR(csr *certificatesv1.CertificateSigningRequest) bool {
	r := m.run
	if csr.Spec.SignerName != certificatesv1.KubeAPIServerClientSignerName ||
		csr.Spec.Username != r.id.user(r.opts.BootstrapNamespace) || csr.Spec.UID != string(r.id.uid) ||
		csr.Labels[reconcile.LabelClusterName] != m.name || csr.Labels[reconcile.LabelAddonName] != "" {
		return false
	}
	if ids, recorded := csr.Spec.Extra[credentialIDKey]; recorded && !slices.Equal(ids, certificatesv1.ExtraValue{"JTI=" + m.jti}) {
		return false
	}
	cn, orgs, err := subjectOf(csr)
	return err == nil && strings.HasPrefix(cn, "system:open-cluster-management:"+m.name+":") &&
		slices.Contains(orgs, "system:open-cluster-management:"+m.name)
}

// subjectOf is the CN and organizations a CSR asks for.
func subjectOf(csr *certificatesv1.CertificateSigningRequest) (string, []string, error) {
	block, _ := pem.Decode(csr.Spec.Request)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return "", nil, fmt.Errorf("CSR %s: no PEM certificate request", csr.Name)
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return "", nil, err
	}
	return req.Subject.CommonName, req.Subject.Organization, req.CheckSignature()
}

// pending: neither approved, denied nor failed.
func pending(csr *certificatesv1.CertificateSigningRequest) bool {
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed:
			return false
		}
	}
	return true
}

// decide approves (or denies) a CSR with one UpdateApproval. The CSR comes
// from the cache; only if the API server holds a newer one (a 409) is it
// read again and the write repeated.
func (m *clusterRun) decide(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, approve bool) error {
	csrs := m.run.target.kube.CertificatesV1().CertificateSigningRequests()
	cond := certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "BaselineApproved",
		Message: "approved by the hubmigrate baseline run " + string(m.run.uid),
	}
	if !approve {
		cond.Type, cond.Reason = certificatesv1.CertificateDenied, "BaselineDenied"
		cond.Message = "denied by the hubmigrate baseline run " + string(m.run.uid) + ": a leftover of its credential"
	}
	first := true
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if !first {
			live, err := csrs.Get(ctx, csr.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if !pending(live) {
				return nil
			}
			csr = live
		}
		first = false
		csr = csr.DeepCopy()
		csr.Status.Conditions = append(csr.Status.Conditions, cond)
		_, err := csrs.UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{})
		return err
	})
}
