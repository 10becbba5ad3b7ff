package envtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ControlPlane is one cluster of the test world: its own etcd and
// kube-apiserver and, for a hub, a kube-controller-manager running only the
// controllers a hub needs from it (CSR signing, namespace deletion, garbage
// collection). Its API server can be stopped and started again on the same
// data and port, as a fault.
type ControlPlane struct {
	Name string
	Dir  string
	CA   *CA
	Hub  bool

	apiPort, etcdPort, etcdPeerPort int
	bins                            binaries
	etcd, apiserver, kcm            *process
	admin                           *rest.Config
	webhook                         *terminatingNamespaceWebhook
}

// StartControlPlane starts the control plane called name under dir.
func StartControlPlane(ctx context.Context, name, dir string, hub bool) (*ControlPlane, error) {
	bins, err := findBinaries()
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{Name: name, Dir: dir, Hub: hub, bins: bins}
	if err := cp.preparePKI(); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	cp.apiPort, cp.etcdPort, cp.etcdPeerPort = ports[0], ports[1], ports[2]
	if err := cp.startEtcd(ctx); err != nil {
		cp.Stop()
		return nil, err
	}
	if err := cp.StartAPIServer(ctx); err != nil {
		cp.Stop()
		return nil, err
	}
	if hub {
		if err := cp.startControllerManager(); err != nil {
			cp.Stop()
			return nil, err
		}
	}
	return cp, nil
}

func (cp *ControlPlane) pki(name string) string { return filepath.Join(cp.Dir, "pki", name) }

func (cp *ControlPlane) preparePKI() error {
	if err := os.MkdirAll(filepath.Join(cp.Dir, "pki"), 0o700); err != nil {
		return err
	}
	ca, err := NewCA(cp.Name)
	if err != nil {
		return err
	}
	cp.CA = ca
	serving, err := ca.ServingCert()
	if err != nil {
		return err
	}
	admin, err := ca.ClientCert("world-admin", "system:masters")
	if err != nil {
		return err
	}
	saKey, saPub, err := newServiceAccountKey()
	if err != nil {
		return err
	}
	if err := writeFiles(filepath.Join(cp.Dir, "pki"), map[string][]byte{
		"ca.crt": ca.CertPEM, "ca.key": ca.KeyPEM,
		"serving.crt": serving.CertPEM, "serving.key": serving.KeyPEM,
		"admin.crt": admin.CertPEM, "admin.key": admin.KeyPEM,
		"sa.key": saKey, "sa.pub": saPub,
	}); err != nil {
		return err
	}
	cp.admin = &rest.Config{
		TLSClientConfig: rest.TLSClientConfig{CAData: ca.CertPEM, CertData: admin.CertPEM, KeyData: admin.KeyPEM},
		QPS:             200, Burst: 400,
	}
	return nil
}

// URL is the API server's address, as managed clusters and hubmigrate reach it.
func (cp *ControlPlane) URL() string { return "https://127.0.0.1:" + strconv.Itoa(cp.apiPort) }

// AdminConfig is a system:masters client config, for the tests themselves.
func (cp *ControlPlane) AdminConfig() *rest.Config {
	c := rest.CopyConfig(cp.admin)
	c.Host = cp.URL()
	return c
}

// UserConfig is a client config authenticating as user (in groups) with a
// client certificate issued by this control plane's CA.
func (cp *ControlPlane) UserConfig(user string, groups ...string) (*rest.Config, error) {
	kp, err := cp.CA.ClientCert(user, groups...)
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host:            cp.URL(),
		TLSClientConfig: rest.TLSClientConfig{CAData: cp.CA.CertPEM, CertData: kp.CertPEM, KeyData: kp.KeyPEM},
		QPS:             200, Burst: 400,
	}, nil
}

