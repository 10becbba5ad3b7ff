package reconcile

//hubmigrate:pure

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
)

// tokenClaims are what hubmigrate reads back from a cluster's token: its id
// (which the API server records on the CSRs filed with it) and its expiry.
type tokenClaims struct {
	JTI     string
	Expires time.Time
}

// bootstrapToken reads the token out of a bootstrap kubeconfig Secret.
func bootstrapToken(secret *corev1.Secret) (string, error) {
	kc, err := clientcmd.Load(secret.Data["kubeconfig"])
	if err != nil {
		return "", err
	}
	for _, auth := range kc.AuthInfos {
		if auth.Token != "" {
			return auth.Token, nil
		}
	}
	return "", fmt.Errorf("bootstrap kubeconfig %s/%s holds no token", secret.Namespace, secret.Name)
}

// parseTokenClaims reads a JWT's claims without verifying it: it is the
// migration's own token, read back from its own Secret.
func parseTokenClaims(token string) (tokenClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return tokenClaims{}, fmt.Errorf("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return tokenClaims{}, err
	}
	var claims struct {
		JTI string `json:"jti"`
		Exp int64  `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return tokenClaims{}, err
	}
	return tokenClaims{JTI: claims.JTI, Expires: time.Unix(claims.Exp, 0)}, nil
}

func encodeBytes(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
