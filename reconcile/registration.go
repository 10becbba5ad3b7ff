package reconcile

import (
	"k8s.io/client-go/rest"

	"github.com/hubmigrate/hubmigrate/informers"
)

// Annotations on a <hub>-kubeconfig Secret for a hub that managed clusters
// reach by another address than hubmigrate does (a load balancer, a route).
const (
	AnnRegistrationAddress = Prefix + "registration-address"
	AnnRegistrationCA      = Prefix + "registration-ca"
)

// registrationAddress is the address and CA the migration's bootstrap
// kubeconfig gives managed clusters for the target: the Secret's annotations
// if set, else its kubeconfig's server; for local-cluster without a Secret,
// the flag ("" when unknown: Validating then waits and says so).
func registrationAddress(hub string, cfg *rest.Config, annotations map[string]string, c Config) (string, []byte) {
	if addr := annotations[AnnRegistrationAddress]; addr != "" {
		ca := []byte(annotations[AnnRegistrationCA])
		if len(ca) == 0 {
			ca = cfg.CAData
		}
		return addr, ca
	}
	if hub == informers.LocalCluster && annotations == nil {
		return c.LocalRegistrationAddress, c.LocalRegistrationCA
	}
	return cfg.Host, cfg.CAData
}
