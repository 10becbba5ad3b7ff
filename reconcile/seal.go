package reconcile

//hubmigrate:pure

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AnnSeal authenticates the markers hubmigrate wrote on an object (SPEC
// "Trust boundaries" rule 1): anyone who may edit a ManagedCluster or a copy
// can write annotations, so a marker counts only when its seal verifies.
const AnnSeal = Prefix + "seal"

// SealKeySecret is the Secret on home, in hubmigrate's namespace, that holds
// the seal keys: data "current" seals and verifies, data "previous" (after a
// rotation) only verifies.
const SealKeySecret = "hubmigrate-seal-key"

// minSealKey is the shortest key accepted: HMAC-SHA256's block of entropy.
const minSealKey = 32

// Seal versions: "v1u" is bound to the object's UID (every update); "v1c"
// is written by a create, before the object has a UID, and so may carry
// only the markers a create writes — never a decision.
const (
	sealBound   = "v1u"
	sealCreated = "v1c"
)

// createdMarkers are the only markers a create-time seal vouches for.
var createdMarkers = []string{LabelHome, LabelMigrationUID, AnnOwner, AnnPhaseSince}

// Sealer writes and checks seals. Its keys come from the SealKeySecret;
// the first one seals.
type Sealer struct {
	keys [][]byte
}

// NewSealer takes the current key and, after a rotation, the previous one.
func NewSealer(current []byte, previous ...[]byte) (*Sealer, error) {
	s := &Sealer{}
	for i, k := range append([][]byte{current}, previous...) {
		if i > 0 && len(k) == 0 {
			continue
		}
		if len(k) < minSealKey {
			return nil, fmt.Errorf("a seal key must be at least %d bytes, got %d", minSealKey, len(k))
		}
		s.keys = append(s.keys, slices.Clone(k))
	}
	return s, nil
}

// SealerFromSecret reads the SealKeySecret.
func SealerFromSecret(secret *corev1.Secret) (*Sealer, error) {
	if secret == nil {
		return nil, fmt.Errorf("no Secret %s", SealKeySecret)
	}
	s, err := NewSealer(secret.Data["current"], secret.Data["previous"])
	if err != nil {
		return nil, fmt.Errorf("Secret %s/%s: %w", secret.Namespace, secret.Name, err)
	}
	return s, nil
}

// sealedMarkers are an object's markers under the seal, sorted: every
// annotation and label under the prefix but the seal itself. The phase label
// is outside (it is a projection, and has no prefix).
func sealedMarkers(obj metav1.Object) [][2]string {
	var out [][2]string
	for k, v := range obj.GetAnnotations() {
		if strings.HasPrefix(k, Prefix) && k != AnnSeal {
			out = append(out, [2]string{"a:" + k, v})
		}
	}
	for k, v := range obj.GetLabels() {
		if strings.HasPrefix(k, Prefix) {
			out = append(out, [2]string{"l:" + k, v})
		}
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return out
}

// mac is the HMAC of the canonical form of what a seal vouches for.
func mac(key []byte, version, resource string, obj metav1.Object, uid string, markers [][2]string) []byte {
	canonical, _ := json.Marshal(struct {
		Version, Resource, Namespace, Name, UID string
		Markers                                 [][2]string
	}{version, resource, obj.GetNamespace(), obj.GetName(), uid, markers})
	h := hmac.New(sha256.New, key)
	h.Write(canonical)
	return h.Sum(nil)
}

func keyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// Seal sets the seal of obj (resource is its API resource, e.g.
// "managedclusters") over its current markers, or removes it when it has
// none. An object without a UID is being created.
func (s *Sealer) Seal(resource string, obj metav1.Object) {
	anns := obj.GetAnnotations()
	markers := sealedMarkers(obj)
	if len(markers) == 0 {
		if _, ok := anns[AnnSeal]; ok {
			delete(anns, AnnSeal)
			obj.SetAnnotations(anns)
		}
		return
	}
	version, uid := sealBound, string(obj.GetUID())
	if uid == "" {
		version = sealCreated
	}
	if anns == nil {
		anns = map[string]string{}
	}
	key := s.keys[0]
	anns[AnnSeal] = version + "." + keyID(key) + "." + base64.RawURLEncoding.EncodeToString(mac(key, version, resource, obj, uid, markers))
	obj.SetAnnotations(anns)
}

// ErrUnsealed: an object's markers were not written by hubmigrate (or were
// changed since), so nothing may be done on their word.
var ErrUnsealed = errors.New("markers not sealed by hubmigrate")

// Verify checks obj's seal. An object without markers has nothing to check.
func (s *Sealer) Verify(resource string, obj metav1.Object) error {
	markers := sealedMarkers(obj)
	if len(markers) == 0 {
		return nil
	}
	seal, ok := obj.GetAnnotations()[AnnSeal]
	if !ok {
		return fmt.Errorf("%w: no seal", ErrUnsealed)
	}
	parts := strings.Split(seal, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%w: malformed seal", ErrUnsealed)
	}
	version, id := parts[0], parts[1]
	got, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return fmt.Errorf("%w: malformed seal", ErrUnsealed)
	}
	uid := string(obj.GetUID())
	switch version {
	case sealBound:
	case sealCreated:
		for _, m := range markers {
			if !slices.Contains(createdMarkers, m[0][2:]) {
				return fmt.Errorf("%w: a create-time seal cannot vouch for %s", ErrUnsealed, m[0][2:])
			}
		}
		uid = ""
	default:
		return fmt.Errorf("%w: unknown seal version %q", ErrUnsealed, version)
	}
	for _, key := range s.keys {
		if keyID(key) == id && hmac.Equal(got, mac(key, version, resource, obj, uid, markers)) {
			return nil
		}
	}
	return fmt.Errorf("%w: the seal does not match the markers, the object or a known key", ErrUnsealed)
}
