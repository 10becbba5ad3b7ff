package informers

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// testRegistry is a Registry whose Secret cache holds secrets (its informer
// never runs: nothing in these tests talks to a home cluster).
func testRegistry(t *testing.T, secrets ...*corev1.Secret) *Registry {
	t.Helper()
	nowhere := &rest.Config{Host: "https://127.0.0.1:1"}
	r := NewRegistry(nowhere, kubernetes.NewForConfigOrDie(nowhere), Options{Namespace: "hubmigrate", Resync: time.Minute})
	for _, s := range secrets {
		s.Namespace = "hubmigrate"
		require.NoError(t, r.secrets.GetIndexer().Add(s))
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.ctx = ctx
	t.Cleanup(func() {
		r.Stop()
		cancel()
	})
	return r
}

func kubeconfigSecret(hub, kubeconfig string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: hub + "-kubeconfig", ResourceVersion: "1"},
		Data:       map[string][]byte{"kubeconfig": []byte(kubeconfig)},
	}
}

// requireRefused checks err is the KubeconfigRefused ErrNoCredential.
func requireRefused(t *testing.T, err error, hub string) *ErrNoCredential {
	t.Helper()
	require.Error(t, err)
	nc, ok := err.(*ErrNoCredential)
	require.True(t, ok, "want *ErrNoCredential, got %T: %v", err, err)
	assert.Equal(t, hub, nc.Hub)
	assert.Equal(t, "KubeconfigRefused", nc.Code, nc.Reason)
	return nc
}

// The attack: whoever can write a <hub>-kubeconfig Secret names an exec
// plugin, and the controller runs it as soon as a migration names the hub.
// The Secret must be refused and the command never run.
func TestRegistryDoesNotRunExecPlugin(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	r := testRegistry(t, kubeconfigSecret("evil", `apiVersion: v1
kind: Config
clusters:
- name: evil
  cluster:
    server: https://127.0.0.1:1
contexts:
- name: evil
  context: {cluster: evil, user: evil}
current-context: evil
users:
- name: evil
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /bin/sh
      args: ["-c", "touch `+marker+`"]
      interactiveMode: Never
`))
	_, err := r.Hub("evil")
	// The plugin would run on the hub's first request (discovery, at once)
	// or on its informers' lists: give it time to show.
	time.Sleep(time.Second)
	_, statErr := os.Stat(marker)
	assert.True(t, os.IsNotExist(statErr), "the exec plugin ran: %v", statErr)
	nc := requireRefused(t, err, "evil")
	assert.Contains(t, nc.Reason, "exec")
	assert.NotContains(t, nc.Reason, marker, "the command is not repeated")
}

// The attack: tokenFile names a local file (the pod's own ServiceAccount
// token, say) and the server of the Secret author's choice receives it.
func TestRegistryDoesNotSendALocalFile(t *testing.T) {
	const canary = "canary-4f1d9c2e-the-pods-own-token"
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(canary), 0o600))
	var mu sync.Mutex
	var received []string
	server := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		received = append(received, req.Header.Get("Authorization"))
		mu.Unlock()
		http.NotFound(w, req)
	}))
	defer server.Close()
	r := testRegistry(t, kubeconfigSecret("leaky", `apiVersion: v1
kind: Config
clusters:
- name: leaky
  cluster:
    server: `+server.URL+`
    insecure-skip-tls-verify: true
contexts:
- name: leaky
  context: {cluster: leaky, user: leaky}
current-context: leaky
users:
- name: leaky
  user:
    tokenFile: `+tokenFile+`
`))
	_, err := r.Hub("leaky")
	time.Sleep(time.Second)
	mu.Lock()
	assert.NotContains(t, strings.Join(received, "\n"), canary, "the local file was sent to the Secret's server")
	assert.Empty(t, received, "no request reaches a refused hub")
	mu.Unlock()
	nc := requireRefused(t, err, "leaky")
	assert.Contains(t, nc.Reason, "tokenFile")
	assert.NotContains(t, err.Error(), canary)
	assert.NotContains(t, err.Error(), tokenFile, "the path is not repeated either")
}

