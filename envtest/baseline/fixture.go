package baseline

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/hubmigrate/hubmigrate/envtest"
	"github.com/hubmigrate/hubmigrate/envtest/sim"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// ImportClusters imports simulated clusters into a hub with what moves with
// them, as the controller's end-to-end tests do (reconcile/e2e
// importClusters): a KlusterletAddonConfig enabling two addons, which the
// hub's klusterlet-addon-controller creates, and a preserved Secret and
// ConfigMap. It returns once each has joined, has both addons and its
// klusterlet work is applied — a world the baseline and the controller can
// both be measured on.
func ImportClusters(ctx context.Context, s *sim.Simulator, hub *envtest.ControlPlane, mode sim.Mode, clusters ...string) error {
	kube, err := kubernetes.NewForConfig(hub.AdminConfig())
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(hub.AdminConfig())
	if err != nil {
		return err
	}
	for _, c := range clusters {
		if err := s.AddCluster(ctx, c, hub.Name, sim.ClusterOptions{Mode: mode, Labels: map[string]string{"env": "bench"}}); err != nil {
			return err
		}
	}
	for _, c := range clusters {
		if _, err := s.WaitFor(ctx, c, 2*time.Minute, sim.JoinedTo(hub.Name)); err != nil {
			return err
		}
		kac := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "agent.open-cluster-management.io/v1", "kind": "KlusterletAddonConfig",
			"metadata": map[string]any{"name": c, "namespace": c},
			"spec": map[string]any{
				"applicationManager":   map[string]any{"enabled": true},
				"searchCollector":      map[string]any{"enabled": true},
				"certPolicyController": map[string]any{"enabled": false},
				"policyController":     map[string]any{"enabled": false},
			},
		}}
		if _, err := dyn.Resource(reconcile.KlusterletAddonConfigGVR).Namespace(c).Create(ctx, kac, metav1.CreateOptions{}); err != nil {
			return err
		}
		preserved := map[string]string{reconcile.LabelPreserve: "", "app": "siteconfig"}
		if _, err := kube.CoreV1().Secrets(c).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bmc-credentials", Labels: preserved},
			Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("s3cret-" + c)}}, metav1.CreateOptions{}); err != nil {
			return err
		}
		if _, err := kube.CoreV1().ConfigMaps(c).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "site-config", Labels: preserved},
			Data: map[string]string{"site": c}}, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	for _, c := range clusters {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			addons, err := dyn.Resource(reconcile.ManagedClusterAddOnGVR).Namespace(c).List(ctx, metav1.ListOptions{})
			if err != nil || len(addons.Items) != 2 {
				return false, nil
			}
			work, err := dyn.Resource(reconcile.ManifestWorkGVR).Namespace(c).Get(ctx, klusterletWork(c), metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			status, generation := conditionOf(work, "Applied")
			return status == "True" && generation == work.GetGeneration(), nil
		})
		if err != nil {
			return fmt.Errorf("%s: its addons and applied klusterlet work: %w", c, err)
		}
	}
	return nil
}
