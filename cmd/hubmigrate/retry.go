package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/dynamic"

	"github.com/hubmigrate/hubmigrate/reconcile"
)

// retryMain is `hubmigrate retry NAME`: a new migration, NAME-retry-<n>, for
// the Failed clusters of the finished migration NAME that a retry can change.
func retryMain(args []string) int {
	fs := flag.NewFlagSet("retry", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the home cluster (default: in-cluster)")
	namespace := fs.String("n", "default", "namespace of the migration")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: hubmigrate retry [-kubeconfig FILE] [-n NAMESPACE] NAME")
		fs.PrintDefaults()
	}
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	cfg, err := homeConfig(*kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	home, err := dynamic.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	plan, err := reconcile.Retry(context.Background(), home, *namespace, fs.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubmigrate retry:", err)
		return 1
	}
	fmt.Printf("managedclustermigration %s/%s created for %s\n", *namespace, plan.Name, strings.Join(plan.Clusters, ", "))
	return 0
}
