package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	builtOnce sync.Once
	builtPath string
	builtErr  error
)

// binary builds hubmigrate once, stamped as `make build` stamps it.
func binary(t *testing.T) string {
	t.Helper()
	builtOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hubmigrate-cli")
		if err != nil {
			builtErr = err
			return
		}
		builtPath = filepath.Join(dir, "hubmigrate")
		out, err := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7 -X main.revision=0123abc", "-o", builtPath, ".").CombinedOutput()
		if err != nil {
			builtErr = errors.New(string(out))
		}
	})
	require.NoError(t, builtErr)
	return builtPath
}

func runCLI(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode()
	}
	require.NoError(t, err)
	return string(out), 0
}

func TestVersionSaysWhichBuildRuns(t *testing.T) {
	out, code := runCLI(t, nil, "version")
	assert.Equal(t, 0, code)
	assert.Regexp(t, `^hubmigrate v9\.8\.7 \(revision 0123abc, go1\.[0-9.]+\)\n$`, out)
}

// An unknown command or flag is an error with exit code 2, never the
// controller starting by surprise.
func TestUnknownCommandsAndFlagsAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"}, {"abandonn", "x"}, {"--no-such-flag"}, {"controller", "--no-such-flag"},
		{"controller", "extra"}, {"retry"}, {"retry", "a", "b"}, {"retry", "--no-such-flag", "m"},
		{"version", "x"}, {"version", "-o", "xml"}, {"hub"}, {"hub", "add", "h1"}, {"hub", "check"}, {"hub", "frob"},
	} {
		out, code := runCLI(t, nil, args...)
		assert.Equal(t, 2, code, "%v: %s", args, out)
	}
	out, _ := runCLI(t, nil, "frobnicate")
	assert.Contains(t, out, `unknown command "frobnicate"`)
	out, _ = runCLI(t, nil, "hub", "add", "h1")
	assert.Contains(t, out, `"context" not set`, "hub add needs the hub's context")
}

// Installed as kubectl-hubmigrate, help and errors say `kubectl hubmigrate`.
func TestKubectlPlugin(t *testing.T) {
	plugin := filepath.Join(t.TempDir(), "kubectl-hubmigrate")
	require.NoError(t, os.Symlink(binary(t), plugin))
	out, err := exec.Command(plugin, "--help").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "kubectl hubmigrate [command]")
	out, err = exec.Command(plugin, "frobnicate").CombinedOutput()
	assert.Error(t, err)
	assert.Contains(t, string(out), "kubectl hubmigrate: unknown command")
}

// version -o json|yaml is data.
func TestVersionAsData(t *testing.T) {
	out, code := runCLI(t, nil, "version", "-o", "json")
	require.Equal(t, 0, code, out)
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	assert.Equal(t, "v9.8.7", v["version"])
	assert.Equal(t, "0123abc", v["revision"])
	out, code = runCLI(t, nil, "version", "-o", "yaml")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "version: v9.8.7\n")
}

// retry finds the home cluster as kubectl does: $KUBECONFIG here, whose
// only server is a closed port the error then names.
func TestRetryLoadsKubeconfigAsKubectlDoes(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "config")
	require.NoError(t, os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: "t"}}]
contexts:
- {name: home, context: {cluster: c, user: u, namespace: from-context}}
- {name: other, context: {cluster: c, user: u, namespace: other-ns}}
current-context: home
`), 0o600))
	out, code := runCLI(t, []string{"KUBECONFIG=" + kc, "HOME=" + t.TempDir()}, "retry", "m")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "127.0.0.1:9", "the server of $KUBECONFIG was contacted")
	assert.Contains(t, out, "from-context", "the context's namespace is the default")
	out, _ = runCLI(t, []string{"KUBECONFIG=" + kc}, "retry", "--context", "other", "m")
	assert.Contains(t, out, "other-ns", "--context picks the context")
	assert.True(t, strings.Contains(out, "127.0.0.1:9"), out)
	out, _ = runCLI(t, []string{"KUBECONFIG=" + kc}, "retry", "m", "-n", "given")
	assert.Contains(t, out, "given", "-n names the namespace, after the name too")
}

// --logging-format=json writes one JSON object a line, for log collectors;
// an unknown format is refused.
func TestJSONLogs(t *testing.T) {
	out, code := runCLI(t, nil, "controller", "--logging-format=json", "--kubeconfig="+filepath.Join(t.TempDir(), "missing"))
	assert.Equal(t, 1, code, out)
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var entry map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &entry), "not a JSON line: %s", line)
		msgs = append(msgs, entry["msg"].(string))
	}
	assert.Contains(t, msgs, "starting")
	assert.Contains(t, msgs, "hubmigrate stopped")

	out, code = runCLI(t, nil, "controller", "--logging-format=xml")
	assert.Equal(t, 2, code, out)
}
