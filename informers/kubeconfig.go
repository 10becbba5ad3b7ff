package informers

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// A <hub>-kubeconfig Secret can be written by anyone who may create a Secret
// in hubmigrate's namespace, and client-go's kubeconfig semantics would let
// its author run a command in the controller (exec, auth-provider), make it
// send a local file to a server of the author's choice (tokenFile, and the
// certificate and key paths), borrow another identity (impersonation) or
// route its traffic (proxy-url). Such a kubeconfig is refused: only data
// fields are honoured — server, tls-server-name, insecure-skip-tls-verify,
// disable-compression, certificate-authority-data, client-certificate-data,
// client-key-data, token, username and password.

// refusedFields say, for each field refused, why (never what it holds).
var refusedFields = map[string]string{
	"exec":                  "runs a command",
	"auth-provider":         "runs an authentication plugin",
	"tokenFile":             "reads a local file; put the token in token",
	"client-certificate":    "reads a local file; use client-certificate-data",
	"client-key":            "reads a local file; use client-key-data",
	"certificate-authority": "reads a local file; use certificate-authority-data",
	"as":                    "impersonation",
	"as-uid":                "impersonation",
	"as-groups":             "impersonation",
	"as-user-extra":         "impersonation",
	"proxy-url":             "routes hub traffic through a proxy",
}

// Refusal names one field of one kubeconfig entry that is not allowed.
type Refusal struct {
	// Entry is `cluster "<name>"`, `user "<name>"`, `context "<name>"` or
	// "kubeconfig" (the file itself).
	Entry string
	// Field is the kubeconfig field, spelled as in the file.
	Field string
	// Why is a fixed explanation; it never quotes the field's value.
	Why string
}

func (r Refusal) String() string { return fmt.Sprintf("%s: %s (%s)", r.Entry, r.Field, r.Why) }

// KubeconfigRefusedError says which fields of which entries made a
// kubeconfig unacceptable. It holds no value of the kubeconfig but the
// names of its entries.
type KubeconfigRefusedError struct {
	Refusals []Refusal
}

func (e *KubeconfigRefusedError) Error() string {
	const shown = 5
	parts := make([]string, 0, shown+1)
	for i, r := range e.Refusals {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more", len(e.Refusals)-shown))
			break
		}
		parts = append(parts, r.String())
	}
	return "kubeconfig refused: only data fields are allowed: " + strings.Join(parts, "; ")
}

