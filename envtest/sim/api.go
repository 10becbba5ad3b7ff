package sim

import (
	"context"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hubmigrate/hubmigrate/envtest"
)

// ClusterOptions describe a managed cluster to import.
type ClusterOptions struct {
	// Mode of the klusterlet; default Singleton, as ACM deploys it.
	Mode Mode
	// Labels and Annotations of its ManagedCluster.
	Labels, Annotations map[string]string
}

// AddCluster imports a new managed cluster into a hub as an admin would: an
// accepted ManagedCluster, then the import manifest applied on the managed
// cluster (the klusterlet starts with the hub's bootstrap kubeconfig). The
// agent then files its CSR, the import controller approves it, and it joins.
func (s *Simulator) AddCluster(ctx context.Context, name, hubName string, opts ClusterOptions) error {
	h, err := s.hubByName(hubName)
	if err != nil {
		return err
	}
	if opts.Mode == "" {
		opts.Mode = Singleton
	}
	s.mu.Lock()
	if _, exists := s.clusters[name]; exists {
		s.mu.Unlock()
		return fmt.Errorf("cluster %s already simulated", name)
	}
	c := &Cluster{
		Name: name, agent: fmt.Sprintf("agent%06d", rand.IntN(1000000)),
		mode: opts.Mode, state: Starting, importHub: hubName,
		neverCSROn: map[string]bool{}, rogue: map[string]bool{}, importHeld: map[string]bool{},
	}
	s.clusters[name] = c
	s.mu.Unlock()

	mc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"hubAcceptsClient": true, "leaseDurationSeconds": int64(60)},
	}}
	mc.SetLabels(opts.Labels)
	mc.SetAnnotations(opts.Annotations)
	_, err = h.dyn.Resource(ManagedClusterGVR).Create(ctx, mc, metav1.CreateOptions{})
	return err
}

// Status is a snapshot of the cluster's agent.
func (s *Simulator) Status(name string) (Status, error) {
	c := s.cluster(name)
	if c == nil {
		return Status{}, fmt.Errorf("cluster %s is not simulated", name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Status{State: c.state, CSR: c.csrName, Restarts: c.restarts, MultipleHubs: c.multipleHubs, Mode: c.mode}
	if c.selected != nil && (c.state == Joined || c.state == WaitingForCSR || c.state == Bootstrapping) {
		st.Hub = s.hubName(c.selected.Server)
	}
	if c.hubCred != nil {
		st.CertificateHub = s.hubName(c.hubCred.Server)
	}
	for _, b := range c.bootstraps {
		st.Bootstraps = append(st.Bootstraps, s.hubName(b.Server))
	}
	return st, nil
}

func (s *Simulator) hubName(url string) string {
	if h := s.byURL[url]; h != nil {
		return h.Name
	}
	return url
}

// WaitFor polls the cluster's status until cond holds or the timeout passes.
func (s *Simulator) WaitFor(ctx context.Context, name string, timeout time.Duration, cond func(Status) bool) (Status, error) {
	deadline := time.Now().Add(timeout)
	for {
		st, err := s.Status(name)
		if err != nil {
			return st, err
		}
		if cond(st) {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("cluster %s: condition not met within %s (last: %+v)", name, timeout, st)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// JoinedTo is a WaitFor condition: joined to the hub.
func JoinedTo(hub string) func(Status) bool {
	return func(st Status) bool { return st.State == Joined && st.Hub == hub }
}

func (s *Simulator) withCluster(name string, f func(c *Cluster)) error {
	c := s.cluster(name)
	if c == nil {
		return fmt.Errorf("cluster %s is not simulated", name)
	}
	c.mu.Lock()
	f(c)
	c.mu.Unlock()
	s.queue.Add(agentKey(name))
	for h := range s.hubs {
		s.queue.Add(hubKey(h, name))
	}
	return nil
}

// RestartAgent restarts the cluster's registration agent now (a pod restart).
func (s *Simulator) RestartAgent(name string) error {
	return s.withCluster(name, func(c *Cluster) { s.restart(c, "restarted by the test") })
}

// SetDown stops (true) or resumes (false) everything the cluster's klusterlet does.
func (s *Simulator) SetDown(name string, down bool) error {
	return s.withCluster(name, func(c *Cluster) { c.down = down })
}

// SetMode sets the klusterlet's deploy mode, as rendered by the import controller.
func (s *Simulator) SetMode(name string, mode Mode) error {
	return s.withCluster(name, func(c *Cluster) { c.mode = mode })
}

// NeverFileCSROn makes the agent select the hub but never file a CSR there.
func (s *Simulator) NeverFileCSROn(name, hub string, never bool) error {
	return s.withCluster(name, func(c *Cluster) { c.neverCSROn[hub] = never })
}

// SetCSRMutator changes the CSRs the agent files from now on (a wrong CN, an
// extra organization, a SAN...); nil restores OCM's.
func (s *Simulator) SetCSRMutator(name string, mutate func(*x509.CertificateRequest)) error {
	return s.withCluster(name, func(c *Cluster) { c.csrMutator = mutate })
}

// RogueOnNextCSR arms a third party to approve (or deny) the cluster's next
// pending CSR on the hub.
func (s *Simulator) RogueOnNextCSR(name, hub string, approve bool) error {
	return s.withCluster(name, func(c *Cluster) { c.rogue[hub] = approve })
}

// HoldImport stops (or lets again) the hub's import controller from rendering
// the cluster's klusterlet work: a slow import controller, so a test can act
// between an agent's join and its re-pointing.
func (s *Simulator) HoldImport(name, hub string, hold bool) error {
	return s.withCluster(name, func(c *Cluster) { c.importHeld[hub] = hold })
}

// Hubs lists how to reach each hub of a test world.
func Hubs(cps ...*envtest.ControlPlane) []HubInfo {
	var hubs []HubInfo
	for _, cp := range cps {
		hubs = append(hubs, HubInfo{Name: cp.Name, URL: cp.URL(), CAData: cp.CA.CertPEM, Admin: cp.AdminConfig()})
	}
	return hubs
}

// SetLatency makes the agent take d for each step (select, file a CSR, join).
func (s *Simulator) SetLatency(name string, d time.Duration) error {
	return s.withCluster(name, func(c *Cluster) { c.latency = d })
}
