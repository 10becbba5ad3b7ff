package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set at link time by `make image` / `make build` (-X main.version=... -X
// main.revision=...); a plain `go build` falls back to what the Go toolchain
// recorded (the module version and the VCS revision, when built in a clone).
var (
	version  = ""
	revision = ""
)

// build says which build runs.
type build struct {
	Version, Revision, GoVersion string
	Modified                     bool
}

func currentBuild() build {
	b := build{Version: version, Revision: revision, GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b.withDefaults()
	}
	if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if b.Revision == "" {
				b.Revision = s.Value
			}
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b.withDefaults()
}

func (b build) withDefaults() build {
	if b.Version == "" {
		b.Version = "devel"
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	return b
}

func (b build) String() string {
	s := fmt.Sprintf("hubmigrate %s (revision %s", b.Version, b.Revision)
	if b.Modified {
		s += ", modified"
	}
	return s + ", " + b.GoVersion + ")"
}

// versionInfo is what `version -o json|yaml` prints.
type versionInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	GoVersion string `json:"goVersion"`
	Modified  bool   `json:"modified,omitempty"`
}

func versionMain(out io.Writer, format string) error {
	b := currentBuild()
	if format == "" {
		_, err := fmt.Fprintln(out, b)
		return err
	}
	return printData(out, format, versionInfo{Version: b.Version, Revision: b.Revision, GoVersion: b.GoVersion, Modified: b.Modified})
}
