package sim_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func parseCSR(data []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	return x509.ParseCertificateRequest(block.Bytes)
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
