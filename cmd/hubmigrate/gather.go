package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/hubmigrate/hubmigrate/informers"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

// redacted replaces every value that could be a credential.
const redacted = "REDACTED"

func newGatherCommand() *cobra.Command {
	var (
		home                homeFlags
		hubmigrateNamespace string
		file                string
		logLines            int64
	)
	cmd := &cobra.Command{
		Use:   "gather [NAME...]",
		Short: "Write support's bundle: migrations, markers, scaffolding, CSRs, Events, logs, metrics — every secret value redacted",
		Long: `gather writes one tarball for support: the migrations (all of the namespace, or
those named), on every hub they name the ManagedClusters they involve with their
markers, their addons and leases, hubmigrate's scaffolding, the clusters' CSRs,
the Events on the migrations, the controller's pods with their logs and metrics,
and each cluster's version. It only reads. Secrets are kept as metadata with each
value replaced by REDACTED; CSRs lose their request and certificate; ManifestWorks
(which carry bootstrap kubeconfigs) only their metadata and status; managed fields
and last-applied annotations are dropped. docs/cli.md says how ACM's must-gather
calls it.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, client, ns, err := home.connect()
			if err != nil {
				return failed(err)
			}
			var out io.Writer = cmd.OutOrStdout()
			if file != "-" {
				if file == "" {
					file = "hubmigrate-gather-" + time.Now().UTC().Format("20060102T150405Z") + ".tar.gz"
				}
				f, err := os.Create(file)
				if err != nil {
					return failed(err)
				}
				defer f.Close()
				out = f
			}
			g := &gatherer{home: client, homeConfig: cfg, namespace: ns, product: hubmigrateNamespace, names: args, logLines: logLines}
			if err := g.write(cmd.Context(), out); err != nil {
				return failed(err)
			}
			if file != "-" {
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%d objects; notes in NOTES.txt)\n", file, g.objects)
			}
			return nil
		},
	}
	home.bind(cmd.Flags())
	cmd.Flags().StringVar(&hubmigrateNamespace, "hubmigrate-namespace", "hubmigrate", "the controller's --namespace: its pods, hub credentials and Lease")
	cmd.Flags().StringVarP(&file, "file", "f", "", "the tarball to write (default hubmigrate-gather-<time>.tar.gz; - for stdout)")
	cmd.Flags().Int64Var(&logLines, "log-lines", 20000, "the last lines of each controller container's log")
	return cmd
}

type gatherer struct {
	home       dynamic.Interface
	homeConfig *rest.Config
	namespace  string // of the migrations
	product    string // hubmigrate's namespace
	names      []string
	logLines   int64

	tw      *tar.Writer
	now     time.Time
	notes   []string
	objects int
}

func (g *gatherer) write(ctx context.Context, out io.Writer) error {
	gz := gzip.NewWriter(out)
	g.tw, g.now = tar.NewWriter(gz), time.Now()
	migrations, err := g.migrations(ctx)
	if err != nil {
		return err
	}
	g.home1(ctx, migrations)
	for _, hub := range hubsOf(migrations) {
		g.hub(ctx, hub, clustersOf(migrations, hub))
	}
	sort.Strings(g.notes)
	if err := g.file("NOTES.txt", []byte(strings.Join(g.notes, "\n")+"\n")); err != nil {
		return err
	}
	if err := g.tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func (g *gatherer) note(format string, args ...any) {
	g.notes = append(g.notes, fmt.Sprintf(format, args...))
}

func (g *gatherer) file(name string, data []byte) error {
	if err := g.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: g.now}); err != nil {
		return err
	}
	_, err := g.tw.Write(data)
	return err
}

// object adds one object, scrubbed, as YAML under dir.
func (g *gatherer) object(dir string, u *unstructured.Unstructured) {
	scrub(u)
	data, err := yaml.Marshal(u.Object)
	if err != nil {
		g.note("%s/%s: %v", dir, u.GetName(), err)
		return
	}
	name := u.GetName() + ".yaml"
	if u.GetNamespace() != "" {
		name = u.GetNamespace() + "/" + name
	}
	if err := g.file(path.Join(dir, strings.ToLower(u.GetKind()), name), data); err != nil {
		g.note("%s: %v", name, err)
		return
	}
	g.objects++
}

func (g *gatherer) migrations(ctx context.Context) ([]*unstructured.Unstructured, error) {
	list, err := g.home.Resource(reconcile.MigrationGVR).Namespace(g.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for i := range list.Items {
		if len(g.names) == 0 || slices.Contains(g.names, list.Items[i].GetName()) {
			out = append(out, &list.Items[i])
		}
	}
	for _, n := range g.names {
		if !slices.ContainsFunc(out, func(u *unstructured.Unstructured) bool { return u.GetName() == n }) {
			return nil, fmt.Errorf("managedclustermigration %s/%s not found", g.namespace, n)
		}
	}
	return out, nil
}

// home1 gathers what lives on the home cluster.
func (g *gatherer) home1(ctx context.Context, migrations []*unstructured.Unstructured) {
	kube, err := kubernetes.NewForConfig(g.homeConfig)
	if err != nil {
		g.note("home: %v", err)
		return
	}
	g.version("home", kube)
	for _, m := range migrations {
		g.object("home", m.DeepCopy())
	}
	events, err := g.home.Resource(schema.GroupVersionResource{Version: "v1", Resource: "events"}).Namespace(g.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		g.note("home: events: %v", err)
	}
	if events != nil {
		for i := range events.Items {
			involved, _, _ := unstructured.NestedString(events.Items[i].Object, "involvedObject", "kind")
			if involved == "ManagedClusterMigration" {
				g.object("home", &events.Items[i])
			}
		}
	}
	for _, gvr := range []schema.GroupVersionResource{
		{Version: "v1", Resource: "secrets"}, {Version: "v1", Resource: "pods"},
		{Group: "apps", Version: "v1", Resource: "deployments"}, {Group: "coordination.k8s.io", Version: "v1", Resource: "leases"},
	} {
		g.list(ctx, "home", g.home, gvr, g.product, metav1.ListOptions{}, nil)
	}
	pods, err := kube.CoreV1().Pods(g.product).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=hubmigrate"})
	if err != nil {
		g.note("home: controller pods: %v", err)
		return
	}
	if len(pods.Items) == 0 {
		g.note("home: no controller pod (label app.kubernetes.io/name=hubmigrate) in namespace %s: no logs or metrics", g.product)
	}
	for _, pod := range pods.Items {
		for _, c := range pod.Spec.Containers {
			for _, previous := range []bool{false, true} {
				logs, err := kube.CoreV1().Pods(g.product).GetLogs(pod.Name, &corev1.PodLogOptions{Container: c.Name, Previous: previous, TailLines: &g.logLines}).DoRaw(ctx)
				name := fmt.Sprintf("home/logs/%s/%s.log", pod.Name, c.Name)
				if previous {
					name = fmt.Sprintf("home/logs/%s/%s.previous.log", pod.Name, c.Name)
				}
				if err != nil {
					if !previous {
						g.note("%s: %v", name, err)
					}
					continue
				}
				_ = g.file(name, logs)
			}
		}
		metrics, err := kube.CoreV1().Pods(g.product).ProxyGet("http", pod.Name, "8080", "/metrics", nil).DoRaw(ctx)
		if err != nil {
			g.note("home/metrics/%s: %v", pod.Name, err)
			continue
		}
		_ = g.file("home/metrics/"+pod.Name+".txt", metrics)
	}
}

// hub gathers, on one hub, what the migrations involve.
func (g *gatherer) hub(ctx context.Context, hub string, clusters []string) {
	dir := "hubs/" + hub
	kube, err := kubernetes.NewForConfig(g.homeConfig)
	if err != nil {
		g.note("%s: %v", dir, err)
		return
	}
	secret, err := kube.CoreV1().Secrets(g.product).Get(ctx, hub+"-kubeconfig", metav1.GetOptions{})
	if err != nil {
		g.note("%s: its credential: %v", dir, err)
		return
	}
	// Read through the controller's refusals: gathering runs nothing a
	// Secret's author put in it.
	cfg, err := informers.RESTConfigFromSecretData(secret.Data["kubeconfig"])
	if err != nil {
		g.note("%s: %s-kubeconfig: %v", dir, hub, err)
		return
	}
	cfg.Timeout = 30 * time.Second
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		g.note("%s: %v", dir, err)
		return
	}
	if kube, err := kubernetes.NewForConfig(cfg); err == nil {
		g.version(dir, kube)
	}
	involved := func(u *unstructured.Unstructured) bool {
		if slices.Contains(clusters, u.GetName()) || slices.Contains(clusters, u.GetNamespace()) {
			return true
		}
		for k := range u.GetAnnotations() {
			if strings.HasPrefix(k, reconcile.Prefix) {
				return true
			}
		}
		_, ours := u.GetLabels()[reconcile.LabelMigrationUID]
		return ours
	}
	g.list(ctx, dir, client, reconcile.ManagedClusterGVR, "", metav1.ListOptions{}, involved)
	for _, c := range clusters {
		for _, gvr := range []schema.GroupVersionResource{reconcile.ManagedClusterAddOnGVR, reconcile.KlusterletAddonConfigGVR,
			{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}, reconcile.ManifestWorkGVR} {
			g.list(ctx, dir, client, gvr, c, metav1.ListOptions{}, nil)
		}
	}
	ours := metav1.ListOptions{LabelSelector: reconcile.LabelMigrationUID}
	for _, gvr := range []schema.GroupVersionResource{reconcile.SecretGVR, reconcile.ConfigMapGVR, reconcile.ServiceAccountGVR,
		reconcile.ClusterRoleBindingGVR, reconcile.ClusterRoleGVR, reconcile.KlusterletConfigGVR, reconcile.NamespaceGVR} {
		g.list(ctx, dir, client, gvr, "", ours, nil)
	}
	g.list(ctx, dir, client, reconcile.CSRGVR, "", metav1.ListOptions{}, func(u *unstructured.Unstructured) bool {
		return slices.Contains(clusters, u.GetLabels()[reconcile.LabelClusterName])
	})
}

func (g *gatherer) list(ctx context.Context, dir string, client dynamic.Interface, gvr schema.GroupVersionResource, namespace string, opts metav1.ListOptions, keep func(*unstructured.Unstructured) bool) {
	list, err := client.Resource(gvr).Namespace(namespace).List(ctx, opts)
	if err != nil {
		g.note("%s: %s in %q: %v", dir, gvr.Resource, namespace, err)
		return
	}
	for i := range list.Items {
		if keep == nil || keep(&list.Items[i]) {
			g.object(dir, &list.Items[i])
		}
	}
}

func (g *gatherer) version(dir string, kube kubernetes.Interface) {
	v, err := kube.Discovery().ServerVersion()
	if err != nil {
		g.note("%s: version: %v", dir, err)
		return
	}
	data, _ := yaml.Marshal(v)
	_ = g.file(dir+"/version.yaml", data)
}

// scrub drops from an object every value that could be a credential, and
// what only makes it long.
func scrub(u *unstructured.Unstructured) {
	unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
	if anns := u.GetAnnotations(); anns != nil {
		delete(anns, "kubectl.kubernetes.io/last-applied-configuration")
		u.SetAnnotations(anns)
	}
	switch u.GetKind() {
	case "Secret":
		for _, field := range []string{"data", "stringData"} {
			values, _, _ := unstructured.NestedMap(u.Object, field)
			for k := range values {
				values[k] = redacted
			}
			if values != nil {
				_ = unstructured.SetNestedMap(u.Object, values, field)
			}
		}
	case "CertificateSigningRequest":
		unstructured.RemoveNestedField(u.Object, "spec", "request")
		unstructured.RemoveNestedField(u.Object, "status", "certificate")
	case "ManifestWork":
		// Its manifests carry the bootstrap kubeconfigs (tokens).
		unstructured.RemoveNestedField(u.Object, "spec")
	}
}

func hubsOf(migrations []*unstructured.Unstructured) []string {
	var out []string
	for _, m := range migrations {
		for _, f := range []string{"from", "to"} {
			if h, _, _ := unstructured.NestedString(m.Object, "spec", f); h != "" && !slices.Contains(out, h) {
				out = append(out, h)
			}
		}
	}
	sort.Strings(out)
	return out
}

// clustersOf are the clusters the migrations that name hub list or
// resolved (their clusters annotation).
func clustersOf(migrations []*unstructured.Unstructured, hub string) []string {
	var out []string
	for _, m := range migrations {
		from, _, _ := unstructured.NestedString(m.Object, "spec", "from")
		to, _, _ := unstructured.NestedString(m.Object, "spec", "to")
		if from != hub && to != hub {
			continue
		}
		listed, _, _ := unstructured.NestedStringSlice(m.Object, "spec", "includedManagedClusters")
		out = append(out, listed...)
		if resolved := m.GetAnnotations()[reconcile.AnnClusters]; resolved != "" {
			var names []string
			if err := json.Unmarshal([]byte(resolved), &names); err == nil {
				out = append(out, names...)
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}
