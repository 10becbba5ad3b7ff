package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/klog/v2"
)

// syncAgent steps OCM's registration agent of one cluster, then its work agent.
// The agent's rules are SPEC's: selection once at start, switch on
// hubAcceptsClient=false, and the bootstrap trap.
func (s *Simulator) syncAgent(ctx context.Context, c *Cluster) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return nil
	}
	if wait := c.readyAt.Sub(s.now()); wait > 0 {
		s.queue.AddAfter(agentKey(c.Name), wait)
		return nil
	}
	state := c.state
	defer func() {
		if c.state != state && c.latency > 0 {
			c.readyAt = s.now().Add(c.latency)
		}
	}()
	var err error
	switch c.state {
	case Starting, CrashLooping:
		if wait := c.restartAt.Sub(s.now()); wait > 0 {
			s.queue.AddAfter(agentKey(c.Name), wait)
			return nil
		}
		err = s.selectBootstrap(ctx, c)
	case Bootstrapping:
		err = s.fileCSR(ctx, c)
	case WaitingForCSR:
		err = s.waitForCSR(ctx, c)
	case Joined:
		err = s.joined(ctx, c)
	}
	if err != nil {
		return err
	}
	return s.syncWorkAgent(ctx, c)
}

// restart is a restart of the registration agent: it selects again at start.
func (s *Simulator) restart(c *Cluster, why string) {
	klog.V(2).InfoS("sim: registration agent restarts", "cluster", c.Name, "why", why)
	c.state = Starting
	c.restarts++
	c.restartAt = time.Time{}
	s.queue.Add(agentKey(c.Name))
}

// crash is an exit of the agent; the kubelet starts it again with back-off.
func (s *Simulator) crash(c *Cluster, why string) {
	klog.V(2).InfoS("sim: registration agent exits", "cluster", c.Name, "why", why)
	if c.backoff == 0 {
		c.backoff = s.opts.RestartBackoff
	} else if c.backoff < 8*s.opts.RestartBackoff {
		c.backoff *= 2
	}
	c.state = CrashLooping
	c.restarts++
	c.restartAt = s.now().Add(c.backoff)
	s.queue.AddAfter(agentKey(c.Name), c.backoff)
}

// selectBootstrap is MultipleHubs' selection at start: the bootstrap
// kubeconfig of the current hub if it is valid, else the first valid one.
func (s *Simulator) selectBootstrap(ctx context.Context, c *Cluster) error {
	if len(c.bootstraps) == 0 {
		s.crash(c, "no bootstrap kubeconfig")
		return nil
	}
	var chosen *bootstrapKubeconfig
	if !c.multipleHubs {
		// Without MultipleHubs the agent uses its one bootstrap kubeconfig.
		chosen = &c.bootstraps[0]
	} else {
		if len(c.bootstraps) < 2 {
			s.crash(c, "MultipleHubs needs at least two bootstrap kubeconfigs")
			return nil
		}
		if c.hubCred != nil {
			for i := range c.bootstraps {
				if c.hubCred.validFor(c.bootstraps[i]) && s.bootstrapValid(ctx, c, &c.bootstraps[i]) {
					chosen = &c.bootstraps[i]
					break
				}
			}
		}
		if chosen == nil {
			for i := range c.bootstraps {
				if s.bootstrapValid(ctx, c, &c.bootstraps[i]) {
					chosen = &c.bootstraps[i]
					break
				}
			}
		}
		if chosen == nil {
			s.crash(c, "no valid bootstrap kubeconfig")
			return nil
		}
	}
	sel := *chosen
	c.selected = &sel
	if c.hubCred != nil && c.hubCred.validFor(sel) && s.certificateValid(ctx, c) {
		c.state = Joined
		c.backoff = 0
		c.lastRenew = time.Time{}
	} else {
		c.state = Bootstrapping
	}
	s.queue.Add(agentKey(c.Name))
	return nil
}

// bootstrapValid: its access checks pass with the bootstrap credential, and the
// ManagedCluster on that hub is absent or accepted.
func (s *Simulator) bootstrapValid(ctx context.Context, c *Cluster, b *bootstrapKubeconfig) bool {
	if s.byURL[b.Server] == nil {
		return false
	}
	cl, err := s.bootstrapClients(b)
	if err != nil {
		return false
	}
	for _, attrs := range []authorizationv1.ResourceAttributes{
		{Group: "certificates.k8s.io", Resource: "certificatesigningrequests", Verb: "create"},
		{Group: "cluster.open-cluster-management.io", Resource: "managedclusters", Verb: "get", Name: c.Name},
	} {
		review, err := cl.kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx,
			&authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}, metav1.CreateOptions{})
		if err != nil || !review.Status.Allowed {
			return false
		}
	}
	mc, err := cl.dyn.Resource(ManagedClusterGVR).Get(ctx, c.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true
	}
	return err == nil && accepted(mc)
}

// certificateValid: the hub kubeconfig's certificate authenticates on its hub.
func (s *Simulator) certificateValid(ctx context.Context, c *Cluster) bool {
	h := s.byURL[c.hubCred.Server]
	if h == nil {
		return false
	}
	cl, err := s.hubClients(h, c.hubCred)
	if err != nil {
		return false
	}
	_, err = cl.kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	return err == nil
}

