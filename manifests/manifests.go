// Package manifests holds what an admin applies to run hubmigrate: the
// ManagedClusterMigration CRD and the least-privilege roles. The files are
// embedded so the tests install exactly what users apply.
package manifests

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/util/validation"
)

// MigrationCRD is the ManagedClusterMigration CustomResourceDefinition.
//
//go:embed base/crd-managedclustermigrations.yaml
var MigrationCRD []byte

// HubRole is the ClusterRole hubmigrate's identity holds on every hub it
// migrates from or to.
//
//go:embed base/hub-role.yaml
var HubRole []byte

// HomeRole is what hubmigrate's identity holds on its home cluster.
//
//go:embed base/home-role.yaml
var HomeRole []byte

// PrometheusRule holds the alerts on hubmigrate's metrics.
//
//go:embed base/prometheusrule.yaml
var PrometheusRule []byte

//go:embed base/hub-fence.yaml
var hubFence string

// HubFence is the ValidatingAdmissionPolicy (and its binding) that fences
// hubmigrate's identity on a hub: identity is its username there,
// bootstrapNamespace where its migrations' bootstrap ServiceAccounts live.
// Each identity has its own (several homes may migrate through one hub).
func HubFence(identity, bootstrapNamespace string) ([]byte, error) {
	// Both go into CEL string literals: nothing that could end one.
	if identity == "" || strings.ContainsAny(identity, "'\\\n\r") {
		return nil, fmt.Errorf("identity %q cannot be fenced", identity)
	}
	if errs := validation.IsDNS1123Label(bootstrapNamespace); len(errs) > 0 {
		return nil, fmt.Errorf("bootstrap namespace %q: %s", bootstrapNamespace, strings.Join(errs, "; "))
	}
	t, err := template.New("hub-fence").Option("missingkey=error").Parse(hubFence)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(identity))
	var out bytes.Buffer
	err = t.Execute(&out, struct{ Name, Identity, BootstrapNamespace string }{
		"hubmigrate-fence-" + hex.EncodeToString(sum[:5]), identity, bootstrapNamespace})
	return out.Bytes(), err
}
