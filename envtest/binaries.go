package envtest

import (
	"fmt"
	"os"
	"path/filepath"
)

// The Makefile builds the control-plane binaries from Go modules (envtest/tools)
// into a cache outside the repository and exports where they are.
const (
	kubeBinEnv = "HUBMIGRATE_KUBE_BIN"
	etcdBinEnv = "HUBMIGRATE_ETCD_BIN"
)

type binaries struct {
	etcd, apiserver, controllerManager string
}

func findBinaries() (binaries, error) {
	kube, etcd := os.Getenv(kubeBinEnv), os.Getenv(etcdBinEnv)
	if kube == "" || etcd == "" {
		return binaries{}, fmt.Errorf("%s and %s are not set: run the tests with `make test` (it builds the control-plane binaries once and caches them)", kubeBinEnv, etcdBinEnv)
	}
	b := binaries{
		etcd:              filepath.Join(etcd, "etcd"),
		apiserver:         filepath.Join(kube, "kube-apiserver"),
		controllerManager: filepath.Join(kube, "kube-controller-manager"),
	}
	for _, p := range []string{b.etcd, b.apiserver, b.controllerManager} {
		if _, err := os.Stat(p); err != nil {
			return binaries{}, fmt.Errorf("control-plane binary missing (run `make binaries`): %w", err)
		}
	}
	return b, nil
}
