package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

// newHubCommand is `hubmigrate hub add|check NAME`.
func newHubCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Give hubmigrate an identity on a hub (add) and check what it may do (check)",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return errors.New("a command is required: add or check") },
	}
	cmd.AddCommand(newHubAddCommand(), newHubCheckCommand())
	return cmd
}

// hubFlags: unlike the other commands, --context names the hub (hub add)
// and --home-context the home cluster, where <NAME>-kubeconfig lives.
type hubFlags struct {
	kubeconfig, homeContext, namespace string
}

func (h *hubFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&h.kubeconfig, "kubeconfig", "", "kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&h.homeContext, "home-context", "", "context of the home cluster, where hubmigrate runs (default: the current context)")
	fs.StringVarP(&h.namespace, "namespace", "n", "hubmigrate", "hubmigrate's namespace on the home cluster, where <NAME>-kubeconfig lives")
}

func (h *hubFlags) client(kubeContext string) (*rest.Config, *kubernetes.Clientset, error) {
	cfg, err := cliConfig(h.kubeconfig, kubeContext).ClientConfig()
	if err != nil {
		return nil, nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	return cfg, kube, err
}

// newHubAddCommand makes hubmigrate's identity on a hub (a ServiceAccount
// bound to manifests/base/hub-role.yaml, fenced by hub-fence.yaml), mints
// it a token of bounded lifetime and writes <NAME>-kubeconfig on the home
// cluster. Run it again to rotate the token: hubmigrate picks the new
// Secret up without a restart.
func newHubAddCommand() *cobra.Command {
	var (
		h                              hubFlags
		hubContext, bootstrapNamespace string
		duration                       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "add NAME --context HUB_CONTEXT",
		Short: "Make hubmigrate's fenced identity on a hub and write <NAME>-kubeconfig on the home cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := hubAdd(cmd.Context(), cmd.OutOrStdout(), &h, args[0], hubContext, duration, bootstrapNamespace); err != nil {
				return failed(err)
			}
			return nil
		},
	}
	h.bind(cmd.Flags())
	cmd.Flags().StringVar(&hubContext, "context", "", "context of the hub (required)")
	cmd.Flags().DurationVar(&duration, "token-duration", 30*24*time.Hour, "lifetime of the hub token (rotate before it ends: run hub add again)")
	cmd.Flags().StringVar(&bootstrapNamespace, "bootstrap-namespace", "open-cluster-management", "the controller's --bootstrap-namespace: where migrations make their bootstrap ServiceAccounts on the hub (the fence allows no other)")
	_ = cmd.MarkFlagRequired("context")
	return cmd
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

// newHubCheckCommand says, with the credential in <NAME>-kubeconfig, what
// that identity may and may not do against what manifests/base/hub-role.yaml
// asks; exit 1 when anything is missing.
func newHubCheckCommand() *cobra.Command {
	var h hubFlags
	cmd := &cobra.Command{
		Use:   "check NAME",
		Short: "Say what the identity in <NAME>-kubeconfig may do on its hub, against what hubmigrate needs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			missing, err := hubCheck(cmd.Context(), cmd.OutOrStdout(), &h, args[0])
			if err != nil {
				return failed(err)
			}
			if missing > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%d permissions missing: apply manifests/base/hub-role.yaml and bind it (hubmigrate hub add does both)\n", missing)
				return &exitCode{code: 1}
			}
			return nil
		},
	}
	h.bind(cmd.Flags())
	return cmd
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
	perms, err := reviewHubRole(ctx, hub)
	if err != nil {
		return 0, err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "hub %s at %s as %s\n", name, cfg.Host, review.Status.UserInfo.Username)
	fmt.Fprintln(tw, "ALLOWED\tVERB\tRESOURCE\tNAME")
	missing := 0
	for _, p := range perms {
		allowed := "yes"
		if !p.Allowed {
			allowed, missing = "NO", missing+1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", allowed, p.Verb, p.Resource, p.Name)
	}
	return missing, tw.Flush()
}

// permission is one verb of manifests/base/hub-role.yaml, and whether the
// identity asking holds it.
type permission struct {
	Verb     string `json:"verb"`
	Resource string `json:"resource"` // resource[/subresource][.group]
	Name     string `json:"name,omitempty"`
	Allowed  bool   `json:"allowed"`
}

func (p permission) String() string {
	s := p.Verb + " " + p.Resource
	if p.Name != "" {
		s += " " + p.Name
	}
	return s
}

// reviewHubRole asks the hub, one SelfSubjectAccessReview per verb, which
// of the hub role's permissions the client's identity holds.
func reviewHubRole(ctx context.Context, hub kubernetes.Interface) ([]permission, error) {
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(manifests.HubRole, &role); err != nil {
		return nil, err
	}
	var out []permission
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
							return nil, err
						}
						gr := resource
						if sub != "" {
							gr += "/" + sub
						}
						if group != "" {
							gr += "." + group
						}
						out = append(out, permission{Verb: verb, Resource: gr, Name: n, Allowed: r.Status.Allowed})
					}
				}
			}
		}
	}
	return out, nil
}