// A refused Secret is not cached: once fixed, the hub is built.
func TestRegistryRefusalNamesTheSecret(t *testing.T) {
	r := testRegistry(t, kubeconfigSecret("proxied", `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1", proxy-url: "http://attacker.example:3128"}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
users:
- name: u
  user: {token: "s3cr3t-token-value"}
`))
	_, _, err := r.configFor("proxied")
	nc := requireRefused(t, err, "proxied")
	assert.True(t, strings.Contains(nc.Reason, "proxied-kubeconfig"), nc.Reason)
	assert.Contains(t, nc.Reason, "proxy-url")
	assert.NotContains(t, nc.Reason, "s3cr3t-token-value")
	assert.NotContains(t, nc.Reason, "attacker.example")
}

// Sentinels: values that must never appear in a refusal.
const (
	secretToken    = "s3cr3t-t0ken-value-7d2f"
	secretPassword = "s3cr3t-passw0rd-91ab"
	secretIDToken  = "s3cr3t-id-token-c4e8"
)

var (
	// Data, not real PEM: client-go copies it as it is.
	caData   = base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n"))
	certData = base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n"))
	keyData  = base64.StdEncoding.EncodeToString([]byte("-----BEGIN EC PRIVATE KEY-----\ns3cr3t-key-5e0a\n-----END EC PRIVATE KEY-----\n"))
)

// kubeconfig is a file with cluster "hub", user "admin" and the current
// context "ctx" joining them; cluster and user are YAML lines of their
// entries, extra is appended at the top level.
func kubeconfig(cluster, user, extra string) string {
	indent := func(lines string) string {
		if lines == "" {
			return "    {}\n"
		}
		var b strings.Builder
		for _, l := range strings.Split(strings.TrimSuffix(lines, "\n"), "\n") {
			b.WriteString("    " + l + "\n")
		}
		return b.String()
	}
	return "apiVersion: v1\nkind: Config\nclusters:\n- name: hub\n  cluster:\n" + indent(cluster) +
		"contexts:\n- name: ctx\n  context: {cluster: hub, user: admin}\ncurrent-context: ctx\n" +
		"users:\n- name: admin\n  user:\n" + indent(user) + extra
}

const hubServer = "server: https://hub.example.com:6443\n"

type refusedCase struct {
	name         string
	data         string
	entry, field string
}

