package e2e

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/hubmigrate/hubmigrate/envtest"
)

var (
	cliOnce  sync.Once
	cliDir   string
	cliErr   error
	cliBuilt string
)

// cliKubeconfig is an admin's kubeconfig: a context for home (current, its
// namespace ops, where the tests' migrations live) and one for each hub.
func cliKubeconfig(t *testing.T, dir string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	for _, name := range []string{envtest.HomeName, "hub1", "hub2"} {
		cfg := world.Planes[name].AdminConfig()
		kc.Clusters[name] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
		kc.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
		kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	kc.Contexts[envtest.HomeName].Namespace = "ops"
	kc.CurrentContext = envtest.HomeName
	path := filepath.Join(dir, "config")
	require.NoError(t, clientcmd.WriteToFile(*kc, path))
	return path
}

// cliBinary is the hubmigrate binary, built once.
func cliBinary(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		if cliDir, cliErr = os.MkdirTemp("", "hubmigrate-e2e-cli"); cliErr != nil {
			return
		}
		cliBuilt = filepath.Join(cliDir, "hubmigrate")
		if out, err := exec.Command("go", "build", "-o", cliBuilt, "../../cmd/hubmigrate").CombinedOutput(); err != nil {
			cliErr = errors.New(string(out))
		}
	})
	require.NoError(t, cliErr)
	return cliBuilt
}

// hubmigrateCLI runs the hubmigrate binary as an admin would, with
// cliKubeconfig as $KUBECONFIG: its combined output and exit code.
func hubmigrateCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(cliBinary(t), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cliKubeconfig(t, t.TempDir()))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode()
	}
	require.NoError(t, err, "%s", out)
	return string(out), 0
}

// cliPlan is what `hubmigrate plan -o json` says.
type cliPlan struct {
	Exists bool
	Hubs   []struct {
		Hub, Role, Problem string
		Missing            []string
	}
	Clusters []struct {
		Name, Verdict, Phase, Reason, Message string
		Next                                  []string
	}
}

// verdicts are a plan's verdict (and reason) by cluster: "migrates",
// "refused:IsHub", ...
func (p cliPlan) verdicts() map[string]string {
	out := map[string]string{}
	for _, c := range p.Clusters {
		out[c.Name] = c.Verdict
		if c.Reason != "" {
			out[c.Name] += ":" + c.Reason
		}
	}
	return out
}

// planOf runs `hubmigrate plan` for the migration m before it is created
// (from a file, as an admin would write it): the plan and the exit code.
func planOf(t *testing.T, m migrationSpec) (cliPlan, int) {
	t.Helper()
	// The admin's namespace exists (createMigration makes it too).
	kube, _ := clients(t, "home")
	_, _ = kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: m.namespace}}, metav1.CreateOptions{})
	data, err := yaml.Marshal(m.object().Object)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), m.name+".yaml")
	require.NoError(t, os.WriteFile(file, data, 0o600))
	table, _ := hubmigrateCLI(t, "plan", "-f", file, "--hubmigrate-namespace", envtest.ProductNamespace)
	t.Logf("hubmigrate plan -f %s.yaml:\n%s", m.name, table)
	out, code := hubmigrateCLI(t, "plan", "-f", file, "-o", "json", "--hubmigrate-namespace", envtest.ProductNamespace)
	var p cliPlan
	require.NoError(t, json.Unmarshal([]byte(out), &p), "exit %d: %s", code, out)
	return p, code
}

// gatherBundle runs `hubmigrate gather` for the migrations named (in ops)
// and returns the files of its tarball by name.
func gatherBundle(t *testing.T, names ...string) map[string]string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "bundle.tar.gz")
	out, code := hubmigrateCLI(t, append([]string{"gather", "-f", file, "--hubmigrate-namespace", envtest.ProductNamespace}, names...)...)
	require.Equal(t, 0, code, out)
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[h.Name] = string(data)
	}
	var listing []string
	for name := range files {
		listing = append(listing, name)
	}
	sort.Strings(listing)
	t.Logf("hubmigrate gather: %s%s\nNOTES.txt:\n%s", out, strings.Join(listing, "\n"), files["NOTES.txt"])
	return files
}
