package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/hubmigrate/hubmigrate/informers"
	"github.com/hubmigrate/hubmigrate/manifests"
)

// hubIdentity is the ServiceAccount `hub add` makes on a hub for hubmigrate.
const hubIdentity = "hubmigrate"

// hubMain is `hubmigrate hub add|check NAME`.
func hubMain(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: hubmigrate hub add|check NAME [flags]")
		return 2
	}
	switch args[0] {
	case "add":
		return hubAddMain(args[1:])
	case "check":
		return hubCheckMain(args[1:])
	}
	fmt.Fprintf(os.Stderr, "hubmigrate hub: unknown command %q (add, check)\n", args[0])
	return 2
}

type hubFlags struct {
	kubeconfig, homeContext, namespace string
	fs                                 *flag.FlagSet
}

func newHubFlags(name, usage string) *hubFlags {
	h := &hubFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	h.fs.StringVar(&h.kubeconfig, "kubeconfig", "", "kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
	h.fs.StringVar(&h.homeContext, "home-context", "", "context of the home cluster, where hubmigrate runs (default: the current context)")
	h.fs.StringVar(&h.namespace, "namespace", "hubmigrate", "hubmigrate's namespace on the home cluster, where <NAME>-kubeconfig lives")
	h.fs.Usage = func() {
		fmt.Fprintln(h.fs.Output(), "usage: "+usage)
		h.fs.PrintDefaults()
	}
	return h
}

// parse parses the flags, which may come before or after NAME.
func (h *hubFlags) parse(args []string) (string, int) {
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := h.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", 0
		}
		return "", 2
	}
	if name == "" && h.fs.NArg() == 1 {
		name = h.fs.Arg(0)
	} else if h.fs.NArg() > 0 {
		h.fs.Usage()
		return "", 2
	}
	if name == "" {
		h.fs.Usage()
		return "", 2
	}
	return name, -1
}

