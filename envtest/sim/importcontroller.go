package sim

import (
	"context"
	"fmt"
	"reflect"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
)

// importController plays ACM's import controller for one cluster on one hub:
// its own per-cluster bootstrap identity (approving that identity's CSRs,
// never anyone else's), and the <cluster>-klusterlet ManifestWork rendered
// from the cluster's KlusterletConfig once the cluster has joined this hub.
// A deleted ManagedCluster: its klusterlet work is deleted, and freed once the
// cluster is unavailable (forgetCluster).
func (s *Simulator) importController(ctx context.Context, h *hub, cluster string, mc *unstructured.Unstructured) error {
	works := h.dyn.Resource(ManifestWorkGVR).Namespace(cluster)
	if mc == nil || mc.GetDeletionTimestamp() != nil {
		h.importTokens.Delete(cluster)
		return s.forgetCluster(ctx, h, cluster, mc)
	}
	if !accepted(mc) {
		return nil
	}
	own, err := s.importBootstrap(ctx, h, cluster)
	if err != nil || own == nil {
		return err
	}
	if err := s.approveImportCSRs(ctx, h, cluster); err != nil {
		return err
	}
	c := s.cluster(cluster)
	if c == nil {
		return nil
	}
	c.mu.Lock()
	if len(c.bootstraps) == 0 && c.importHub == h.Name {
		// The admin applies the import manifest: the klusterlet starts with
		// this hub's bootstrap kubeconfig.
		c.bootstraps = []bootstrapKubeconfig{*own}
		s.queue.Add(agentKey(cluster))
	}
	mode, held := c.mode, c.importHeld[h.Name]
	c.mu.Unlock()
	if held {
		return nil
	}

	existing, err := h.works.ByNamespace(cluster).Get(KlusterletWorkName(cluster))
	if apierrors.IsNotFound(err) {
		existing = nil
		if joined, _ := condition(mc, ConditionJoined); joined != "True" {
			return nil // rendered once the cluster has joined this hub
		}
	} else if err != nil {
		return err
	}
	cfg := klusterletConfig{Mode: mode, Bootstraps: []bootstrapKubeconfig{*own}}
	if err := s.applyKlusterletConfig(h, mc, &cfg); err != nil {
		return err
	}
	manifests := cfg.manifests(cluster)
	if existing == nil {
		work := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
			"metadata": map[string]any{"name": KlusterletWorkName(cluster), "namespace": cluster},
			"spec":     map[string]any{"workload": map[string]any{"manifests": manifests}},
		}}
		_, err := works.Create(ctx, work, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	work := existing.(*unstructured.Unstructured).DeepCopy()
	current, _, _ := unstructured.NestedSlice(work.Object, "spec", "workload", "manifests")
	if reflect.DeepEqual(current, manifests) {
		return nil
	}
	if err := unstructured.SetNestedSlice(work.Object, manifests, "spec", "workload", "manifests"); err != nil {
		return err
	}
	_, err = works.Update(ctx, work, metav1.UpdateOptions{})
	return err
}

// applyKlusterletConfig adds what the cluster's KlusterletConfig asks for:
// MultipleHubs with the bootstrap kubeconfig Secrets it names
// (IncludeCurrentHub keeps this hub's own first).
func (s *Simulator) applyKlusterletConfig(h *hub, mc *unstructured.Unstructured, cfg *klusterletConfig) error {
	name := mc.GetAnnotations()[AnnotationKlusterletConfig]
	if name == "" {
		return nil
	}
	obj, err := h.kcs.Get(name)
	if apierrors.IsNotFound(err) {
		return nil // ACM renders the default when the named config is missing
	}
	if err != nil {
		return err
	}
	kc := obj.(*unstructured.Unstructured)
	hubs, found, _ := unstructured.NestedMap(kc.Object, "spec", "multipleHubsConfig")
	if !found {
		return nil
	}
	strategy, _, _ := unstructured.NestedString(hubs, "genBootstrapKubeConfigStrategy")
	if strategy != "IncludeCurrentHub" {
		cfg.Bootstraps = nil
	}
	secrets, _, _ := unstructured.NestedSlice(hubs, "bootstrapKubeConfigs", "localSecretsConfig", "kubeConfigSecrets")
	for _, ref := range secrets {
		m, _ := ref.(map[string]any)
		secretName, _ := m["name"].(string)
		// ACM reads each named Secret live and renders nothing while one is
		// missing or has no kubeconfig (render.go convertKubeConfigSecrets
		// returns the error, and the cluster is requeued): a cache that still
		// names a deleted migration's configuration never reaches the agent.
		secret, err := h.kube.CoreV1().Secrets(BootstrapSecretNamespace).Get(context.Background(), secretName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("klusterletconfig %s: bootstrap kubeconfig secret %s: %w", name, secretName, err)
		}
		b, err := parseBootstrapKubeconfig(secretName, secret.Data["kubeconfig"])
		if err != nil {
			return fmt.Errorf("klusterletconfig %s: bootstrap kubeconfig secret %s: %w", name, secretName, err)
		}
		cfg.Bootstraps = append(cfg.Bootstraps, b)
	}
	cfg.MultipleHubs = true
	return nil
}

