package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hubmigrate/hubmigrate/reconcile"
)

// newRetryCommand is `hubmigrate retry NAME`: a new migration,
// NAME-retry-<n>, for the Failed clusters of the finished migration NAME
// that a retry can change.
func newRetryCommand() *cobra.Command {
	var home homeFlags
	cmd := &cobra.Command{
		Use:   "retry NAME",
		Short: "Create a migration for the failed clusters of a finished one that a retry can change",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, client, ns, err := home.connect()
			if err != nil {
				return failed(err)
			}
			plan, err := reconcile.Retry(cmd.Context(), client, ns, args[0])
			if err != nil {
				return failed(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "managedclustermigration %s/%s created for %s\n", ns, plan.Name, strings.Join(plan.Clusters, ", "))
			return nil
		},
	}
	home.bind(cmd.Flags())
	return cmd
}
