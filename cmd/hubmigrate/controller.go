package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/hubmigrate/hubmigrate/informers"
	"github.com/hubmigrate/hubmigrate/metrics"
	"github.com/hubmigrate/hubmigrate/reconcile"
)

type options struct {
	kubeconfig               string
	namespace                string
	qps                      float64
	burst                    int
	leaderElect              bool
	leaseDuration            time.Duration
	metricsAddr, healthAddr  string
	resync                   time.Duration
	workers                  int
	actionConcurrency        int
	bootstrapNamespace       string
	bootstrapSecretNamespace string
	localRegistrationAddress string
	localRegistrationCAFile  string
	migrationNamespaces      string
	leaderIdentity           string
	loggingFormat            string
}

// controllerMain is `hubmigrate controller` (and the bare binary, as the
// Deployment runs it): its flags stay Go flags, so klog's (-v, ...) work.
func controllerMain(args []string) int {
	var o options
	flag.CommandLine.Init("hubmigrate controller", flag.ContinueOnError)
	klog.InitFlags(nil)
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the home cluster (default: in-cluster)")
	flag.StringVar(&o.namespace, "namespace", "hubmigrate", "namespace of hubmigrate on the home cluster: its Lease and the <hub>-kubeconfig Secrets")
	flag.Float64Var(&o.qps, "kube-api-qps", 50, "queries per second to each API server (client-go's 5 would make 300 clusters take many minutes)")
	flag.IntVar(&o.burst, "kube-api-burst", 100, "burst of queries to each API server")
	flag.BoolVar(&o.leaderElect, "leader-elect", true, "elect one acting replica through a coordination.k8s.io Lease")
	flag.DurationVar(&o.leaseDuration, "leader-elect-lease-duration", 15*time.Second, "leader election lease duration")
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint (empty: off)")
	flag.StringVar(&o.healthAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz (empty: off)")
	flag.DurationVar(&o.resync, "resync-period", 10*time.Minute, "how often every cache is resynced (a converged world costs no writes)")
	flag.IntVar(&o.workers, "workers", 4, "migrations reconciled at once")
	flag.IntVar(&o.actionConcurrency, "action-concurrency", reconcile.DefaultActionConcurrency, "clusters of one migration with a write in flight at once (each cluster's writes stay in order; --kube-api-qps bounds the rate)")
	flag.StringVar(&o.bootstrapNamespace, "bootstrap-namespace", "open-cluster-management", "namespace on the target of the bootstrap ServiceAccount and anchor Secrets")
	flag.StringVar(&o.bootstrapSecretNamespace, "bootstrap-secret-namespace", "multicluster-engine", "namespace on the source of the bootstrap kubeconfig Secrets ACM's import controller reads")
	flag.StringVar(&o.localRegistrationAddress, "local-cluster-registration-address", "", "address managed clusters reach the home cluster by, when it is the target as local-cluster")
	flag.StringVar(&o.localRegistrationCAFile, "local-cluster-registration-ca-file", "", "CA bundle of that address")
	flag.StringVar(&o.migrationNamespaces, "migration-namespaces", "", "comma-separated namespaces whose ManagedClusterMigrations are acted on (default: --namespace only); a migration elsewhere drives no hub credential")
	flag.StringVar(&o.leaderIdentity, "leader-elect-identity", "", "holder identity in the leader Lease (default: $POD_NAME — stable across restarts of the container, so a restarted process takes its own lease back at once instead of waiting for it to expire; outside a pod, the hostname and a random suffix)")
	flag.StringVar(&o.loggingFormat, "logging-format", "text", "log format: text (klog) or json (one object a line, for log collectors)")
	if err := flag.CommandLine.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "hubmigrate controller: unexpected arguments %q\n", flag.Args())
		return 2
	}
	if err := setLoggingFormat(o.loggingFormat); err != nil {
		fmt.Fprintln(os.Stderr, "hubmigrate controller:", err)
		return 2
	}
	defer klog.Flush()

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	b := currentBuild()
	klog.FromContext(ctx).Info("starting", "version", b.Version, "revision", b.Revision)
	if err := run(ctx, o, b); err != nil {
		klog.ErrorS(err, "hubmigrate stopped")
		return 1
	}
	return 0
}

