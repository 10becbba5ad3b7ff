package e2e

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/envtest/invariants"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// Whoever can write a <hub>-kubeconfig Secret on home must not run code in
// the controller (Trust boundaries, rule 3). A Secret for a real hub (hub2's
// address and CA) whose user is an exec plugin that would touch a marker
// file: a migration to that hub says KubeconfigRefused in HubsReady and a
// Warning Event, fails its cluster with that reason at the timeout, touches
// nothing on the source — and the plugin never runs.
func TestKubeconfigRefused(t *testing.T) {
	ctx := context.Background()
	const hubName, migration = "exechub", "kubeconfig-refused"
	clusters := []string{"kr-1"}
	importClusters(t, "hub1", sim.Singleton, clusters...)
	snap := invariants.Take(t, hub(t, "hub1"), allHubs(t), clusters)

	marker := filepath.Join(t.TempDir(), "ran")
	markerAbsent := func(when string) {
		t.Helper()
		_, err := os.Stat(marker)
		assert.True(t, os.IsNotExist(err), "the exec plugin ran (%s): %v", when, err)
	}
	hub2 := world.Planes["hub2"].AdminConfig()
	kubeconfig := `apiVersion: v1
kind: Config
clusters:
- name: hub2
  cluster:
    server: ` + hub2.Host + `
    certificate-authority-data: ` + base64.StdEncoding.EncodeToString(hub2.CAData) + `
contexts:
- name: hub2
  context: {cluster: hub2, user: plugin}
current-context: hub2
users:
- name: plugin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /bin/sh
      args: ["-c", "touch ` + marker + `"]
      interactiveMode: Never
`
	homeKube, homeDyn := clients(t, "home")
	_, err := homeKube.CoreV1().Secrets(envtest.ProductNamespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: hubName + "-kubeconfig"},
		Data:       map[string][]byte{"kubeconfig": []byte(kubeconfig)},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	defer func() {
		_ = homeKube.CoreV1().Secrets(envtest.ProductNamespace).Delete(ctx, hubName+"-kubeconfig", metav1.DeleteOptions{})
	}()

	c := startController(t, 30*time.Second)
	defer c.stop()
	createMigration(t, migrationSpec{namespace: "ops", name: migration, from: "hub1", to: hubName, clusters: clusters, stageTimeout: "6s"})

	// While it waits, HubsReady says why.
	var reason, message string
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		m, err := homeDyn.Resource(reconcile.MigrationGVR).Namespace("ops").Get(ctx, migration, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(m.Object, "status", "conditions")
		for _, cond := range conds {
			if cm := cond.(map[string]any); cm["type"] == reconcile.HubsReadyCondition && cm["status"] == "False" {
				reason, _ = cm["reason"].(string)
				message, _ = cm["message"].(string)
				return reason != "HubSyncing", nil
			}
		}
		return false, nil
	}), "HubsReady False")
	assert.Equal(t, "KubeconfigRefused", reason, message)
	assert.Contains(t, message, `user "plugin": exec`)
	assert.NotContains(t, message, marker, "the command is not repeated")
	markerAbsent("while waiting")

	m := waitMigrationPhase(t, "ops", migration, "Failed", time.Minute)
	assert.Equal(t, `{"kr-1":"Failed:KubeconfigRefused"}`, m.GetAnnotations()[reconcile.AnnResults])
	events, err := homeKube.CoreV1().Events("ops").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + migration})
	require.NoError(t, err)
	var warned []string
	for _, e := range events.Items {
		if e.Reason == "HubNotReady" {
			assert.Equal(t, corev1.EventTypeWarning, e.Type)
			warned = append(warned, e.Message)
		}
	}
	require.Len(t, warned, 1, "one Warning for one problem")
	assert.True(t, strings.HasPrefix(warned[0], "KubeconfigRefused: "), warned[0])
	assert.NotContains(t, warned[0], marker)
	invariants.CheckTerminal(t, snap, allHubs(t), string(m.GetUID()), clusters)

	deleteMigration(t, "ops", migration)
	waitGone(t, "ops", migration)
	// The cluster was never claimed, and nothing ran, at any time.
	invariants.CheckRolledBack(t, snap, hub(t, "hub1"), hub(t, "hub2"), clusters)
	markerAbsent("at the end")
}