// entry names a kubeconfig entry for a message; names are the author's, so
// they are quoted and bounded.
func entry(kind, name string) string {
	const max = 63
	if len(name) > max {
		name = name[:max] + "…"
	}
	return fmt.Sprintf("%s %q", kind, name)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkKubeconfig lists what makes cfg more than data, in a stable order:
// every cluster and user of the file is checked, not only the current
// context's, and the current context must name a cluster with a server.
func checkKubeconfig(cfg *clientcmdapi.Config) []Refusal {
	var out []Refusal
	refuse := func(entry, field string) {
		out = append(out, Refusal{Entry: entry, Field: field, Why: refusedFields[field]})
	}
	for _, name := range sortedKeys(cfg.Clusters) {
		c, e := cfg.Clusters[name], entry("cluster", name)
		if c == nil {
			continue
		}
		if c.CertificateAuthority != "" {
			refuse(e, "certificate-authority")
		}
		if c.ProxyURL != "" {
			refuse(e, "proxy-url")
		}
	}
	for _, name := range sortedKeys(cfg.AuthInfos) {
		u, e := cfg.AuthInfos[name], entry("user", name)
		if u == nil {
			continue
		}
		if u.Exec != nil {
			refuse(e, "exec")
		}
		if u.AuthProvider != nil {
			refuse(e, "auth-provider")
		}
		if u.TokenFile != "" {
			refuse(e, "tokenFile")
		}
		if u.ClientCertificate != "" {
			refuse(e, "client-certificate")
		}
		if u.ClientKey != "" {
			refuse(e, "client-key")
		}
		if u.Impersonate != "" {
			refuse(e, "as")
		}
		if u.ImpersonateUID != "" {
			refuse(e, "as-uid")
		}
		if len(u.ImpersonateGroups) > 0 {
			refuse(e, "as-groups")
		}
		if len(u.ImpersonateUserExtra) > 0 {
			refuse(e, "as-user-extra")
		}
	}
	// The current context: the one a client would use.
	unusable := func(entry, field, why string) {
		out = append(out, Refusal{Entry: entry, Field: field, Why: why})
	}
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	switch {
	case cfg.CurrentContext == "":
		unusable("kubeconfig", "current-context", "not set: no usable current context")
	case !ok || ctx == nil:
		unusable("kubeconfig", "current-context", "names no context of the file")
	default:
		e := entry("context", cfg.CurrentContext)
		if c, ok := cfg.Clusters[ctx.Cluster]; !ok || c == nil {
			unusable(e, "cluster", "names no cluster of the file")
		} else if c.Server == "" {
			unusable(entry("cluster", ctx.Cluster), "server", "not set")
		}
		if ctx.AuthInfo != "" {
			if u, ok := cfg.AuthInfos[ctx.AuthInfo]; !ok || u == nil {
				unusable(e, "user", "names no user of the file")
			}
		}
	}
	return out
}

// restConfigFromSecretData builds the client configuration of a hub from
// the kubeconfig held in its Secret. A kubeconfig that names anything but
// data — a plugin, a file path, impersonation, a proxy — or has no usable
// current context is refused with a *KubeconfigRefusedError; one that does
// not parse, or that client-go finds inconsistent, is an ordinary error.
// Neither error quotes a credential. Nothing is executed and no local file
// is read: clientcmd.Load does no path resolution (only loading from a file
// does), and client-go opens files and runs plugins only for the fields
// refused here.
func restConfigFromSecretData(data []byte) (*rest.Config, error) {
	return RESTConfigFromSecretData(data)
}

// RESTConfigFromSecretData is restConfigFromSecretData for the CLI: `hub
// check` reads a <hub>-kubeconfig Secret that anyone who may write Secrets
// in hubmigrate's namespace can author, on an admin's machine.
func RESTConfigFromSecretData(data []byte) (*rest.Config, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, err
	}
	if refusals := checkKubeconfig(cfg); len(refusals) > 0 {
		return nil, &KubeconfigRefusedError{Refusals: refusals}
	}
	// No overrides and no fallback reader: nothing is taken from the
	// environment, flags or a prompt.
	rc, err := clientcmd.NewNonInteractiveClientConfig(*cfg, cfg.CurrentContext, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, err
	}
	// Defence in depth: whatever client-go made of the checked file, a
	// config that could run or read something is never handed out.
	if field := unsafeField(rc); field != "" {
		return nil, &KubeconfigRefusedError{Refusals: []Refusal{{Entry: "kubeconfig", Field: field, Why: "not allowed in a hub's client configuration"}}}
	}
	return rc, nil
}

// unsafeField names a client configuration field that would make client-go
// run a command, read a local file, impersonate or use a proxy ("" if none).
func unsafeField(rc *rest.Config) string {
	switch {
	case rc.ExecProvider != nil:
		return "exec"
	case rc.AuthProvider != nil:
		return "auth-provider"
	case rc.BearerTokenFile != "":
		return "tokenFile"
	case rc.CertFile != "":
		return "client-certificate"
	case rc.KeyFile != "":
		return "client-key"
	case rc.CAFile != "":
		return "certificate-authority"
	case rc.Impersonate.UserName != "" || rc.Impersonate.UID != "" || len(rc.Impersonate.Groups) > 0 || len(rc.Impersonate.Extra) > 0:
		return "as"
	case rc.Proxy != nil:
		return "proxy-url"
	}
	return ""
}
