package ocm

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/openshift/library-go/pkg/controller/controllercmd"
	"github.com/openshift/library-go/pkg/operator/events"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// childEnv names the OCM component a process started from this package's
// test binary runs instead of the tests.
const childEnv = "HUBMIGRATE_OCM_CHILD"

// RunChildIfAsked runs the OCM component a parent asked for and exits; in any
// other process it returns at once. TestMain calls it first.
func RunChildIfAsked() {
	kind := os.Getenv(childEnv)
	if kind == "" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	var err error
	switch kind {
	case childHub:
		err = runHubController(ctx, os.Args[1:])
	case childAgent:
		err = runAgent(ctx, os.Args[1:])
	case childWorkAgent:
		err = runWorkAgent(ctx, os.Args[1:])
	default:
		err = fmt.Errorf("unknown child %q", kind)
	}
	stop()
	klog.Flush()
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", kind, err)
		os.Exit(1)
	}
	os.Exit(0)
}

const (
	childHub   = "hub"
	childAgent = "agent"
	// childWorkAgent is the work agent of Default mode, a process of its own.
	childWorkAgent = "work-agent"
)

// controllerContext is what library-go's controller command gives OCM's
// components (bypassed here: its serving port and leader election would
// collide between children).
func controllerContext(kubeconfig, namespace, component string) (*controllercmd.ControllerContext, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	return &controllercmd.ControllerContext{
		KubeConfig:        cfg,
		EventRecorder:     events.NewLoggingEventRecorder(component, clock.RealClock{}),
		OperatorNamespace: namespace,
	}, nil
}