func (h *hubFlags) client(kubeContext string) (*rest.Config, *kubernetes.Clientset, error) {
	cfg, err := cliConfig(h.kubeconfig, kubeContext).ClientConfig()
	if err != nil {
		return nil, nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	return cfg, kube, err
}

// hubAddMain makes hubmigrate's identity on a hub (a ServiceAccount bound to
// manifests/base/hub-role.yaml), mints it a token of bounded lifetime and
// writes <NAME>-kubeconfig on the home cluster. Run it again to rotate the
// token: hubmigrate picks the new Secret up without a restart.
func hubAddMain(args []string) int {
	h := newHubFlags("hub add", "hubmigrate hub add NAME --context HUB_CONTEXT [--home-context CTX] [--namespace NS] [--token-duration D]")
	hubContext := h.fs.String("context", "", "context of the hub (required)")
	duration := h.fs.Duration("token-duration", 30*24*time.Hour, "lifetime of the hub token (rotate before it ends: run hub add again)")
	bootstrapNamespace := h.fs.String("bootstrap-namespace", "open-cluster-management", "the controller's --bootstrap-namespace: where migrations make their bootstrap ServiceAccounts on the hub (the fence allows no other)")
	name, code := h.parse(args)
	if code >= 0 {
		return code
	}
	if *hubContext == "" {
		fmt.Fprintln(os.Stderr, "hubmigrate hub add: --context (the hub's kubeconfig context) is required")
		return 2
	}
	if err := hubAdd(context.Background(), os.Stdout, h, name, *hubContext, *duration, *bootstrapNamespace); err != nil {
		fmt.Fprintln(os.Stderr, "hubmigrate hub add:", err)
		return 1
	}
	return 0
}

func hubAdd(ctx context.Context, out io.Writer, h *hubFlags, name, hubContext string, duration time.Duration, bootstrapNamespace string) error {
	hubCfg, hub, err := h.client(hubContext)
	if err != nil {
		return fmt.Errorf("hub context %q: %w", hubContext, err)
	}
	_, home, err := h.client(h.homeContext)
	if err != nil {
		return fmt.Errorf("home context: %w", err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(manifests.HubRole, &role); err != nil {
		return err
	}
	if err := upsert(ctx, "namespace "+hubIdentity, func() error {
		_, err := hub.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hubIdentity}}, metav1.CreateOptions{})
		return err
	}, nil); err != nil {
		return err
	}
	if err := upsert(ctx, "ClusterRole "+role.Name, func() error {
		_, err := hub.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{})
		return err
	}, func() error {
		live, err := hub.RbacV1().ClusterRoles().Get(ctx, role.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		live.Rules = role.Rules
		_, err = hub.RbacV1().ClusterRoles().Update(ctx, live, metav1.UpdateOptions{})
		return err
	}); err != nil {
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: hubIdentity, Namespace: hubIdentity}}
	if err := upsert(ctx, "ServiceAccount", func() error {
		_, err := hub.CoreV1().ServiceAccounts(hubIdentity).Create(ctx, sa, metav1.CreateOptions{})
		return err
	}, nil); err != nil {
		return err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: hubIdentity, Namespace: hubIdentity}},
	}
	if err := upsert(ctx, "ClusterRoleBinding "+binding.Name, func() error {
		_, err := hub.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})
		return err
	}, func() error {
		live, err := hub.RbacV1().ClusterRoleBindings().Get(ctx, binding.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if live.RoleRef != binding.RoleRef {
			return fmt.Errorf("ClusterRoleBinding %s exists with another role (%s): delete it first", binding.Name, live.RoleRef.Name)
		}
		for _, s := range live.Subjects {
			if s == binding.Subjects[0] {
				return nil
			}
		}
		live.Subjects = append(live.Subjects, binding.Subjects[0])
		_, err = hub.RbacV1().ClusterRoleBindings().Update(ctx, live, metav1.UpdateOptions{})
		return err
	}); err != nil {
		return err
	}
	fence, err := applyFence(ctx, hub, "system:serviceaccount:"+hubIdentity+":"+hubIdentity, bootstrapNamespace)
	if err != nil {
		return err
	}
	seconds := int64(duration.Seconds())
	tok, err := hub.CoreV1().ServiceAccounts(hubIdentity).CreateToken(ctx, hubIdentity,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("a token for %s/%s: %w", hubIdentity, hubIdentity, err)
	}
	kubeconfig, err := tokenKubeconfig(hubCfg, name, tok.Status.Token)
	if err != nil {
		return err
	}
	secretName := name + "-kubeconfig"
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: h.namespace,
		Labels: map[string]string{"app.kubernetes.io/part-of": "hubmigrate"}}, Data: map[string][]byte{"kubeconfig": kubeconfig}}
	if err := upsert(ctx, "Secret "+secretName, func() error {
		_, err := home.CoreV1().Secrets(h.namespace).Create(ctx, secret, metav1.CreateOptions{})
		return err
	}, func() error {
		live, err := home.CoreV1().Secrets(h.namespace).Get(ctx, secretName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		live.Data = secret.Data
		_, err = home.CoreV1().Secrets(h.namespace).Update(ctx, live, metav1.UpdateOptions{})
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(out, "hub %s: ServiceAccount %s/%s on %s bound to ClusterRole %s and fenced by ValidatingAdmissionPolicy %s; Secret %s/%s written on home; its token expires %s (run hub add again before then)\n",
		name, hubIdentity, hubIdentity, hubCfg.Host, role.Name, fence, h.namespace, secretName, tok.Status.ExpirationTimestamp.UTC().Format(time.RFC3339))
	return nil
}

// upsert creates, and on AlreadyExists runs update (nil: keep what exists).
func upsert(_ context.Context, what string, create, update func() error) error {
	err := create()
	if apierrors.IsAlreadyExists(err) {
		if update == nil {
			return nil
		}
		err = update()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// tokenKubeconfig holds only data fields (hubmigrate refuses file paths,
// exec plugins and the like in a <hub>-kubeconfig).
func tokenKubeconfig(hub *rest.Config, name, token string) ([]byte, error) {
	ca := hub.CAData
	if len(ca) == 0 && hub.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(hub.CAFile); err != nil {
			return nil, err
		}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{Server: hub.Host, CertificateAuthorityData: ca, TLSServerName: hub.ServerName}
	kc.AuthInfos[hubIdentity] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: hubIdentity}
	kc.CurrentContext = name
	return clientcmd.Write(*kc)
}

// hubCheckMain says, with the credential in <NAME>-kubeconfig, what that
// identity may and may not do against what manifests/base/hub-role.yaml
// asks; exit 1 when anything is missing.
func hubCheckMain(args []string) int {
	h := newHubFlags("hub check", "hubmigrate hub check NAME [--home-context CTX] [--namespace NS]")
	name, code := h.parse(args)
	if code >= 0 {
		return code
	}
	missing, err := hubCheck(context.Background(), os.Stdout, h, name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubmigrate hub check:", err)
		return 1
	}
	if missing > 0 {
		fmt.Fprintf(os.Stdout, "%d permissions missing: apply manifests/base/hub-role.yaml and bind it (hubmigrate hub add does both)\n", missing)
		return 1
	}
	return 0
}

func hubCheck(ctx context.Context, out io.Writer, h *hubFlags, name string) (int, error) {
	_, home, err := h.client(h.homeContext)
	if err != nil {
		return 0, fmt.Errorf("home context: %w", err)
	}
	secret, err := home.CoreV1().Secrets(h.namespace).Get(ctx, name+"-kubeconfig", metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	// The Secret is input, not truth: the same refusals as the controller's
	// (no exec plugin, no file path, ...), so checking it runs nothing.
	cfg, err := informers.RESTConfigFromSecretData(secret.Data["kubeconfig"])
	if err != nil {
		return 0, fmt.Errorf("%s-kubeconfig: %w", name, err)
	}
	hub, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 0, err
	}
	review, err := hub.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return 0, fmt.Errorf("hub %s at %s: %w", name, cfg.Host, err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(manifests.HubRole, &role); err != nil {
		return 0, err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "hub %s at %s as %s\n", name, cfg.Host, review.Status.UserInfo.Username)
	fmt.Fprintln(tw, "ALLOWED\tVERB\tRESOURCE\tNAME")
	missing := 0
	for _, rule := range role.Rules {
		names := rule.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, group := range rule.APIGroups {
			for _, resource := range rule.Resources {
				resource, sub, _ := strings.Cut(resource, "/")
				for _, verb := range rule.Verbs {
					for _, n := range names {
						r, err := hub.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
							ResourceAttributes: &authorizationv1.ResourceAttributes{Group: group, Resource: resource, Subresource: sub, Verb: verb, Name: n}}}, metav1.CreateOptions{})
						if err != nil {
							return 0, err
						}
						allowed := "yes"
						if !r.Status.Allowed {
							allowed, missing = "NO", missing+1
						}
						gr := resource
						if sub != "" {
							gr += "/" + sub
						}
						if group != "" {
							gr += "." + group
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", allowed, verb, gr, n)
					}
				}
			}
		}
	}
	return missing, tw.Flush()
}
