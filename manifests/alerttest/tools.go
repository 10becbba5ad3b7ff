//go:build tools

package alerttest

// promtool, built by `make promtool-test` at the version this module pins.
import _ "github.com/prometheus/prometheus/cmd/promtool"
