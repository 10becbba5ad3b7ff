// Command imagebuild writes hubmigrate's OCI image as a tarball that
// `docker load` and `podman load` read, without a container daemon: one
// layer over an empty base holding the static binary, a CA bundle and a
// nonroot user — no shell, no package manager. `make image` runs it.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	var o imageOptions
	flag.StringVar(&o.Binary, "binary", "bin/linux/hubmigrate", "the static hubmigrate binary (CGO_ENABLED=0)")
	flag.StringVar(&o.CABundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "CA certificates to trust, as PEM")
	flag.StringVar(&o.Output, "output", "bin/hubmigrate-image.tar", "the image tarball to write")
	flag.StringVar(&o.Repository, "repository", "quay.io/hubmigrate/hubmigrate", "image repository of the tag written into the tarball")
	flag.StringVar(&o.Version, "version", "devel", "the image's version label and tag")
	flag.StringVar(&o.Revision, "revision", "unknown", "the VCS revision label")
	flag.StringVar(&o.Arch, "arch", "amd64", "the binary's architecture")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "imagebuild: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	ref, err := writeImage(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s (%s): load it with `docker load -i %s` or `podman load -i %s`\n", o.Output, ref, o.Output, o.Output)
}
