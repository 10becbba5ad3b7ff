package ocm

import (
	"context"

	"github.com/spf13/pflag"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	ocmfeature "open-cluster-management.io/api/feature"

	"open-cluster-management.io/ocm/pkg/features"
	"open-cluster-management.io/ocm/pkg/registration/hub"
)

// runHubController runs OCM's registration hub controller (what
// `registration controller` runs in the cluster manager's pod) against the
// hub named by --kubeconfig, with OCM's own flags.
func runHubController(ctx context.Context, args []string) error {
	manager := hub.NewHubManagerOptions()
	fs := pflag.NewFlagSet("ocm-hub", pflag.ContinueOnError)
	manager.AddFlags(fs)
	kubeconfig := fs.String("kubeconfig", "", "the hub's kubeconfig")
	utilruntime.Must(features.HubMutableFeatureGate.Add(ocmfeature.DefaultHubRegistrationFeatureGates))
	features.HubMutableFeatureGate.AddFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cc, err := controllerContext(*kubeconfig, "", "registration-controller")
	if err != nil {
		return err
	}
	return manager.RunControllerManager(ctx, cc)
}
