package sim

import (
	"crypto/sha256"
	"encoding/hex"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// clients authenticate as a managed cluster does: with a bootstrap token or
// with the certificate a hub issued it, so RBAC, revoked tokens and certificates
// of another hub fail for real.
type clients struct {
	kube kubernetes.Interface
	dyn  dynamic.Interface
}

func (s *Simulator) clientsFor(cfg *rest.Config) (*clients, error) {
	sum := sha256.Sum256(append(append(append([]byte(cfg.Host), cfg.BearerToken...), cfg.CertData...), cfg.KeyData...))
	key := hex.EncodeToString(sum[:])
	if c, ok := s.clientCache.Load(key); ok {
		return c.(*clients), nil
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	c := &clients{kube: kube, dyn: dyn}
	s.clientCache.Store(key, c)
	return c, nil
}

func (s *Simulator) bootstrapClients(b *bootstrapKubeconfig) (*clients, error) {
	return s.clientsFor(&rest.Config{
		Host: b.Server, BearerToken: b.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: b.CAData},
		QPS:             50, Burst: 100,
	})
}

func (s *Simulator) hubClients(h *hub, cred *hubCredential) (*clients, error) {
	return s.clientsFor(&rest.Config{
		Host:            cred.Server,
		TLSClientConfig: rest.TLSClientConfig{CAData: h.CAData, CertData: cred.CertPEM, KeyData: cred.KeyPEM},
		QPS:             50, Burst: 100,
	})
}
