package envtest

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hubmigrate/hubmigrate/manifests"
)

// SPEC "Trust boundaries" rule 6 (issue 15 finding 8): hubmigrate's hub
// credential holds, by RBAC, CSR create next to approval, ServiceAccount
// tokens, and deletes of Secrets, Namespaces and ManagedClusters anywhere.
// The fence (manifests/base/hub-fence.yaml) lets it use them only as
// hubmigrate does. Each step is what a thief of that credential would try;
// the world applies the fence on every plane, so every other test shows the
// product works inside it.
func TestProductIdentityIsFenced(t *testing.T) {
	ctx := context.Background()
	cfg, err := world.ProductConfig("hub2")
	require.NoError(t, err)
	product := kube(t, cfg)
	admin := kube(t, world.Hub("hub2").AdminConfig())
	fenced := func(t *testing.T, err error, what string) {
		t.Helper()
		require.Error(t, err, what)
		assert.True(t, strings.Contains(err.Error(), "ValidatingAdmissionPolicy") && strings.Contains(err.Error(), "hubmigrate-fence-"), "%s: refused by the fence, not RBAC: %v", what, err)
	}

	// A certificate of another managed cluster's agent (system:masters the
	// API server refuses by itself).
	masters, err := ProbeCSR("fence-victim", "system:open-cluster-management:victim:agent", "system:open-cluster-management:victim", "system:open-cluster-management:managed-clusters")
	require.NoError(t, err)
	_, err = product.CertificatesV1().CertificateSigningRequests().Create(ctx, masters, metav1.CreateOptions{})
	fenced(t, err, "a CSR for another cluster's agent filed by hubmigrate's identity")

	// One filed by someone else (here the admin) cannot be approved by it.
	filed, err := admin.CertificatesV1().CertificateSigningRequests().Create(ctx, masters, metav1.CreateOptions{})
	require.NoError(t, err)
	defer func() {
		_ = admin.CertificatesV1().CertificateSigningRequests().Delete(ctx, filed.Name, metav1.DeleteOptions{})
	}()
	filed.Status.Conditions = append(filed.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Thief"})
	_, err = product.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, filed.Name, filed, metav1.UpdateOptions{})
	fenced(t, err, "approving a CSR not filed by a migration's bootstrap ServiceAccount")

	_, err = product.CoreV1().ServiceAccounts(BootstrapNamespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "thief"}}, metav1.CreateOptions{})
	fenced(t, err, "a ServiceAccount not named as a migration's")
	_, err = admin.CoreV1().ServiceAccounts("kube-system").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "powerful"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = product.CoreV1().ServiceAccounts("kube-system").CreateToken(ctx, "powerful", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	fenced(t, err, "a token for another ServiceAccount")

	_, err = product.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "hubmigrate-0123abcd"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "open-cluster-management:bootstrap"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "thief"}},
	}, metav1.CreateOptions{})
	fenced(t, err, "a binding of the bootstrap role to someone else")
	err = product.RbacV1().ClusterRoles().Delete(ctx, "hubmigrate-hub", metav1.DeleteOptions{})
	fenced(t, err, "deleting its own role")

	_, err = admin.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "precious"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	fenced(t, product.CoreV1().Secrets("default").Delete(ctx, "precious", metav1.DeleteOptions{}), "deleting a Secret hubmigrate did not make")
	_, err = admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fence-team"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	fenced(t, product.CoreV1().Namespaces().Delete(ctx, "fence-team", metav1.DeleteOptions{}), "deleting a namespace hubmigrate did not make")
	_, err = dyn(t, world.Hub("hub2").AdminConfig()).Resource(managedClusterGVR).Create(ctx, managedCluster("fence-foreign", false, nil), metav1.CreateOptions{})
	require.NoError(t, err)
	fenced(t, dyn(t, cfg).Resource(managedClusterGVR).Delete(ctx, "fence-foreign", metav1.DeleteOptions{}), "deleting a ManagedCluster without hubmigrate's markers")

	// What hubmigrate does stays allowed (the e2e tests run every step).
	sa, err := product.CoreV1().ServiceAccounts(BootstrapNamespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "hubmigrate-0123abcd"}}, metav1.CreateOptions{})
	require.NoError(t, err, "a migration's bootstrap ServiceAccount")
	require.NoError(t, product.CoreV1().ServiceAccounts(BootstrapNamespace).Delete(ctx, sa.Name, metav1.DeleteOptions{}))
}

func TestHubFenceRefusesWhatCannotBeQuoted(t *testing.T) {
	for _, identity := range []string{"", "a'b", `a\b`, "a\nb"} {
		_, err := manifests.HubFence(identity, BootstrapNamespace)
		assert.Error(t, err, "%q", identity)
	}
	_, err := manifests.HubFence("hubmigrate", "Not A Namespace")
	assert.Error(t, err)
	a, err := manifests.HubFence("system:serviceaccount:hubmigrate:hubmigrate", BootstrapNamespace)
	require.NoError(t, err)
	b, err := manifests.HubFence("hubmigrate", BootstrapNamespace)
	require.NoError(t, err)
	assert.NotEqual(t, string(a), string(b))
	assert.Contains(t, string(a), "request.userInfo.username == 'system:serviceaccount:hubmigrate:hubmigrate'")
}
