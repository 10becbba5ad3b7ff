package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hubmigrate/hubmigrate/envtest"
)

// The real binary, as a container in a pod would run it: SIGKILLed and
// started again with the same identity ($POD_NAME), it takes its own leader
// Lease back at once; a new pod (another identity) still waits for the dead
// one's Lease to expire. Figures are printed; the bounds are loose.
func TestLeaderIdentityIsStableForAPod(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "hubmigrate")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/hubmigrate")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	productHome, err := world.ProductConfig(envtest.HomeName)
	require.NoError(t, err)
	kubeconfig, err := envtest.Kubeconfig(productHome)
	require.NoError(t, err)
	kcPath := filepath.Join(dir, "home.kubeconfig")
	require.NoError(t, os.WriteFile(kcPath, kubeconfig, 0o600))

	const leaseDuration = 15 * time.Second
	healthAddr := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		return l.Addr().String()
	}
	var probes, metricsAddr string
	start := func(pod string) *exec.Cmd {
		log, err := os.Create(filepath.Join(dir, pod+".log"))
		require.NoError(t, err)
		probes, metricsAddr = healthAddr(), healthAddr()
		cmd := exec.Command(bin, "--kubeconfig="+kcPath, "--namespace="+envtest.ProductNamespace,
			"--migration-namespaces=leader-test-none", "--metrics-bind-address="+metricsAddr, "--health-probe-bind-address="+probes,
			"--leader-elect-lease-duration="+leaseDuration.String())
		cmd.Env = append(os.Environ(), "POD_NAME="+pod)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); log.Close() })
		return cmd
	}
	kube, _ := clients(t, "home")
	heldBy := func(pod string, since time.Time) (time.Duration, error) {
		began := time.Now()
		err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 2*leaseDuration+30*time.Second, true, func(ctx context.Context) (bool, error) {
			l, err := kube.CoordinationV1().Leases(envtest.ProductNamespace).Get(ctx, "hubmigrate", metav1.GetOptions{})
			if err != nil || l.Spec.HolderIdentity == nil || l.Spec.RenewTime == nil {
				return false, nil
			}
			return *l.Spec.HolderIdentity == pod && l.Spec.RenewTime.After(since), nil
		})
		return time.Since(began), err
	}
	kill := func(cmd *exec.Cmd) time.Time {
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		// RenewTime has microseconds; a renewal after this instant is the new process's.
		return time.Now().Add(time.Millisecond)
	}

	first := start("pod-a")
	_, err = heldBy("pod-a", time.Time{})
	require.NoError(t, err, "the first process leads")
	// Its probes answer: ready (its caches synced; no migration names a
	// hub) and live.
	for _, path := range []string{"/readyz", "/healthz"} {
		require.NoError(t, wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			resp, err := http.Get("http://" + probes + path)
			if err != nil {
				return false, nil
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, nil
		}), "%s of the leader", path)
	}
	// Its metrics say which build runs.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Regexp(t, `hubmigrate_build_info\{goversion="go[0-9.]+",revision="[^"]+",version="[^"]+"\} 1`, string(body))
	assert.Regexp(t, `(?m)^hubmigrate_leader 1$`, string(body), "it says it leads (the HubmigrateNoLeader alert sums this)")
	// And client-go's: its workqueue and its requests to home.
	assert.Regexp(t, `workqueue_adds_total\{name="migrations"\} `, string(body))
	assert.Regexp(t, `rest_client_requests_total\{code="200",host="[^"]+",method="GET"\} [1-9]`, string(body))

	killedAt := kill(first)
	restarted := start("pod-a")
	sameIdentity, err := heldBy("pod-a", killedAt)
	require.NoError(t, err)

	killedAt = kill(restarted)
	other := start("pod-b")
	newPod, err := heldBy("pod-b", killedAt)
	require.NoError(t, err)
	_ = other

	fmt.Printf("leader lease (%s): restarted container (same identity) leads after %s; a new pod after %s\n",
		leaseDuration, sameIdentity.Round(10*time.Millisecond), newPod.Round(10*time.Millisecond))
	assert.Less(t, sameIdentity, leaseDuration/2, "a restarted container takes its own lease back at once")
	assert.Greater(t, newPod, leaseDuration/2, "a new pod waits for the dead leader's lease")
}
