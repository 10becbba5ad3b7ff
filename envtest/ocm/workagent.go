package ocm

import (
	"context"
	"os"

	"github.com/spf13/pflag"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	ocmfeature "open-cluster-management.io/api/feature"

	commonoptions "open-cluster-management.io/ocm/pkg/common/options"
	"open-cluster-management.io/ocm/pkg/features"
	work "open-cluster-management.io/ocm/pkg/work/spoke"
)

// runWorkAgent runs OCM's work agent on its own (`work agent`, the
// klusterlet's Default mode), with OCM's own flags. Its hub kubeconfig is the
// file the registration agent writes; without it the agent exits and is
// started again. (A pod's --terminate-on-files is the Operator's job here.)
func runWorkAgent(ctx context.Context, args []string) error {
	common := commonoptions.NewAgentOptions()
	wk := work.NewWorkloadAgentOptions()
	fs := pflag.NewFlagSet("ocm-work-agent", pflag.ContinueOnError)
	common.AddFlags(fs)
	wk.AddFlags(fs)
	namespace := fs.String("agent-namespace", "open-cluster-management-agent", "the namespace the agent runs in")
	kubeconfig := fs.String("kubeconfig", "", "the managed cluster's kubeconfig")
	utilruntime.Must(features.SpokeMutableFeatureGate.Add(ocmfeature.DefaultSpokeWorkFeatureGates))
	features.SpokeMutableFeatureGate.AddFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := os.Stat(wk.WorkloadSourceConfig); err != nil {
		return err // no hub kubeconfig yet
	}
	common.ComponentNamespace = *namespace
	cc, err := controllerContext(*kubeconfig, *namespace, "work-agent")
	if err != nil {
		return err
	}
	if err := work.NewWorkAgentConfig(common, wk).RunWorkloadAgent(ctx, cc); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}
