package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/hubmigrate/hubmigrate/reconcile"
)

func fakeMigrations(t *testing.T) *dynamicfake.FakeDynamicClient {
	t.Helper()
	m := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": reconcile.MigrationGVR.GroupVersion().String(), "kind": "ManagedClusterMigration",
		"metadata": map[string]any{"name": "m", "namespace": "ops", "uid": "u1"},
	}}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{reconcile.MigrationGVR: "ManagedClusterMigrationList"}, m)
}

// A deletion already under way may finish between the annotation and the
// delete (the controller lets it go on the annotation): abandon succeeded.
func TestAbandonWhenTheMigrationGoesOnTheAnnotation(t *testing.T) {
	client := fakeMigrations(t)
	client.PrependReactor("delete", "managedclustermigrations", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(reconcile.MigrationGVR.GroupResource(), "m")
	})
	migrations := client.Resource(reconcile.MigrationGVR).Namespace("ops")
	require.NoError(t, abandon(context.Background(), migrations, "m"))
	m, err := migrations.Get(context.Background(), "m", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "true", m.GetAnnotations()[reconcile.AnnAbandon], "annotated before the delete")
}

func TestAbandonAnnotatesThenDeletesThatOne(t *testing.T) {
	client := fakeMigrations(t)
	migrations := client.Resource(reconcile.MigrationGVR).Namespace("ops")
	require.NoError(t, abandon(context.Background(), migrations, "m"))
	var verbs []string
	for _, a := range client.Actions() {
		verbs = append(verbs, a.GetVerb())
		if d, ok := a.(k8stesting.DeleteActionImpl); ok {
			require.NotNil(t, d.DeleteOptions.Preconditions)
			assert.Equal(t, "u1", string(*d.DeleteOptions.Preconditions.UID), "that one and no namesake")
		}
	}
	assert.Equal(t, []string{"get", "patch", "delete"}, verbs)
	_, err := migrations.Get(context.Background(), "m", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err))

	err = abandon(context.Background(), migrations, "m")
	assert.True(t, apierrors.IsNotFound(err), "a migration that is not there is an error: %v", err)
}
