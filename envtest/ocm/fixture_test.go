package ocm

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	clusterclient "open-cluster-management.io/api/client/cluster/clientset/versioned"
	clusterv1 "open-cluster-management.io/api/cluster/v1"

	"github.com/hubmigrate/hubmigrate/envtest"
)

const bootstrapNamespace = "open-cluster-management"

func writeKubeconfig(path string, cfg *rest.Config) (string, error) {
	data, err := envtest.Kubeconfig(cfg)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, data, 0o600)
}

type hubClients struct {
	name    string
	kube    kubernetes.Interface
	cluster clusterclient.Interface
}

func hubOf(t *testing.T, name string) hubClients {
	t.Helper()
	cfg := world.Hub(name).AdminConfig()
	return hubClients{name: name, kube: kubernetes.NewForConfigOrDie(cfg), cluster: clusterclient.NewForConfigOrDie(cfg)}
}

// bootstrapKubeconfig makes a bootstrap identity on the hub (a ServiceAccount
// bound to OCM's bootstrap ClusterRole, as ACM's import controller makes per
// cluster) and writes a kubeconfig with its token to dir/<hub>.
func bootstrapKubeconfig(t *testing.T, h hubClients, cluster, dir string) string {
	t.Helper()
	ctx := context.Background()
	sa := cluster + "-bootstrap-sa"
	_, err := h.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: bootstrapNamespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	_, err = h.kube.CoreV1().ServiceAccounts(bootstrapNamespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = h.kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: sa},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "open-cluster-management:bootstrap"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: bootstrapNamespace}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	tr, err := h.kube.CoreV1().ServiceAccounts(bootstrapNamespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	cp := world.Hub(h.name)
	path, err := writeKubeconfig(filepath.Join(dir, "bootstrap-"+h.name, "kubeconfig"), &rest.Config{
		Host: cp.URL(), BearerToken: tr.Status.Token, TLSClientConfig: rest.TLSClientConfig{CAData: cp.AdminConfig().CAData},
	})
	require.NoError(t, err)
	return path
}

// agentFlags are the flags the klusterlet operator gives an agent, with the
// managed-cluster side in a namespace of its own on the home cluster.
func agentFlags(t *testing.T, cluster, dir string, singleton bool) []string {
	t.Helper()
	ns := cluster + "-agent"
	_, err := kubernetes.NewForConfigOrDie(world.Home().AdminConfig()).CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	home, err := writeKubeconfig(filepath.Join(dir, "spoke.kubeconfig"), world.Home().AdminConfig())
	require.NoError(t, err)
	return []string{
		"--kubeconfig=" + home,
		"--spoke-cluster-name=" + cluster,
		"--agent-namespace=" + ns,
		"--hub-kubeconfig-dir=" + filepath.Join(dir, "hub-kubeconfig"),
		"--agent-id=" + cluster + "-agent-id",
		"--singleton=" + map[bool]string{true: "true", false: "false"}[singleton],
		"--workload-source-driver=kube",
		"--workload-source-config=" + filepath.Join(dir, "hub-kubeconfig", "kubeconfig"),
	}
}

func startAgent(t *testing.T, cluster, dir string, args ...string) *Supervised {
	t.Helper()
	a, err := Start(cluster+"-agent", childAgent, filepath.Join(dir, "agent.log"), args...)
	require.NoError(t, err)
	t.Cleanup(a.Stop)
	return a
}

func (h hubClients) mc(t *testing.T, name string) *clusterv1.ManagedCluster {
	t.Helper()
	mc, err := h.cluster.ClusterV1().ManagedClusters().Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	require.NoError(t, err)
	return mc
}

// setAccept sets hubAcceptsClient (and the test's short lease, which the
// agent reads from its ManagedCluster).
func (h hubClients) setAccept(t *testing.T, name string, accept bool) {
	t.Helper()
	require.NoError(t, retryConflict(func() error {
		mc, err := h.cluster.ClusterV1().ManagedClusters().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mc.Spec.HubAcceptsClient = accept
		mc.Spec.LeaseDurationSeconds = leaseDurationSeconds
		_, err = h.cluster.ClusterV1().ManagedClusters().Update(context.Background(), mc, metav1.UpdateOptions{})
		return err
	}))
}

// approvePendingCSR approves the cluster's pending CSR, once there is one.
func (h hubClients) approvePendingCSR(t *testing.T, cluster string, timeout time.Duration) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	var csr *certificatesv1.CertificateSigningRequest
	eventually(t, timeout, "a pending CSR of "+cluster+" on "+h.name, func() bool {
		list, err := h.kube.CertificatesV1().CertificateSigningRequests().List(context.Background(), metav1.ListOptions{
			LabelSelector: clusterv1.ClusterNameLabelKey + "=" + cluster,
		})
		require.NoError(t, err)
		for i := range list.Items {
			if len(list.Items[i].Status.Conditions) == 0 {
				csr = &list.Items[i]
				return true
			}
		}
		return false
	})
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "TestApproval",
	})
	_, err := h.kube.CertificatesV1().CertificateSigningRequests().UpdateApproval(context.Background(), csr.Name, csr, metav1.UpdateOptions{})
	require.NoError(t, err)
	return csr
}

func condition(mc *clusterv1.ManagedCluster, t string) metav1.ConditionStatus {
	if mc == nil {
		return ""
	}
	for _, c := range mc.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// hubOfAgent is the server of the hub kubeconfig the agent wrote.
func hubOfAgent(dir string) string {
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "hub-kubeconfig", "kubeconfig"))
	if err != nil {
		return ""
	}
	return cfg.Host
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func retryConflict(f func() error) error {
	for {
		err := f()
		if !apierrors.IsConflict(err) {
			return err
		}
	}
}

// csrsOf lists the cluster's CSRs on the hub.
func (h hubClients) csrsOf(t *testing.T, cluster string) []certificatesv1.CertificateSigningRequest {
	t.Helper()
	list, err := h.kube.CertificatesV1().CertificateSigningRequests().List(context.Background(), metav1.ListOptions{
		LabelSelector: clusterv1.ClusterNameLabelKey + "=" + cluster,
	})
	require.NoError(t, err)
	return list.Items
}

// waitLeaseRenewed waits until the cluster's agent renews its lease on the hub.
func (h hubClients) waitLeaseRenewed(t *testing.T, cluster string, timeout time.Duration) {
	t.Helper()
	lease, err := h.kube.CoordinationV1().Leases(cluster).Get(context.Background(), "managed-cluster-lease", metav1.GetOptions{})
	require.NoError(t, err)
	eventually(t, timeout, cluster+" renews its lease on "+h.name, func() bool {
		l, err := h.kube.CoordinationV1().Leases(cluster).Get(context.Background(), "managed-cluster-lease", metav1.GetOptions{})
		return err == nil && l.ResourceVersion != lease.ResourceVersion
	})
}
