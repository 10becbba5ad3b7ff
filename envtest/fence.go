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
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/hubmigrate/hubmigrate/manifests"
)

// BootstrapNamespace is where the product's migrations make their bootstrap
// ServiceAccounts on the hubs (the controller's default).
const BootstrapNamespace = "open-cluster-management"

// fenceProductIdentity applies manifests/base/hub-fence.yaml for the product
// identity, as `hubmigrate hub add` does on a real hub, and waits until the
// API server enforces it (it loads policies asynchronously): every test
// then shows that the product works inside the fence.
func fenceProductIdentity(ctx context.Context, cp *ControlPlane, a *Applier) error {
	doc, err := manifests.HubFence(ProductUser, BootstrapNamespace)
	if err != nil {
		return err
	}
	if err := a.Apply(ctx, doc); err != nil {
		return err
	}
	cfg, err := cp.UserConfig(ProductUser)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	csr, err := ProbeCSR("fence-probe", "world:fence-probe")
	if err != nil {
		return err
	}
	var last error
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, last = kube.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return last != nil && strings.Contains(last.Error(), "hubmigrate files no CSRs"), nil
	})
	if err != nil {
		return fmt.Errorf("hubmigrate's fence not enforced on %s (a CSR create by its identity: %v): %w", cp.Name, last, err)
	}
	return nil
}

// ProbeCSR is a well-formed kube-apiserver-client CSR for commonName.
func ProbeCSR(name, commonName string, organizations ...string) (*certificatesv1.CertificateSigningRequest, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: commonName, Organization: organizations}}, key)
	if err != nil {
		return nil, err
	}
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth},
		},
	}, nil
}
