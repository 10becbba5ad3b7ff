package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The product binary never links the test world, controller-runtime or the
// image builder.
func TestProductLinksNoTestWorld(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps listed only %d packages: %s", len(deps), out)
	}
	for _, dep := range deps {
		if strings.Contains(dep, "sigs.k8s.io/controller-runtime") || strings.HasPrefix(dep, "github.com/hubmigrate/hubmigrate/envtest") ||
			strings.HasPrefix(dep, "github.com/google/go-containerregistry") {
			t.Errorf("cmd/hubmigrate links %s", dep)
		}
	}
}
