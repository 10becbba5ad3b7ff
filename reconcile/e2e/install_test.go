package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/envtest/invariants"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
)

// The install guide's manifests, rendered from manifests/base and applied
// server-side to home, are all the controller holds there: it runs as a
// token of the rendered ServiceAccount (not the test's identity) and
// migrates clusters.
func TestInstalledManifestsMigrate(t *testing.T) {
	ctx := context.Background()
	homeCfg := world.Home().AdminConfig()
	a, err := envtest.NewApplier(homeCfg)
	require.NoError(t, err)
	require.NoError(t, a.Apply(ctx, envtest.MonitoringCRDs))
	objs, err := envtest.Render("../../manifests/base")
	require.NoError(t, err)
	require.NoError(t, a.ApplyServerSide(ctx, objs))

	kube, _ := clients(t, "home")
	tok, err := kube.CoreV1().ServiceAccounts(envtest.ProductNamespace).CreateToken(ctx, "hubmigrate",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))}}, metav1.CreateOptions{})
	require.NoError(t, err)
	asInstalled := &rest.Config{Host: homeCfg.Host, BearerToken: tok.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: homeCfg.CAData}}

	clusters := names("installed", 2)
	importClusters(t, "hub1", sim.Default, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)
	c := startController(t, 30*time.Second, withHomeConfig(asInstalled))
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: "installed", from: "hub1", to: "hub2", clusters: clusters})
	m := waitMigrationPhase(t, "ops", "installed", "Completed", 3*time.Minute)
	checkMigrated(t, snap, m, "hub1", "hub2", clusters)
}
