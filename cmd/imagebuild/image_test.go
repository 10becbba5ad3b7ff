package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The image `make image` writes, opened as `docker load` would: its config
// runs the static binary as a nonroot user, its labels say which build it
// is, it holds no shell, and its binary runs `version`.
func TestImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "hubmigrate")
	// Built as the other tests build it (only the link differs), not with
	// make build's CGO_ENABLED=0 -trimpath: those flags change every
	// package's build and would compile the whole binary a second time —
	// minutes of a cold make test — to test the packaging, which is this
	// test's job; what make build passes is the Makefile's.
	gobuild := exec.Command("go", "build", "-ldflags", "-s -w -X main.version=v1.2.3 -X main.revision=feedbeef", "-o", bin, "../hubmigrate")
	out, err := gobuild.CombinedOutput()
	require.NoError(t, err, "%s", out)
	cas := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(cas, []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o644))

	o := imageOptions{Binary: bin, CABundle: cas, Output: filepath.Join(dir, "image.tar"),
		Repository: "quay.io/hubmigrate/hubmigrate", Version: "v1.2.3", Revision: "feedbeef", Arch: runtime.GOARCH}
	_, err = writeImage(o)
	require.NoError(t, err)
	tag, err := name.NewTag("quay.io/hubmigrate/hubmigrate:v1.2.3")
	require.NoError(t, err)
	img, err := tarball.ImageFromPath(o.Output, &tag)
	require.NoError(t, err, "the tarball holds the tag docker load would print")

	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "65532:65532", cfg.Config.User)
	assert.Equal(t, []string{"/hubmigrate"}, cfg.Config.Entrypoint)
	assert.Equal(t, []string{"controller"}, cfg.Config.Cmd)
	assert.Equal(t, "linux", cfg.OS)
	assert.Equal(t, "v1.2.3", cfg.Config.Labels["org.opencontainers.image.version"])
	assert.Equal(t, "feedbeef", cfg.Config.Labels["org.opencontainers.image.revision"])

	files := map[string]*tar.Header{}
	r := mutate.Extract(img)
	defer r.Close()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		files[h.Name] = h
		if h.Name == "hubmigrate" {
			f, err := os.OpenFile(filepath.Join(dir, "from-image"), os.O_CREATE|os.O_WRONLY, 0o755)
			require.NoError(t, err)
			_, err = io.Copy(f, tr)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}
	}
	for _, want := range []string{"hubmigrate", "etc/passwd", "etc/group", "etc/ssl/certs/ca-certificates.crt", "tmp"} {
		assert.Contains(t, files, want)
	}
	for path := range files {
		assert.NotRegexp(t, `(^|/)(sh|bash|busybox|ash)$`, path, "no shell in the image")
	}
	assert.Equal(t, int64(0o755), files["hubmigrate"].Mode)

	out, err = exec.Command(filepath.Join(dir, "from-image"), "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Regexp(t, `^hubmigrate v1\.2\.3 \(revision feedbeef, go`, string(out))

	// The same inputs give the same image.
	first, err := img.Digest()
	require.NoError(t, err)
	again, err := build(o)
	require.NoError(t, err)
	second, err := again.Digest()
	require.NoError(t, err)
	assert.Equal(t, first, second, "reproducible")
}
