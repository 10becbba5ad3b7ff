package manifests_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hubmigrate/hubmigrate/envtest"
)

func render(t *testing.T, dir string) map[string]*unstructured.Unstructured {
	t.Helper()
	objs, err := envtest.Render(dir)
	require.NoError(t, err)
	byKey := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		byKey[o.GetKind()+"/"+o.GetName()] = o
	}
	return byKey
}

// The base renders what the install guide applies, every namespaced object
// and every ServiceAccount subject in one namespace, and the Deployment runs
// the controller as the restricted Pod Security Standard asks.
func TestKustomizationRenders(t *testing.T) {
	objs := render(t, "base")
	for _, want := range []string{"Namespace/hubmigrate", "CustomResourceDefinition/managedclustermigrations.global-hub.open-cluster-management.io",
		"ClusterRole/hubmigrate-home", "Role/hubmigrate", "ServiceAccount/hubmigrate", "ClusterRoleBinding/hubmigrate-home",
		"RoleBinding/hubmigrate", "Deployment/hubmigrate", "Service/hubmigrate-metrics", "ServiceMonitor/hubmigrate", "PrometheusRule/hubmigrate"} {
		assert.Contains(t, objs, want)
	}
	checkNamespace(t, objs, "hubmigrate")

	d := objs["Deployment/hubmigrate"]
	replicas, _, _ := unstructured.NestedFieldNoCopy(d.Object, "spec", "replicas")
	assert.EqualValues(t, 2, replicas, "a standby replica")
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	require.Len(t, containers, 1)
	c := containers[0].(map[string]any)
	assert.Equal(t, "quay.io/hubmigrate/hubmigrate:latest", c["image"])
	sc := c["securityContext"].(map[string]any)
	assert.Equal(t, false, sc["allowPrivilegeEscalation"])
	assert.Equal(t, true, sc["readOnlyRootFilesystem"])
	assert.Equal(t, []any{"ALL"}, sc["capabilities"].(map[string]any)["drop"])
	podSC, _, _ := unstructured.NestedMap(d.Object, "spec", "template", "spec", "securityContext")
	assert.Equal(t, true, podSC["runAsNonRoot"])
	assert.Equal(t, "RuntimeDefault", podSC["seccompProfile"].(map[string]any)["type"])
	env := map[string]string{}
	for _, e := range c["env"].([]any) {
		m := e.(map[string]any)
		env[m["name"].(string)], _, _ = unstructured.NestedString(m, "valueFrom", "fieldRef", "fieldPath")
	}
	assert.Equal(t, "metadata.name", env["POD_NAME"], "a stable leader identity")
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		assert.Contains(t, c, probe)
	}

	// The flags the Deployment passes are the controller's: it parses them
	// all and stops at -help (exit 0), where an unknown one exits 2.
	bin := filepath.Join(t.TempDir(), "hubmigrate")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/hubmigrate").CombinedOutput()
	require.NoError(t, err, "%s", out)
	var args []string
	for _, a := range c["args"].([]any) {
		args = append(args, strings.ReplaceAll(a.(string), "$(POD_NAMESPACE)", "hubmigrate"))
	}
	require.Equal(t, "controller", args[0])
	cmd := exec.Command(bin, append(args, "-help")...)
	out, err = cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Fatalf("the Deployment's args are refused (exit %d): %s", exit.ExitCode(), out)
	}
	require.NoError(t, err)
}

// The example overlay moves everything, bindings' subjects included, to its
// namespace and swaps the image.
func TestOverlayChangesNamespaceAndImage(t *testing.T) {
	objs := render(t, "overlays/example")
	checkNamespace(t, objs, "cluster-migration")
	assert.Contains(t, objs, "Namespace/cluster-migration")
	containers, _, _ := unstructured.NestedSlice(objs["Deployment/hubmigrate"].Object, "spec", "template", "spec", "containers")
	assert.Equal(t, "registry.example.com/platform/hubmigrate:v0.1.0", containers[0].(map[string]any)["image"])
}

func checkNamespace(t *testing.T, objs map[string]*unstructured.Unstructured, ns string) {
	t.Helper()
	for key, o := range objs {
		switch o.GetKind() {
		case "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding":
			assert.Empty(t, o.GetNamespace(), key)
		default:
			assert.Equal(t, ns, o.GetNamespace(), key)
		}
		subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
		for _, s := range subjects {
			assert.Equal(t, ns, s.(map[string]any)["namespace"], "%s: the ServiceAccount's namespace", key)
		}
	}
}

// Applied server-side to a real API server (as `kubectl apply -k
// --server-side` would), the overlay and then the base each give their
// ServiceAccount what the controller needs on home — and no more than the
// home role says.
func TestKustomizationAppliesAndItsServiceAccountMayAct(t *testing.T) {
	ctx := context.Background()
	admin := world.Home().AdminConfig()
	a, err := envtest.NewApplier(admin)
	require.NoError(t, err)
	require.NoError(t, a.Apply(ctx, envtest.MonitoringCRDs))
	kube, err := kubernetes.NewForConfig(admin)
	require.NoError(t, err)
	for _, install := range []struct{ dir, namespace string }{{"overlays/example", "cluster-migration"}, {"base", "hubmigrate"}} {
		objs, err := envtest.Render(install.dir)
		require.NoError(t, err)
		require.NoError(t, a.ApplyServerSide(ctx, objs), install.dir)
		require.NoError(t, a.ApplyServerSide(ctx, objs), "%s: a second apply is a no-op, not a conflict", install.dir)

		tok, err := kube.CoreV1().ServiceAccounts(install.namespace).CreateToken(ctx, "hubmigrate", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		require.NoError(t, err)
		asSA, err := kubernetes.NewForConfig(&rest.Config{Host: admin.Host, BearerToken: tok.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: admin.CAData}})
		require.NoError(t, err)
		may := func(ns, group, resource, subresource, verb string) bool {
			r, err := asSA.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Group: group, Resource: resource, Subresource: subresource, Verb: verb}}}, metav1.CreateOptions{})
			require.NoError(t, err)
			return r.Status.Allowed
		}
		const group = "global-hub.open-cluster-management.io"
		assert.True(t, may("", group, "managedclustermigrations", "", "watch"), install.dir)
		assert.True(t, may("ops", group, "managedclustermigrations", "status", "update"), install.dir)
		assert.True(t, may(install.namespace, "", "secrets", "", "watch"), "%s: its <hub>-kubeconfig Secrets", install.dir)
		assert.True(t, may(install.namespace, "coordination.k8s.io", "leases", "", "update"), install.dir)
		assert.True(t, may("ops", "", "events", "", "create"), install.dir)
		assert.False(t, may("ops", "", "secrets", "", "get"), "%s: Secrets outside its namespace", install.dir)
		assert.True(t, may(install.namespace, "", "secrets", "", "create"), "%s: its seal key, made at the first start", install.dir)
		assert.False(t, may(install.namespace, "", "secrets", "", "update"), "%s: it never changes a Secret (the seal key is rotated by an admin)", install.dir)
		assert.False(t, may(install.namespace, "", "secrets", "", "delete"), install.dir)
		assert.False(t, may("", "rbac.authorization.k8s.io", "clusterrolebindings", "", "create"), install.dir)
	}
}

// The samples the install guide applies are valid migrations.
func TestSamplesAreAccepted(t *testing.T) {
	files, err := filepath.Glob("samples/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		objs, err := envtest.Decode(data)
		require.NoError(t, err)
		for _, o := range objs {
			_, err := migrations(t, "samples").Create(context.Background(), o, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			assert.NoError(t, err, f)
		}
	}
}
