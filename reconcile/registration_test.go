package reconcile

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/client-go/rest"
)

func TestRegistrationAddress(t *testing.T) {
	cfg := &rest.Config{Host: "https://hub2.internal:6443", TLSClientConfig: rest.TLSClientConfig{CAData: []byte("internal-ca")}}
	flags := Config{LocalRegistrationAddress: "https://home.example:6443", LocalRegistrationCA: []byte("home-ca")}
	cases := []struct {
		name, hub string
		ann       map[string]string
		addr, ca  string
	}{
		{"the kubeconfig's server", "hub2", map[string]string{}, "https://hub2.internal:6443", "internal-ca"},
		{"annotated address and CA", "hub2", map[string]string{AnnRegistrationAddress: "https://hub2.example:443", AnnRegistrationCA: "public-ca"}, "https://hub2.example:443", "public-ca"},
		{"annotated address, the kubeconfig's CA", "hub2", map[string]string{AnnRegistrationAddress: "https://hub2.example:443"}, "https://hub2.example:443", "internal-ca"},
		{"local-cluster without a Secret: the flag", "local-cluster", nil, "https://home.example:6443", "home-ca"},
		{"local-cluster without a Secret or flag: unknown", "local-cluster", nil, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := flags
			if tc.addr == "" {
				c = Config{}
			}
			addr, ca := registrationAddress(tc.hub, cfg, tc.ann, c)
			assert.Equal(t, tc.addr, addr)
			assert.Equal(t, tc.ca, string(ca))
		})
	}
}
