package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hubmigrate/hubmigrate/reconcile"
)

// retryMain is `hubmigrate retry NAME`: a new migration, NAME-retry-<n>, for
// the Failed clusters of the finished migration NAME that a retry can change.
func retryMain(args []string) int {
	fs := flag.NewFlagSet("retry", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the home cluster (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)")
	kubeContext := fs.String("context", "", "kubeconfig context (default: the current one)")
	namespace := fs.String("n", "", "namespace of the migration (default: the context's namespace)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: hubmigrate retry [--kubeconfig FILE] [--context NAME] [-n NAMESPACE] NAME")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	loader := cliConfig(*kubeconfig, *kubeContext)
	cfg, err := loader.ClientConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubmigrate retry:", err)
		return 1
	}
	ns := *namespace
	if ns == "" {
		if ns, _, err = loader.Namespace(); err != nil {
			fmt.Fprintln(os.Stderr, "hubmigrate retry:", err)
			return 1
		}
	}
	home, err := dynamic.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	plan, err := reconcile.Retry(context.Background(), home, ns, fs.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubmigrate retry:", err)
		return 1
	}
	fmt.Printf("managedclustermigration %s/%s created for %s\n", ns, plan.Name, strings.Join(plan.Clusters, ", "))
	return 0
}

// cliConfig loads a kubeconfig as kubectl does: --kubeconfig, else
// $KUBECONFIG, else ~/.kube/config, else the pod's in-cluster identity.
func cliConfig(path, kubeContext string) clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
}
