package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/klog/v2"
)

// ensureSealKey makes the seal key at the first start: a Secret in
// hubmigrate's namespace with 32 random bytes. An existing one — another
// replica's, or one an admin rotated — is kept as it is.
func (c *Controller) ensureSealKey(ctx context.Context) error {
	namespace := c.registry.Namespace()
	secrets := c.home.Resource(SecretGVR).Namespace(namespace)
	_, err := secrets.Get(ctx, SealKeySecret, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		return err
	}
	key := make([]byte, minSealKey)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
		"metadata": map[string]any{"name": SealKeySecret, "namespace": namespace,
			"labels": map[string]any{"app.kubernetes.io/name": "hubmigrate", "app.kubernetes.io/component": "seal-key"}},
		"data": map[string]any{"current": base64.StdEncoding.EncodeToString(key)},
	}}
	_, err = secrets.Create(ctx, secret, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err == nil {
		klog.FromContext(ctx).Info("made the key that seals hubmigrate's markers", "secret", klog.KRef(namespace, SealKeySecret))
	}
	return err
}

// sealer is the Sealer of the key Secret as the cache holds it now (a
// rotation is seen at the next reconcile).
func (c *Controller) sealer() (*Sealer, error) {
	s, err := SealerFromSecret(c.registry.Secret(SealKeySecret))
	if err != nil {
		return nil, fmt.Errorf("the seal key: %w", err)
	}
	return s, nil
}
