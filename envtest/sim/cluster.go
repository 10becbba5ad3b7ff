package sim

import (
	"bytes"
	"crypto/x509"
	"sync"
	"time"
)

// Mode is the klusterlet's deploy mode.
type Mode string

const (
	// Singleton (ACM's default): the work agent runs only while the
	// registration agent's hub kubeconfig is valid for its selected bootstrap
	// kubeconfig, so not while it waits on a CSR.
	Singleton Mode = "Singleton"
	// Default: the work agent runs on its own.
	Default Mode = "Default"
)

// AgentState is where a simulated registration agent is.
type AgentState string

const (
	// Starting: the agent (re)starts and selects a bootstrap kubeconfig.
	Starting AgentState = "Starting"
	// CrashLooping: no bootstrap kubeconfig was valid; the kubelet restarts it with back-off.
	CrashLooping AgentState = "CrashLooping"
	// Bootstrapping: it holds a valid bootstrap kubeconfig and is about to file a CSR.
	Bootstrapping AgentState = "Bootstrapping"
	// WaitingForCSR: the bootstrap trap. Only a restart frees it.
	WaitingForCSR AgentState = "WaitingForCSR"
	// Joined: it holds a certificate for its hub and renews its lease there.
	Joined AgentState = "Joined"
)

// bootstrapKubeconfig is one bootstrap kubeconfig on the managed cluster.
type bootstrapKubeconfig struct {
	Name string // the Secret it was delivered in
	// Cluster is the name of the kubeconfig's cluster entry: OCM's agent
	// copies it into the hub kubeconfig and holds that valid only for a
	// bootstrap kubeconfig of the same name.
	Cluster string
	Server  string
	CAData  []byte
	Token   string
}

// hubCredential is the agent's hub kubeconfig: a certificate issued by one
// hub, with the server, CA and cluster name of the bootstrap kubeconfig it
// was obtained with.
type hubCredential struct {
	Server  string
	CAData  []byte
	Cluster string
	CertPEM []byte
	KeyPEM  []byte
}

// validFor is OCM's IsHubKubeconfigValid: the hub kubeconfig is kept only
// with a bootstrap kubeconfig of the same server, CA and cluster name;
// otherwise the agent bootstraps again (a new CSR), even on the same hub.
func (h *hubCredential) validFor(b bootstrapKubeconfig) bool {
	return h.Server == b.Server && bytes.Equal(h.CAData, b.CAData) && h.Cluster == b.Cluster
}

// Cluster is one simulated managed cluster: its klusterlet's local state (what
// the real one keeps in Secrets on the managed cluster) and the knobs tests turn.
type Cluster struct {
	Name  string
	agent string // the agent ID in its certificate's CN

	mu sync.Mutex
	// knobs
	mode       Mode
	down       bool
	neverCSROn map[string]bool
	csrMutator func(*x509.CertificateRequest)
	rogue      map[string]bool // hub → approve (true) or deny (false) its next pending CSR
	importHeld map[string]bool // hubs whose import controller does not render its klusterlet work
	latency    time.Duration   // how long the agent takes for each step
	readyAt    time.Time       // when it may take its next step

	// klusterlet state
	bootstraps   []bootstrapKubeconfig
	multipleHubs bool
	selected     *bootstrapKubeconfig
	hubCred      *hubCredential
	state        AgentState
	csrName      string
	csrKeyPEM    []byte
	restarts     int
	backoff      time.Duration
	restartAt    time.Time
	lastRenew    time.Time
	importHub    string // the hub it was first imported into
}

// Status is a snapshot of a simulated agent, for tests.
type Status struct {
	State AgentState
	// Hub is the hub the agent is joined to or waiting on.
	Hub string
	// CSR is the name of the CSR it waits on.
	CSR string
	// CertificateHub is the hub whose certificate the agent holds.
	CertificateHub string
	// Restarts counts restarts of the registration agent (crash-loop included).
	Restarts     int
	Bootstraps   []string
	MultipleHubs bool
	Mode         Mode
}
