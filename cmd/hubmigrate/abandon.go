package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/hubmigrate/hubmigrate/reconcile"
)

// newAbandonCommand is `hubmigrate abandon NAME`: delete a migration and let
// its deletion finish although a hub it may have touched stays unreachable
// (the abandon annotation, then the delete). What can be reached is rolled
// back and cleaned as for any deletion; what could not be is named in the
// Warning Event Abandoned.
func newAbandonCommand() *cobra.Command {
	var home homeFlags
	cmd := &cobra.Command{
		Use:   "abandon NAME",
		Short: "Delete a migration and let the deletion finish although a hub stays unreachable",
		Long: `abandon sets the migration's abandon annotation, then deletes it. The controller
rolls back every cluster that is not committed and cleans every hub it can reach, as
for any deletion; a hub that cannot be reached is let go, and what could not be
cleaned there is named in a Warning Event (Abandoned) and the controller's log.
See docs/when-a-migration-fails.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, client, ns, err := home.connect()
			if err != nil {
				return failed(err)
			}
			if err := abandon(cmd.Context(), client.Resource(reconcile.MigrationGVR).Namespace(ns), args[0]); err != nil {
				return failed(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "managedclustermigration %s/%s abandoned: deleting; what cannot be cleaned is named in its Abandoned Event\n", ns, args[0])
			return nil
		},
	}
	home.bind(cmd.Flags())
	return cmd
}

// abandon annotates the migration, then deletes it. When its deletion was
// already under way the controller may let it go between the two: a delete
// that then finds nothing has nothing left to do.
func abandon(ctx context.Context, migrations dynamic.ResourceInterface, name string) error {
	m, err := migrations.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	// A merge patch of the annotation alone, on the object read: the UID
	// precondition below deletes that one and no namesake.
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"annotations": map[string]any{reconcile.AnnAbandon: "true"},
		"uid":         string(m.GetUID()),
	}})
	if _, err := migrations.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return err
	}
	uid := m.GetUID()
	err = migrations.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
