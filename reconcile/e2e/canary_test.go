package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/metrics"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// lockedBuffer collects the log of the controller under test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// No secret value hubmigrate handles — the bootstrap tokens it mints, the
// data of the Secrets it copies, its own hub credentials — appears in its
// logs (at verbosity 4), its Events, a migration's status or its metrics,
// across a migration with one cluster completed and one rolled back.
func TestSecretsNeverLeak(t *testing.T) {
	ctx := context.Background()
	clusters := []string{"canary-ok", "canary-rb"}
	importClusters(t, "hub1", sim.Singleton, "canary-ok")
	// In Default mode the restore reaches the agent through its work agent,
	// so the rollback does not wait out the bounded wait of a Singleton one.
	importClusters(t, "hub1", sim.Default, "canary-rb")
	require.NoError(t, simulator.NeverFileCSROn("canary-rb", "hub2", true))
	hub1Kube, _ := clients(t, "hub1")
	canaries := map[string]string{}
	for _, cl := range clusters {
		value := "canary-" + rand.String(24)
		s, err := hub1Kube.CoreV1().Secrets(cl).Get(ctx, "bmc-credentials", metav1.GetOptions{})
		require.NoError(t, err)
		s.Data["password"] = []byte(value)
		_, err = hub1Kube.CoreV1().Secrets(cl).Update(ctx, s, metav1.UpdateOptions{})
		require.NoError(t, err)
		canaries["preserved Secret data of "+cl] = value
	}
	homeKube, _ := clients(t, "home")
	for _, h := range []string{"hub1", "hub2"} {
		s, err := homeKube.CoreV1().Secrets(envtest.ProductNamespace).Get(ctx, h+"-kubeconfig", metav1.GetOptions{})
		require.NoError(t, err)
		kc, err := clientcmd.Load(s.Data["kubeconfig"])
		require.NoError(t, err)
		for name, a := range kc.AuthInfos {
			if a.Token != "" {
				canaries[h+" credential token "+name] = a.Token
			}
			if lines := strings.Split(strings.TrimSpace(string(a.ClientKeyData)), "\n"); len(lines) > 2 {
				canaries[h+" credential key "+name] = lines[len(lines)/2]
			}
		}
	}

	var logs lockedBuffer
	klog.LogToStderr(false)
	klog.SetOutput(&logs)
	var verbosity klog.Level
	_ = verbosity.Set("4")
	defer func() {
		_ = verbosity.Set("0")
		klog.LogToStderr(true)
	}()

	c := startController(t, 30*time.Second)
	createMigration(t, migrationSpec{namespace: "ops", name: "canary", from: "hub1", to: "hub2", clusters: clusters, stageTimeout: "2m"})
	for _, cl := range clusters {
		canaries["bootstrap token of "+cl] = captureToken(t, "ops", "canary", cl)
	}
	_, homeDyn := clients(t, "home")
	c = pastTheDeadline(t, c, "canary-ok completed, canary-rb registering", func() bool {
		m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, "canary", metav1.GetOptions{})
		if err != nil {
			return false
		}
		progress, _, _ := unstructured.NestedString(m.Object, "status", "progress")
		return progress == "1/2" && sourceLabel(t, "canary-rb") == "Registering"
	})
	defer c.stop()
	// Support's bundle, while the tokens and the scaffolding exist.
	bundle := gatherBundle(t, "canary")
	for _, want := range []string{"home/managedclustermigration/ops/canary.yaml", "hubs/hub1/managedcluster/canary-rb.yaml",
		"hubs/hub2/managedcluster/canary-ok.yaml", "hubs/hub1/version.yaml", "home/version.yaml", "NOTES.txt"} {
		assert.Contains(t, bundle, want, "the bundle holds %s", want)
	}
	assert.Contains(t, bundle["hubs/hub1/managedcluster/canary-rb.yaml"], reconcile.AnnOwner+": ops/canary/", "with its markers")
	gatheredSecrets := 0
	for name, text := range bundle {
		if strings.Contains(name, "/secret/") {
			gatheredSecrets++
			assert.Contains(t, text, "REDACTED", name)
		}
	}
	assert.Positive(t, gatheredSecrets, "Secrets are gathered (their values redacted)")
	var bundleText strings.Builder
	for name, text := range bundle {
		fmt.Fprintf(&bundleText, "== %s\n%s\n", name, text)
	}
	m := waitTerminal(t, "ops", "canary", 3*time.Minute)
	var results map[string]string
	require.NoError(t, json.Unmarshal([]byte(m.GetAnnotations()[reconcile.AnnResults]), &results))
	require.Equal(t, "Completed", results["canary-ok"])
	require.True(t, strings.HasPrefix(results["canary-rb"], "Failed:"), "canary-rb was rolled back: %s", results["canary-rb"])

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, metrics.Register(reg, metrics.NewMigrationCollector(c.Migrations), metrics.NewClusterCollector(c.ClusterClocks)))
	families, err := reg.Gather()
	require.NoError(t, err)
	var exposition bytes.Buffer
	for _, f := range families {
		_, err := expfmt.MetricFamilyToText(&exposition, f)
		require.NoError(t, err)
	}
	status, err := json.Marshal(m.Object["status"])
	require.NoError(t, err)
	events, err := homeKube.CoreV1().Events("ops").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "canary").String()})
	require.NoError(t, err)
	var eventText strings.Builder
	for _, e := range events.Items {
		fmt.Fprintln(&eventText, e.Reason, e.Message)
	}
	require.NotEmpty(t, events.Items)
	require.NotEmpty(t, logs.String())

	places := map[string]string{"the log": logs.String(), "the Events": eventText.String(), "the status": string(status), "the metrics": exposition.String(),
		"the gather bundle": bundleText.String()}
	for what, value := range canaries {
		require.NotEmpty(t, value, what)
		for where, text := range places {
			assert.NotContains(t, text, value, "%s appears in %s", what, where)
		}
		assert.NotContains(t, bundleText.String(), base64.StdEncoding.EncodeToString([]byte(value)), "%s appears base64-encoded in the gather bundle", what)
	}
	t.Logf("%d canaries checked against %d bytes of log, %d Events, status, %d bytes of metrics and a gather bundle of %d files", len(canaries), len(logs.String()), len(events.Items), exposition.Len(), len(bundle))
}