// fileCSR creates the ManagedCluster if absent and files a CSR, with the
// bootstrap credential, as OCM's agent does.
func (s *Simulator) fileCSR(ctx context.Context, c *Cluster) error {
	h := s.byURL[c.selected.Server]
	if h == nil || c.neverCSROn[h.Name] {
		return nil
	}
	cl, err := s.bootstrapClients(c.selected)
	if err != nil {
		return err
	}
	if _, err := cl.dyn.Resource(ManagedClusterGVR).Get(ctx, c.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		mc := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
			"metadata": map[string]any{"name": c.Name},
			"spec": map[string]any{
				"hubAcceptsClient":            false,
				"leaseDurationSeconds":        int64(60),
				"managedClusterClientConfigs": []any{map[string]any{"url": "https://" + c.Name + ".spoke.test:6443"}},
			},
		}}
		if _, err := cl.dyn.Resource(ManagedClusterGVR).Create(ctx, mc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create ManagedCluster on %s: %w", h.Name, err)
		}
	} else if err != nil {
		return fmt.Errorf("get ManagedCluster on %s: %w", h.Name, err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{
		CommonName:   AgentUser(c.Name, c.agent),
		Organization: []string{ClusterGroup(c.Name), ManagedClustersGroup},
	}}
	if c.csrMutator != nil {
		c.csrMutator(tmpl)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: c.Name + "-", Labels: map[string]string{LabelClusterName: c.Name}},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth},
		},
	}
	created, err := cl.kube.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("file CSR on %s: %w", h.Name, err)
	}
	klog.V(2).InfoS("sim: agent filed a CSR", "cluster", c.Name, "hub", h.Name, "csr", created.Name)
	c.csrName = created.Name
	c.csrKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	c.state = WaitingForCSR
	return nil
}

// waitForCSR is the bootstrap trap: the agent watches nothing but its CSR. A
// deleted CSR is filed again at once; a denied one is waited on forever.
func (s *Simulator) waitForCSR(ctx context.Context, c *Cluster) error {
	h := s.byURL[c.selected.Server]
	obj, exists, err := h.csrs.GetByKey(c.csrName)
	if err != nil {
		return err
	}
	var csr *certificatesv1.CertificateSigningRequest
	if exists {
		csr = obj.(*certificatesv1.CertificateSigningRequest)
	} else {
		// The cache may not have seen a CSR filed a moment ago: ask the server.
		csr, err = h.kube.CertificatesV1().CertificateSigningRequests().Get(ctx, c.csrName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			c.state = Bootstrapping
			return s.fileCSR(ctx, c)
		}
		if err != nil {
			return err
		}
	}
	for _, cond := range csr.Status.Conditions {
		if cond.Type == certificatesv1.CertificateDenied || cond.Type == certificatesv1.CertificateFailed {
			return nil
		}
	}
	if len(csr.Status.Certificate) == 0 {
		return nil
	}
	c.hubCred = &hubCredential{Server: c.selected.Server, CAData: c.selected.CAData, Cluster: c.selected.Cluster, CertPEM: csr.Status.Certificate, KeyPEM: c.csrKeyPEM}
	c.csrName, c.csrKeyPEM = "", nil
	c.state = Joined
	c.backoff = 0
	c.lastRenew = time.Time{}
	klog.V(2).InfoS("sim: agent joined", "cluster", c.Name, "hub", h.Name)
	s.queue.Add(agentKey(c.Name))
	return nil
}

// joined renews the lease and keeps Joined and Available set; with
// MultipleHubs, hubAcceptsClient=false on its hub makes it restart and select again.
func (s *Simulator) joined(ctx context.Context, c *Cluster) error {
	h := s.byURL[c.hubCred.Server]
	obj, err := h.mcs.Get(c.Name)
	if err == nil {
		mc := obj.(*unstructured.Unstructured)
		if c.multipleHubs && !accepted(mc) && mc.GetDeletionTimestamp() == nil {
			s.restart(c, "hubAcceptsClient=false on "+h.Name)
			return nil
		}
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	cl, err := s.hubClients(h, c.hubCred)
	if err != nil {
		return err
	}
	now := s.now()
	if c.lastRenew.IsZero() || now.Sub(c.lastRenew) >= s.opts.LeaseDuration {
		if obj, exists, _ := h.leases.GetByKey(c.Name + "/" + LeaseName); exists {
			lease := obj.(*coordinationv1.Lease).DeepCopy()
			t := metav1.NewMicroTime(now)
			lease.Spec.RenewTime = &t
			if _, err := cl.kube.CoordinationV1().Leases(c.Name).Update(ctx, lease, metav1.UpdateOptions{}); err == nil {
				c.lastRenew = now
			} else if apierrors.IsConflict(err) {
				return err // a stale cache: retried at once with back-off
			}
		}
	}
	if mcObj, err := h.mcs.Get(c.Name); err == nil {
		mc := mcObj.(*unstructured.Unstructured).DeepCopy()
		ts := now.UTC().Format(time.RFC3339)
		changed := setCondition(mc, ConditionJoined, "True", "ManagedClusterJoined", ts, 0)
		if !c.lastRenew.IsZero() {
			changed = setCondition(mc, ConditionAvailable, "True", "ManagedClusterAvailable", ts, 0) || changed
		}
		if changed {
			if _, err := cl.dyn.Resource(ManagedClusterGVR).UpdateStatus(ctx, mc, metav1.UpdateOptions{}); err != nil && !apierrors.IsForbidden(err) {
				return err
			}
		}
	}
	next := s.opts.LeaseDuration
	if !c.lastRenew.IsZero() {
		next = s.opts.LeaseDuration - now.Sub(c.lastRenew)
	}
	s.queue.AddAfter(agentKey(c.Name), max(next, 50*time.Millisecond))
	return nil
}
