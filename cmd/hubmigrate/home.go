package main

import (
	"github.com/spf13/pflag"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// homeFlags find the home cluster (where migrations live) as kubectl finds
// its cluster: --kubeconfig, else $KUBECONFIG, else ~/.kube/config, else
// the pod's in-cluster identity; --context; -n, else the context's
// namespace.
type homeFlags struct {
	kubeconfig, context, namespace string
}

func (h *homeFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&h.kubeconfig, "kubeconfig", "", "kubeconfig of the home cluster (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)")
	fs.StringVar(&h.context, "context", "", "kubeconfig context of the home cluster (default: the current one)")
	fs.StringVarP(&h.namespace, "namespace", "n", "", "namespace of the migration (default: the context's namespace)")
}

func (h *homeFlags) loader() clientcmd.ClientConfig {
	return cliConfig(h.kubeconfig, h.context)
}

// connect is the home cluster's client and the migration namespace.
func (h *homeFlags) connect() (*rest.Config, dynamic.Interface, string, error) {
	loader := h.loader()
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, nil, "", err
	}
	ns := h.namespace
	if ns == "" {
		if ns, _, err = loader.Namespace(); err != nil {
			return nil, nil, "", err
		}
	}
	home, err := dynamic.NewForConfig(cfg)
	return cfg, home, ns, err
}

// cliConfig loads a kubeconfig as kubectl does: the path, else
// $KUBECONFIG, else ~/.kube/config, else the pod's in-cluster identity.
func cliConfig(path, kubeContext string) clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
}
