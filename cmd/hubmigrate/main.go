// Command hubmigrate migrates OCM ManagedClusters between hubs, keeping no
// progress of its own: see docs/design.md. Installed as kubectl-hubmigrate
// it is also `kubectl hubmigrate`; docs/cli.md shows every command.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(execute(os.Args[0], os.Args[1:], os.Stdout, os.Stderr))
}

// exitCode is a command that ran and failed, with its exit code. Every
// other error cobra returns (an unknown command or flag, a wrong number of
// arguments) is a usage error: exit code 2, as kubectl's.
type exitCode struct {
	code int
	err  error // nil when the command said why itself
}

func (e *exitCode) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

// failed is the error of a command that ran and failed (exit 1).
func failed(err error) error { return &exitCode{code: 1, err: err} }

func execute(argv0 string, args []string, stdout, stderr io.Writer) int {
	// The bare binary, or one whose first argument is a flag, is the
	// controller: that is how the Deployment runs it.
	if len(args) == 0 || (strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help") {
		args = append([]string{"controller"}, args...)
	}
	root := newRootCommand(argv0)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var exit *exitCode
	if errors.As(err, &exit) {
		if exit.err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), exit.err)
		}
		return exit.code
	}
	fmt.Fprintf(stderr, "%s: %v\nSee '%s --help'.\n", cmd.CommandPath(), err, cmd.CommandPath())
	return 2
}

func newRootCommand(argv0 string) *cobra.Command {
	root := &cobra.Command{
		Use:   "hubmigrate",
		Short: "Migrate OCM ManagedClusters between hubs, with no stored progress",
		Long: `hubmigrate moves Open Cluster Management ManagedClusters from one hub to another.
The controller (hubmigrate controller, or the bare binary) runs as a Deployment
on the home cluster; the other commands are for the admins who drive it.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		// A root without Run would print its help for an unknown command;
		// an unknown command is an error.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	if strings.HasPrefix(filepath.Base(argv0), "kubectl-") {
		// Help and errors say what the admin typed.
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl hubmigrate"}
	}
	root.AddCommand(
		newControllerCommand(),
		newVersionCommand(),
		newHubCommand(),
		newRetryCommand(),
		newStatusCommand(),
		newPlanCommand(),
		newAbandonCommand(),
		newGatherCommand(),
	)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	return root
}

// newControllerCommand keeps the controller's own Go flag set (klog's
// flags included) as it always was.
func newControllerCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "controller [flags]",
		Short:              "Run the controller (what the Deployment runs; the bare binary does the same)",
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if code := controllerMain(args); code != 0 {
				return &exitCode{code: code}
			}
			return nil
		},
	}
}

func newVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Say which build this is",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkDataFormat(output); err != nil {
				return err
			}
			return versionMain(cmd.OutOrStdout(), output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: one line)")
	return cmd
}