// refusedCases: each names one field of one entry; marker and canary are
// the paths the exec and tokenFile cases would touch and read.
func refusedCases(marker, canaryFile string) []refusedCase {
	cluster := hubServer + "certificate-authority-data: " + caData + "\n"
	token := "token: " + secretToken + "\n"
	return []refusedCase{
		{"exec", kubeconfig(cluster, "exec:\n  apiVersion: client.authentication.k8s.io/v1\n  command: /bin/sh\n  args: [\"-c\", \"touch "+marker+"\"]\n  env: [{name: PASSWORD, value: "+secretPassword+"}]\n  interactiveMode: Never\n", ""), `user "admin"`, "exec"},
		{"auth-provider", kubeconfig(cluster, "auth-provider:\n  name: oidc\n  config: {client-id: hub, id-token: "+secretIDToken+"}\n", ""), `user "admin"`, "auth-provider"},
		{"tokenFile", kubeconfig(cluster, "tokenFile: "+canaryFile+"\n", ""), `user "admin"`, "tokenFile"},
		{"tokenFile beside a token", kubeconfig(cluster, token+"tokenFile: "+canaryFile+"\n", ""), `user "admin"`, "tokenFile"},
		{"client-certificate", kubeconfig(cluster, "client-certificate: /etc/hostname\nclient-key-data: "+keyData+"\n", ""), `user "admin"`, "client-certificate"},
		{"client-key", kubeconfig(cluster, "client-certificate-data: "+certData+"\nclient-key: /etc/hostname\n", ""), `user "admin"`, "client-key"},
		{"certificate-authority", kubeconfig(hubServer+"certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt\n", token, ""), `cluster "hub"`, "certificate-authority"},
		{"as", kubeconfig(cluster, token+"as: system:admin\n", ""), `user "admin"`, "as"},
		{"as-uid", kubeconfig(cluster, token+"as: someone\nas-uid: \"1234\"\n", ""), `user "admin"`, "as-uid"},
		{"as-groups", kubeconfig(cluster, token+"as: someone\nas-groups: [system:masters]\n", ""), `user "admin"`, "as-groups"},
		{"as-user-extra", kubeconfig(cluster, token+"as: someone\nas-user-extra: {scopes: [all]}\n", ""), `user "admin"`, "as-user-extra"},
		{"proxy-url", kubeconfig(cluster+"proxy-url: http://proxy.example.com:3128\n", token, ""), `cluster "hub"`, "proxy-url"},
		// Every entry counts, not only the current context's.
		{"exec in a user no context uses", strings.Replace(kubeconfig(cluster, token, ""), "users:\n", "users:\n- name: other\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: [\"-c\", \"touch "+marker+"\"], interactiveMode: Never}\n", 1), `user "other"`, "exec"},
		{"proxy-url in a cluster no context uses", strings.Replace(kubeconfig(cluster, token, ""), "clusters:\n", "clusters:\n- name: spare\n  cluster: {server: https://spare.example.com, proxy-url: http://proxy.example.com:3128}\n", 1), `cluster "spare"`, "proxy-url"},
		// No usable current context.
		{"no current-context", strings.Replace(kubeconfig(cluster, token, ""), "current-context: ctx\n", "", 1), "kubeconfig", "current-context"},
		{"current-context names nothing", strings.Replace(kubeconfig(cluster, token, ""), "current-context: ctx\n", "current-context: elsewhere\n", 1), "kubeconfig", "current-context"},
		{"context names no cluster", strings.Replace(kubeconfig(cluster, token, ""), "{cluster: hub,", "{cluster: gone,", 1), `context "ctx"`, "cluster"},
		{"context names no user", strings.Replace(kubeconfig(cluster, token, ""), "user: admin}", "user: gone}", 1), `context "ctx"`, "user"},
		{"cluster without server", kubeconfig("certificate-authority-data: "+caData+"\n", token, ""), `cluster "hub"`, "server"},
		{"no context at all", "apiVersion: v1\nkind: Config\n", "kubeconfig", "current-context"},
	}
}

func TestKubeconfigRefused(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	const canary = "canary-0b7e1a55-local-file-content"
	canaryFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(canaryFile, []byte(canary), 0o600))
	secrets := []string{secretToken, secretPassword, secretIDToken, canary, marker, canaryFile, caData, certData, keyData, "s3cr3t-key-5e0a"}
	for _, tc := range refusedCases(marker, canaryFile) {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := restConfigFromSecretData([]byte(tc.data))
			assert.Nil(t, cfg)
			var refused *KubeconfigRefusedError
			require.ErrorAs(t, err, &refused)
			require.NotEmpty(t, refused.Refusals)
			var fields []string
			for _, r := range refused.Refusals {
				fields = append(fields, r.Entry+": "+r.Field)
				assert.NotEmpty(t, r.Why)
			}
			assert.Contains(t, fields, tc.entry+": "+tc.field)
			assert.Contains(t, err.Error(), tc.entry+": "+tc.field)
			for _, s := range secrets {
				assert.NotContains(t, err.Error(), s, "a refusal quotes no value")
			}

			// Through a Registry: the same refusal, as KubeconfigRefused.
			r := testRegistry(t, kubeconfigSecret("hub", tc.data))
			_, err = r.Hub("hub")
			nc := requireRefused(t, err, "hub")
			assert.Contains(t, nc.Reason, "Secret hub-kubeconfig: ")
			assert.Contains(t, nc.Reason, tc.entry+": "+tc.field)
			for _, s := range secrets {
				assert.NotContains(t, err.Error(), s, "a refusal quotes no value")
			}
		})
	}
	_, err := os.Stat(marker)
	assert.True(t, os.IsNotExist(err), "an exec plugin ran: %v", err)
}