func run(ctx context.Context, o options, b build) error {
	logger := klog.FromContext(ctx)
	cfg, err := homeConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = float32(o.qps), o.burst
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	// The home id: the UID of the home cluster's kube-system namespace.
	ns, err := kube.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the home id (kube-system's UID): %w", err)
	}
	var localCA []byte
	if o.localRegistrationCAFile != "" {
		if localCA, err = os.ReadFile(o.localRegistrationCAFile); err != nil {
			return err
		}
	}
	// Before the controller makes its workqueue: client-go takes the first
	// metrics provider only.
	if err := metrics.RegisterClientGo(prometheus.DefaultRegisterer); err != nil {
		return err
	}
	controller := reconcile.NewController(reconcile.Config{
		HomeID: string(ns.UID), BootstrapNamespace: o.bootstrapNamespace, BootstrapSecretNamespace: o.bootstrapSecretNamespace,
		LocalRegistrationAddress: o.localRegistrationAddress, LocalRegistrationCA: localCA, Resync: o.resync,
		MigrationNamespaces: migrationNamespaces(o), ActionConcurrency: o.actionConcurrency,
	}, dyn, func(onEvent informers.EventHandler, onRebuild func(string)) *informers.Registry {
		return informers.NewRegistry(cfg, kube, informers.Options{
			Namespace: o.namespace, Resync: o.resync, QPS: float32(o.qps), Burst: o.burst, OnEvent: onEvent, OnRebuild: onRebuild,
		})
	})
	recorder, stopEvents := reconcile.NewEventRecorder(ctx, kube)
	defer stopEvents()
	controller.SetEventRecorder(recorder)

	if err := metrics.Register(prometheus.DefaultRegisterer, metrics.NewMigrationCollector(controller.Migrations), metrics.NewClusterCollector(controller.ClusterClocks)); err != nil {
		return err
	}
	if err := prometheus.DefaultRegisterer.Register(metrics.NewBuildInfo(b.Version, b.Revision, b.GoVersion)); err != nil {
		return err
	}
	serve(ctx, o.metricsAddr, "/metrics", promhttp.Handler())
	var leading atomic.Bool
	health := http.NewServeMux()
	health.Handle("/healthz", probe(controller.Healthy))
	health.Handle("/readyz", probe(func() error {
		if o.leaderElect && !leading.Load() {
			return nil // a standby is ready: it waits for the Lease
		}
		return controller.Ready()
	}))
	serve(ctx, o.healthAddr, "/", health)

	if !o.leaderElect {
		metrics.Leader.Set(1)
		return controller.Run(ctx, o.workers)
	}
	id := leaderIdentity(o)
	logger.Info("leader election", "identity", id)
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: "hubmigrate", Namespace: o.namespace},
		Client:     kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	lost := errors.New("lost the leader lease")
	var runErr error
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock: lock, ReleaseOnCancel: true,
		LeaseDuration: o.leaseDuration, RenewDeadline: o.leaseDuration * 2 / 3, RetryPeriod: o.leaseDuration / 5,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				leading.Store(true)
				metrics.Leader.Set(1)
				runErr = controller.Run(ctx, o.workers)
			},
			// Leader election is not a fence: the guarded writes are. Exit so a
			// paused old leader stops writing as soon as it notices.
			OnStoppedLeading: func() {
				if ctx.Err() == nil {
					logger.Error(lost, "exiting")
					os.Exit(1)
				}
			},
		},
	})
	return runErr
}

// setLoggingFormat switches klog to JSON lines (through log/slog) when
// asked; -v keeps working as the verbosity.
func setLoggingFormat(format string) error {
	switch format {
	case "text":
		return nil
	case "json":
		v := 0
		if f := flag.Lookup("v"); f != nil {
			_, _ = fmt.Sscan(f.Value.String(), &v)
		}
		handler := slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.Level(-v)})
		klog.SetLogger(logr.FromSlogHandler(handler))
		return nil
	}
	return fmt.Errorf("--logging-format %q: text or json", format)
}

// probe answers 200 "ok" when check passes, else 503 with its reason.
func probe(check func() error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if err := check(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
}

func homeConfig(path string) (*rest.Config, error) {
	if path != "" {
		return clientcmd.BuildConfigFromFlags("", path)
	}
	return rest.InClusterConfig()
}

func serve(ctx context.Context, addr, path string, h http.Handler) {
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			klog.ErrorS(err, "server stopped", "addr", addr)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
}

// migrationNamespaces is the scope: the namespaces whose migrations may use
// the hub credentials (hubmigrate's own unless told otherwise).
func migrationNamespaces(o options) []string {
	if o.migrationNamespaces == "" {
		return []string{o.namespace}
	}
	var out []string
	for _, ns := range strings.Split(o.migrationNamespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			out = append(out, ns)
		}
	}
	return out
}

// leaderIdentity is stable for a pod: a container restarted in the same pod
// (a crash, an OOM kill) holds the same identity, so it renews the lease its
// previous process held instead of waiting out its expiry. Two pods never
// share one (pod names are unique); outside a pod there is nothing stable to
// use, and two processes on one host must not look like one.
func leaderIdentity(o options) string {
	if o.leaderIdentity != "" {
		return o.leaderIdentity
	}
	if pod := os.Getenv("POD_NAME"); pod != "" {
		return pod
	}
	host, _ := os.Hostname()
	return host + "_" + string(uuid.NewUUID())
}