// importBootstrap makes the import controller's per-cluster bootstrap identity
// (a ServiceAccount bound to OCM's bootstrap role) and returns a bootstrap
// kubeconfig for it; nil until the cluster namespace exists.
func (s *Simulator) importBootstrap(ctx context.Context, h *hub, cluster string) (*bootstrapKubeconfig, error) {
	if tok, ok := h.importTokens.Load(cluster); ok {
		return &bootstrapKubeconfig{Name: defaultBootstrapSecret, Cluster: importKubeconfigCluster, Server: h.URL, CAData: h.CAData, Token: tok.(string)}, nil
	}
	ns, err := h.kube.CoreV1().Namespaces().Get(ctx, cluster, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && ns.DeletionTimestamp != nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sa := importBootstrapSA(cluster)
	if err := ensure(ctx, h.kube.CoreV1().ServiceAccounts(cluster), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: cluster}}); err != nil {
		return nil, err
	}
	role, binding := ImportBootstrapRBAC(cluster)
	if err := ensure(ctx, h.kube.RbacV1().ClusterRoles(), role); err != nil {
		return nil, err
	}
	if err := ensure(ctx, h.kube.RbacV1().ClusterRoleBindings(), binding); err != nil {
		return nil, err
	}
	tr, err := h.kube.CoreV1().ServiceAccounts(cluster).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64((48 * time.Hour).Seconds()))},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	h.importTokens.Store(cluster, tr.Status.Token)
	return &bootstrapKubeconfig{Name: defaultBootstrapSecret, Cluster: importKubeconfigCluster, Server: h.URL, CAData: h.CAData, Token: tr.Status.Token}, nil
}

// approveImportCSRs approves the pending CSRs of the cluster filed with the
// import controller's own bootstrap identity — never those of another credential.
func (s *Simulator) approveImportCSRs(ctx context.Context, h *hub, cluster string) error {
	user := "system:serviceaccount:" + cluster + ":" + importBootstrapSA(cluster)
	for _, obj := range h.csrs.List() {
		csr := obj.(*certificatesv1.CertificateSigningRequest)
		if csr.Labels[LabelClusterName] != cluster || csr.Spec.Username != user || finished(csr) {
			continue
		}
		csr = csr.DeepCopy()
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue,
			Reason: "AutoApprovedByImportController", Message: "approved by the simulated ACM import controller",
		})
		if _, err := h.kube.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// finished: approved, denied or failed.
func finished(csr *certificatesv1.CertificateSigningRequest) bool {
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed:
			return true
		}
	}
	return false
}

// forgetCluster is ACM's import controller for a deleted cluster: it deletes
// the cluster's klusterlet work, and once the cluster is unavailable (its
// agent gone: Available is no longer True, 5 lease durations after the last
// renewal) it removes the work's finalizers as well (ForceDeleteAllManifestWorks),
// since no work agent is left to do it. Until then OCM keeps the ManagedCluster.
func (s *Simulator) forgetCluster(ctx context.Context, h *hub, cluster string, mc *unstructured.Unstructured) error {
	works := h.dyn.Resource(ManifestWorkGVR).Namespace(cluster)
	obj, err := h.works.ByNamespace(cluster).Get(KlusterletWorkName(cluster))
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	work := obj.(*unstructured.Unstructured)
	if work.GetDeletionTimestamp() == nil {
		if err := works.Delete(ctx, work.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		return nil
	}
	if len(work.GetFinalizers()) == 0 {
		return nil
	}
	if mc != nil {
		if available, _ := condition(mc, ConditionAvailable); available == "True" {
			return nil
		}
	}
	work = work.DeepCopy()
	work.SetFinalizers(nil)
	if _, err := works.Update(ctx, work, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}