// Every refused field is said, not only the first.
func TestKubeconfigRefusalListsEveryField(t *testing.T) {
	_, err := restConfigFromSecretData([]byte(kubeconfig(hubServer+"proxy-url: http://p.example.com\n", "tokenFile: /x\nexec: {command: /bin/true, apiVersion: client.authentication.k8s.io/v1}\n", "")))
	var refused *KubeconfigRefusedError
	require.ErrorAs(t, err, &refused)
	assert.Equal(t, []string{`cluster "hub": proxy-url`, `user "admin": exec`, `user "admin": tokenFile`}, func() (out []string) {
		for _, r := range refused.Refusals {
			out = append(out, r.Entry+": "+r.Field)
		}
		return out
	}())
}

// What does not parse, or what client-go finds inconsistent, stays
// KubeconfigInvalid.
func TestKubeconfigInvalidIsNotARefusal(t *testing.T) {
	for name, data := range map[string]string{
		"garbled":                  "{not a kubeconfig",
		"two authentication kinds": kubeconfig(hubServer, "token: "+secretToken+"\nusername: u\npassword: "+secretPassword+"\n", ""),
		"certificate without key":  kubeconfig(hubServer, "client-certificate-data: "+certData+"\n", ""),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := restConfigFromSecretData([]byte(data))
			require.Error(t, err)
			var refused *KubeconfigRefusedError
			assert.False(t, errors.As(err, &refused), "%v", err)
			assert.NotContains(t, err.Error(), secretToken)
			assert.NotContains(t, err.Error(), secretPassword)
			r := testRegistry(t, kubeconfigSecret("hub", data))
			_, err = r.Hub("hub")
			require.Error(t, err)
			assert.Equal(t, "KubeconfigInvalid", err.(*ErrNoCredential).Code)
		})
	}
}

func acceptedCases() map[string]string {
	return map[string]string{
		"token":                     kubeconfig(hubServer+"certificate-authority-data: "+caData+"\n", "token: "+secretToken+"\n", ""),
		"client certificate data":   kubeconfig(hubServer+"certificate-authority-data: "+caData+"\n", "client-certificate-data: "+certData+"\nclient-key-data: "+keyData+"\n", ""),
		"basic auth":                kubeconfig(hubServer+"certificate-authority-data: "+caData+"\n", "username: admin\npassword: "+secretPassword+"\n", ""),
		"insecure, tls-server-name": kubeconfig(hubServer+"insecure-skip-tls-verify: true\ntls-server-name: api.hub.example.com\n", "token: "+secretToken+"\n", ""),
		"no user":                   strings.Replace(kubeconfig(hubServer+"certificate-authority-data: "+caData+"\n", "", ""), ", user: admin}", "}", 1),
		"Cluster API's secret":      kubeconfig(hubServer+"certificate-authority-data: "+caData+"\n", "token: "+secretToken+"\n", "preferences: {}\n"),
	}
}