// Kubeconfig serialises a client config built by this control plane.
func Kubeconfig(cfg *rest.Config) ([]byte, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["cluster"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["user"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["default"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "user"}
	kc.CurrentContext = "default"
	return clientcmd.Write(*kc)
}

func (cp *ControlPlane) startEtcd(ctx context.Context) error {
	peer := "http://127.0.0.1:" + strconv.Itoa(cp.etcdPeerPort)
	client := "http://127.0.0.1:" + strconv.Itoa(cp.etcdPort)
	p, err := startProcess("etcd", filepath.Join(cp.Dir, "etcd.log"), cp.bins.etcd,
		"--name=default",
		"--data-dir="+filepath.Join(cp.Dir, "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=default="+peer,
		// The world is thrown away after the run: durability buys nothing here.
		"--unsafe-no-fsync=true",
		"--quota-backend-bytes=4294967296",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	cp.etcd = p
	return waitFor(ctx, p, 60*time.Second, func() bool {
		resp, err := http.Get(client + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// StartAPIServer starts (or starts again) the API server on its data and port.
func (cp *ControlPlane) StartAPIServer(ctx context.Context) error {
	if cp.apiserver != nil && !cp.apiserver.exited() {
		return fmt.Errorf("%s: API server already running", cp.Name)
	}
	p, err := startProcess("kube-apiserver", filepath.Join(cp.Dir, "kube-apiserver.log"), cp.bins.apiserver,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(cp.apiPort),
		"--etcd-servers=http://127.0.0.1:"+strconv.Itoa(cp.etcdPort),
		"--tls-cert-file="+cp.pki("serving.crt"),
		"--tls-private-key-file="+cp.pki("serving.key"),
		"--client-ca-file="+cp.pki("ca.crt"),
		"--service-account-issuer=https://"+cp.Name+".hubmigrate.test",
		"--service-account-key-file="+cp.pki("sa.pub"),
		"--service-account-signing-key-file="+cp.pki("sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v=1",
	)
	if err != nil {
		return err
	}
	cp.apiserver = p
	cs, err := kubernetes.NewForConfig(cp.AdminConfig())
	if err != nil {
		return err
	}
	return waitFor(ctx, p, 120*time.Second, func() bool {
		var status int
		cs.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).StatusCode(&status)
		return status == http.StatusOK
	})
}

// apiserverGrace is short on purpose: kube-apiserver's graceful shutdown waits
// on open watches for many seconds, and an abrupt stop is the fault tests want.
const apiserverGrace = 2 * time.Second

// StopAPIServer stops the API server, leaving etcd and its data in place.
func (cp *ControlPlane) StopAPIServer() error { return cp.apiserver.stop(apiserverGrace) }

func (cp *ControlPlane) startControllerManager() error {
	kubeconfig, err := Kubeconfig(cp.AdminConfig())
	if err != nil {
		return err
	}
	path := cp.pki("controller-manager.kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		return err
	}
	p, err := startProcess("kube-controller-manager", filepath.Join(cp.Dir, "kube-controller-manager.log"), cp.bins.controllerManager,
		"--kubeconfig="+path,
		"--controllers=certificatesigningrequest-signing-controller,namespace-controller,garbage-collector-controller",
		"--cluster-signing-cert-file="+cp.pki("ca.crt"),
		"--cluster-signing-key-file="+cp.pki("ca.key"),
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
		"--v=1",
	)
	if err != nil {
		return err
	}
	cp.kcm = p
	// It has no health endpoint without serving; a crash shows at once.
	time.Sleep(500 * time.Millisecond)
	if p.exited() {
		return fmt.Errorf("%s: kube-controller-manager exited: %s", cp.Name, p.tail())
	}
	return nil
}

// Stop ends every process of the control plane.
func (cp *ControlPlane) Stop() {
	cp.kcm.stop(2 * time.Second)
	cp.apiserver.stop(apiserverGrace)
	cp.etcd.stop(5 * time.Second)
	cp.webhook.stop()
}

func waitFor(ctx context.Context, p *process, timeout time.Duration, ready func() bool) error {
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("%s exited", p.name)
		}
		return ready(), nil
	})
	if err != nil {
		return fmt.Errorf("%s not ready: %w\n%s", p.name, err, p.tail())
	}
	return nil
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
