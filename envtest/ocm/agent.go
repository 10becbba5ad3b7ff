package ocm

import (
	"context"

	"github.com/spf13/pflag"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	ocmfeature "open-cluster-management.io/api/feature"

	commonoptions "open-cluster-management.io/ocm/pkg/common/options"
	"open-cluster-management.io/ocm/pkg/features"
	registration "open-cluster-management.io/ocm/pkg/registration/spoke"
	singleton "open-cluster-management.io/ocm/pkg/singleton/spoke"
	work "open-cluster-management.io/ocm/pkg/work/spoke"
)

// runAgent runs OCM's klusterlet agent with OCM's own flags: in Singleton
// mode the registration and work agents in one process (`klusterlet agent`),
// in Default mode the registration agent alone (`registration agent`; the
// work agent is a process of its own there).
//
// Two things a pod gives an agent come from flags of ours: the namespace it
// runs in (--agent-namespace, a pod reads it from its service account) and
// whether it is Singleton (--singleton, the operator picks the command).
func runAgent(ctx context.Context, args []string) error {
	common := commonoptions.NewAgentOptions()
	reg := registration.NewSpokeAgentOptions()
	wk := work.NewWorkloadAgentOptions()
	fs := pflag.NewFlagSet("ocm-agent", pflag.ContinueOnError)
	common.AddFlags(fs)
	reg.AddFlags(fs)
	wk.AddFlags(fs)
	namespace := fs.String("agent-namespace", "open-cluster-management-agent", "the namespace the agent runs in")
	singletonMode := fs.Bool("singleton", true, "run the registration and work agents in one process")
	kubeconfig := fs.String("kubeconfig", "", "the managed cluster's kubeconfig")
	utilruntime.Must(features.SpokeMutableFeatureGate.Add(ocmfeature.DefaultSpokeRegistrationFeatureGates))
	utilruntime.Must(features.SpokeMutableFeatureGate.Add(ocmfeature.DefaultSpokeWorkFeatureGates))
	features.SpokeMutableFeatureGate.AddFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	common.ComponentNamespace = *namespace
	cc, err := controllerContext(*kubeconfig, *namespace, "klusterlet-agent")
	if err != nil {
		return err
	}
	// The agent cancels its own context to exit when it must restart (a new
	// bootstrap kubeconfig, a hub it cannot reach): the supervisor restarts it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if *singletonMode {
		err = singleton.NewAgentConfig(common, reg, wk, cancel).RunSpokeAgent(ctx, cc)
	} else {
		err = registration.NewSpokeAgentConfig(common, reg, cancel).RunSpokeAgent(ctx, cc)
	}
	if err == nil {
		<-ctx.Done()
	}
	return err
}
