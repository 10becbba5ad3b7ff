package envtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// crdModule is a Go module that publishes CRDs, pinned here. The CRDs are read
// from the module cache (`go mod download`), never copied into this repository,
// and the product imports none of these modules' packages.
type crdModule struct {
	path, version string
	files         []string
}

var crdModules = []crdModule{
	{
		path: "open-cluster-management.io/api", version: "v1.3.0",
		files: []string{
			"cluster/v1/0000_00_clusters.open-cluster-management.io_managedclusters.crd.yaml",
			"cluster/v1alpha1/0000_02_clusters.open-cluster-management.io_clusterclaims.crd.yaml",
			"cluster/v1beta1/0000_02_clusters.open-cluster-management.io_placements.crd.yaml",
			"cluster/v1beta1/0000_03_clusters.open-cluster-management.io_placementdecisions.crd.yaml",
			"cluster/v1beta2/0000_00_clusters.open-cluster-management.io_managedclustersets.crd.yaml",
			"cluster/v1beta2/0000_01_clusters.open-cluster-management.io_managedclustersetbindings.crd.yaml",
			"work/v1/0000_00_work.open-cluster-management.io_manifestworks.crd.yaml",
			// The v1alpha1 addon CRDs: the v1beta1 ones need OCM's conversion webhook.
			"addon/v1alpha1/0000_00_addon.open-cluster-management.io_clustermanagementaddons.crd.yaml",
			"addon/v1alpha1/0000_01_addon.open-cluster-management.io_managedclusteraddons.crd.yaml",
			"addon/v1alpha1/0000_02_addon.open-cluster-management.io_addondeploymentconfigs.crd.yaml",
			"operator/v1/0000_01_operator.open-cluster-management.io_clustermanagers.crd.yaml",
		},
	},
	{
		path: "github.com/stolostron/cluster-lifecycle-api", version: "v0.0.0-20250429012240-363012f4f827",
		files: []string{"klusterletconfig/v1alpha1/config.open-cluster-management.io_klusterletconfigs.crd.yaml"},
	},
	{
		path: "github.com/stolostron/klusterlet-addon-controller", version: "v0.0.0-20250224012200-769f091c0e95",
		files: []string{"deploy/agent.open-cluster-management.io_klusterletaddonconfigs_crd.yaml"},
	},
}

var (
	crdOnce  sync.Once
	crdDocs  [][]byte
	crdError error
)

// upstreamCRDs returns the pinned OCM and ACM CRDs, downloading their modules
// through the Go module proxy the first time.
func upstreamCRDs() ([][]byte, error) {
	crdOnce.Do(func() { crdDocs, crdError = loadUpstreamCRDs() })
	return crdDocs, crdError
}

func loadUpstreamCRDs() ([][]byte, error) {
	var docs [][]byte
	for _, m := range crdModules {
		dir, err := moduleDir(m.path, m.version)
		if err != nil {
			return nil, err
		}
		for _, f := range m.files {
			data, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				return nil, fmt.Errorf("CRD %s of %s@%s: %w", f, m.path, m.version, err)
			}
			docs = append(docs, data)
		}
	}
	return docs, nil
}

func moduleDir(path, version string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is needed to fetch the OCM CRDs: %w", err)
	}
	cmd := exec.Command(goBin, "mod", "download", "-json", path+"@"+version)
	// Outside any module, so this repository's go.mod is not touched.
	cmd.Dir = os.TempDir()
	// The stolostron modules are not in the public checksum database.
	cmd.Env = append(os.Environ(), "GONOSUMDB=github.com/stolostron/*", "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w: %s%s", path, version, err, stderr.String(), out)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", err
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", path, version, info.Error)
	}
	return info.Dir, nil
}
