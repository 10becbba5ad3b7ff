package informers

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func plainKubeconfig(server string) string {
	return `apiVersion: v1
kind: Config
clusters:
- name: h
  cluster: {server: "` + server + `", insecure-skip-tls-verify: true}
contexts:
- name: h
  context: {cluster: h, user: u}
current-context: h
users:
- name: u
  user: {token: t}
`
}

// A hub that accepts connections and never answers must not stall the
// lookup of another hub: the registry's lock is not held across a request
// to a hub (issue 14, defect 10).
func TestAHungHubDoesNotStallTheOthers(t *testing.T) {
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer hung.Close()
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			defer c.Close() // read nothing, answer nothing
		}
	}()
	r := testRegistry(t,
		kubeconfigSecret("hung", plainKubeconfig("https://"+hung.Addr().String())),
		kubeconfigSecret("other", plainKubeconfig("https://127.0.0.1:1")))
	go func() { _, _ = r.Hub("hung") }()
	time.Sleep(200 * time.Millisecond) // the hung hub's lookup is under way
	done := make(chan error, 1)
	go func() {
		_, err := r.Hub("other")
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second): // a TLS handshake to the hung hub times out after 10 s
		t.Fatal("looking up a hub waited for another hub that does not answer")
	}
}
