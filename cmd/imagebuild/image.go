package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// nonroot is the user the controller runs as (distroless's nonroot): the
// Deployment's restricted securityContext asks for runAsNonRoot, which a
// numeric USER satisfies without the kubelet resolving a name.
const nonroot = "65532"

type imageOptions struct {
	Binary, CABundle, Output      string
	Repository, Version, Revision string
	Arch                          string
}

// Labels are the OCI annotations the image's config carries.
func (o imageOptions) labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "hubmigrate",
		"org.opencontainers.image.description": "Migrates OCM ManagedClusters between hubs, keeping no progress of its own",
		"org.opencontainers.image.source":      "https://github.com/hubmigrate/hubmigrate",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.revision":    o.Revision,
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
}

// writeImage builds the image and writes it to o.Output; it returns the tag.
func writeImage(o imageOptions) (name.Tag, error) {
	tag, err := name.NewTag(o.Repository + ":" + o.Version)
	if err != nil {
		return tag, fmt.Errorf("tag: %w", err)
	}
	img, err := build(o)
	if err != nil {
		return tag, err
	}
	tmp := o.Output + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		return tag, err
	}
	return tag, os.Rename(tmp, o.Output)
}

func build(o imageOptions) (v1.Image, error) {
	binary, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("the binary: %w", err)
	}
	cas, err := os.ReadFile(o.CABundle)
	if err != nil {
		return nil, fmt.Errorf("the CA bundle: %w", err)
	}
	files, err := rootfs(binary, cas)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(files)), nil })
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = o.Arch, "linux"
	cfg.Created = v1.Time{Time: time.Unix(0, 0).UTC()} // reproducible: the same inputs give the same digest
	cfg.Config.User = nonroot + ":" + nonroot
	cfg.Config.Entrypoint = []string{"/hubmigrate"}
	cfg.Config.Cmd = []string{"controller"}
	cfg.Config.WorkingDir = "/"
	cfg.Config.Env = []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	cfg.Config.Labels = o.labels()
	return mutate.ConfigFile(img, cfg)
}

// rootfs is the image's one layer, as a tar.
func rootfs(binary, cas []byte) ([]byte, error) {
	type entry struct {
		path string
		mode int64
		uid  int
		data []byte // nil: a directory
	}
	entries := []entry{
		{path: "etc/", mode: 0o755},
		{path: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:" + nonroot + ":" + nonroot + ":nonroot:/home/nonroot:/sbin/nologin\n")},
		{path: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:" + nonroot + ":\n")},
		{path: "etc/ssl/", mode: 0o755},
		{path: "etc/ssl/certs/", mode: 0o755},
		{path: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: cas},
		{path: "home/", mode: 0o755},
		{path: "home/nonroot/", mode: 0o700, uid: 65532},
		{path: "tmp/", mode: 0o1777},
		{path: "hubmigrate", mode: 0o755, data: binary},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Typeflag: tar.TypeDir, Name: e.path, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: time.Unix(0, 0)}
		if e.data != nil {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