func TestKubeconfigAccepted(t *testing.T) {
	ca, _ := base64.StdEncoding.DecodeString(caData)
	cert, _ := base64.StdEncoding.DecodeString(certData)
	key, _ := base64.StdEncoding.DecodeString(keyData)
	want := map[string]func(t *testing.T, c *rest.Config){
		"token": func(t *testing.T, c *rest.Config) {
			assert.Equal(t, secretToken, c.BearerToken)
			assert.Equal(t, ca, c.CAData)
			assert.False(t, c.Insecure)
		},
		"client certificate data": func(t *testing.T, c *rest.Config) {
			assert.Equal(t, cert, c.CertData)
			assert.Equal(t, key, c.KeyData)
			assert.Equal(t, ca, c.CAData)
			assert.Empty(t, c.BearerToken)
		},
		"basic auth": func(t *testing.T, c *rest.Config) {
			assert.Equal(t, "admin", c.Username)
			assert.Equal(t, secretPassword, c.Password)
		},
		"insecure, tls-server-name": func(t *testing.T, c *rest.Config) {
			assert.True(t, c.Insecure)
			assert.Equal(t, "api.hub.example.com", c.ServerName)
			assert.Equal(t, secretToken, c.BearerToken)
		},
		"no user": func(t *testing.T, c *rest.Config) {
			assert.Empty(t, c.BearerToken)
			assert.Empty(t, c.CertData)
		},
		"Cluster API's secret": func(t *testing.T, c *rest.Config) {
			assert.Equal(t, secretToken, c.BearerToken)
		},
	}
	for name, data := range acceptedCases() {
		t.Run(name, func(t *testing.T) {
			c, err := restConfigFromSecretData([]byte(data))
			require.NoError(t, err)
			assert.Equal(t, "https://hub.example.com:6443", c.Host)
			assertNothingButData(t, c)
			want[name](t, c)

			// Through a Registry, under either key.
			for _, key := range []string{"kubeconfig", "value"} {
				r := testRegistry(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hub-kubeconfig", ResourceVersion: "7"}, Data: map[string][]byte{key: []byte(data)}})
				c, version, err := r.configFor("hub")
				require.NoError(t, err)
				assert.Equal(t, "7", version)
				assert.Equal(t, "https://hub.example.com:6443", c.Host)
				want[name](t, c)
			}
		})
	}
}

// An accepted kubeconfig works: its CA verifies the server and its token
// is what the server receives.
func TestAcceptedKubeconfigReachesItsServer(t *testing.T) {
	got := make(chan string, 1)
	server := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case got <- req.Header.Get("Authorization"):
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"major":"1","minor":"34","gitVersion":"v1.34.4"}`))
	}))
	defer server.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw})
	c, err := restConfigFromSecretData([]byte(kubeconfig("server: "+server.URL+"\ncertificate-authority-data: "+base64.StdEncoding.EncodeToString(ca)+"\n", "token: "+secretToken+"\n", "")))
	require.NoError(t, err)
	kube, err := kubernetes.NewForConfig(c)
	require.NoError(t, err)
	v, err := kube.Discovery().ServerVersion()
	require.NoError(t, err)
	assert.Equal(t, "v1.34.4", v.GitVersion)
	assert.Equal(t, "Bearer "+secretToken, <-got)
}

// assertNothingButData: the config can neither run nor read anything.
func assertNothingButData(t testing.TB, c *rest.Config) {
	t.Helper()
	if c.ExecProvider != nil || c.AuthProvider != nil || c.AuthConfigPersister != nil {
		t.Fatalf("config runs a plugin: exec %v, auth-provider %v", c.ExecProvider != nil, c.AuthProvider != nil)
	}
	if c.BearerTokenFile != "" || c.CertFile != "" || c.KeyFile != "" || c.CAFile != "" {
		t.Fatalf("config reads a file: token %q cert %q key %q ca %q", c.BearerTokenFile, c.CertFile, c.KeyFile, c.CAFile)
	}
	if !reflect.DeepEqual(c.Impersonate, rest.ImpersonationConfig{}) {
		t.Fatalf("config impersonates: %+v", c.Impersonate)
	}
	if c.Proxy != nil {
		t.Fatal("config uses a proxy")
	}
	if c.Dial != nil || c.WrapTransport != nil || c.Transport != nil {
		t.Fatal("config carries code")
	}
}

// FuzzKubeconfig: whatever the Secret holds, parsing never panics, and a
// config that comes out can run nothing, read no file, impersonate no one
// and use no proxy. `go test` runs the seeds; `go test -fuzz FuzzKubeconfig
// ./informers/` explores.
func FuzzKubeconfig(f *testing.F) {
	for _, tc := range refusedCases("/nonexistent/ran", "/nonexistent/token") {
		f.Add([]byte(tc.data))
	}
	for _, data := range acceptedCases() {
		f.Add([]byte(data))
	}
	f.Add([]byte(""))
	f.Add([]byte("{not a kubeconfig"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Config","clusters":[{"name":"","cluster":{"server":"https://h"}}],"contexts":[{"name":"","context":{"cluster":"","user":""}}],"users":[{"name":"","user":{"exec":{"command":"/bin/true"}}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := restConfigFromSecretData(data)
		if err != nil {
			if c != nil {
				t.Fatal("a config with an error")
			}
			return
		}
		assertNothingButData(t, c)
	})
}
