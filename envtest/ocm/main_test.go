package ocm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubmigrate/hubmigrate/envtest"
)

// world is the test world: home (where the agents' managed-cluster side
// lives, a namespace per cluster) and hub1, hub2, each with OCM's own hub
// controller.
var (
	world     *envtest.World
	hubs      map[string]*Supervised
	importers map[string]*Importer
)

func TestMain(m *testing.M) {
	RunChildIfAsked()
	if os.Getenv("HUBMIGRATE_UNIT_ONLY") != "" {
		fmt.Println("HUBMIGRATE_UNIT_ONLY is set: the OCM tier is skipped")
		os.Exit(0)
	}
	w, err := envtest.Start(context.Background(), envtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	world, hubs, importers = w, map[string]*Supervised{}, map[string]*Importer{}
	code := 1
	if err := installAgentCRDs(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else if err := startHubControllers(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	for _, im := range importers {
		im.Stop()
	}
	for _, h := range hubs {
		h.Stop()
	}
	w.Stop()
	if code != 0 {
		fmt.Println("logs of the OCM components are in", w.Dir)
	} else {
		_ = os.RemoveAll(w.Dir)
	}
	os.Exit(code)
}

// startHubControllers starts OCM's registration hub controller on each hub,
// and the stand-in for ACM's import controller.
func startHubControllers() error {
	for _, name := range world.Hubs {
		kubeconfig, err := writeKubeconfig(filepath.Join(world.Dir, "ocm", name+"-admin.kubeconfig"), world.Hub(name).AdminConfig())
		if err != nil {
			return err
		}
		h, err := Start(name+"-controller", childHub, filepath.Join(world.Dir, "ocm", name+"-controller.log"), "--kubeconfig="+kubeconfig)
		if err != nil {
			return err
		}
		hubs[name] = h
		im, err := StartImporter(name, world.Hub(name))
		if err != nil {
			return err
		}
		importers[name] = im
	}
	return nil
}

// installAgentCRDs installs on home what OCM's agents need on a managed
// cluster besides what the world has: the work agent's AppliedManifestWork,
// from OCM's API module in the module cache.
func installAgentCRDs() error {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "open-cluster-management.io/api").Output()
	if err != nil {
		return fmt.Errorf("locating open-cluster-management.io/api: %w", err)
	}
	crd, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "work", "v1", "0000_01_work.open-cluster-management.io_appliedmanifestworks.crd.yaml"))
	if err != nil {
		return err
	}
	applier, err := envtest.NewApplier(world.Home().AdminConfig())
	if err != nil {
		return err
	}
	return applier.Apply(context.Background(), crd)
}
