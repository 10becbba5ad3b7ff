package reconcile

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/hubmigrate/hubmigrate/informers"
	"github.com/hubmigrate/hubmigrate/metrics"
)

// Finalizer is added before the first write to any hub and removed last.
const Finalizer = "migration.open-cluster-management.io/cleanup"

// Config is what the controller needs besides its clients.
type Config struct {
	HomeID                   string
	BootstrapNamespace       string
	BootstrapSecretNamespace string
	// LocalRegistrationAddress and LocalRegistrationCA are how managed
	// clusters reach the home cluster when it is the target as local-cluster.
	LocalRegistrationAddress string
	LocalRegistrationCA      []byte
	Resync                   time.Duration
	Clock                    clock.Clock
	// MigrationNamespaces are the namespaces whose migrations are acted on:
	// whoever may create a migration there borrows the hub credentials.
	// Empty: every namespace (tests only; the binary always sets it).
	MigrationNamespaces []string
	// ActionConcurrency is how many clusters of one migration have an
	// action in flight at once (0: DefaultActionConcurrency).
	ActionConcurrency int
}

// inScope: a migration in this namespace may drive the hub credentials.
func (c *Controller) inScope(namespace string) bool {
	return len(c.cfg.MigrationNamespaces) == 0 || slices.Contains(c.cfg.MigrationNamespaces, namespace)
}

// Controller reconciles ManagedClusterMigrations: one workqueue keyed by
// migration, so one worker decides for a migration at a time; every event on
// a hub maps through an index (hub, cluster) → migrations to their keys.
type Controller struct {
	cfg        Config
	recorder   record.EventRecorder
	home       dynamic.Interface
	migrations cache.SharedIndexInformer
	registry   *informers.Registry
	queue      workqueue.TypedRateLimitingInterface[string]

	mu      sync.Mutex
	index   map[string]map[string]bool        // hub/cluster → migration keys
	byUID   map[string]string                 // migration UID → key
	resumed map[string]bool                   // keys whose in-flight work was reported after this start
	clocks  map[string][]metrics.ClusterClock // key → its clusters in flight, as its last plan saw them (metrics only)
	waits   map[string]waits                  // key → its unclaimed clusters' waits, as this process saw them (waits.go)

	lastProgress atomic.Int64 // unix nanoseconds a worker last picked or finished a migration (Healthy)
	waitingSince atomic.Int64 // unix nanoseconds Healthy first saw the queue non-empty; 0: empty
}

// SetEventRecorder makes the controller record Events on migrations.
func (c *Controller) SetEventRecorder(r record.EventRecorder) { c.recorder = r }

// NewController wires the migration informer and the hub registry.
func NewController(cfg Config, home dynamic.Interface, registry func(onEvent informers.EventHandler, onRebuild func(string)) *informers.Registry) *Controller {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	c := &Controller{
		cfg: cfg, home: home,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedMaxOfRateLimiter(
				workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 30*time.Second),
			),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "migrations"}),
		index: map[string]map[string]bool{}, byUID: map[string]string{}, resumed: map[string]bool{},
		clocks: map[string][]metrics.ClusterClock{},
		waits:  map[string]waits{},
	}
	factory := dynamicinformer.NewDynamicSharedInformerFactory(home, cfg.Resync)
	c.migrations = factory.ForResource(MigrationGVR).Informer()
	c.migrations.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			c.noticeOutOfScope(obj)
			c.migrationChanged(obj, false)
		},
		UpdateFunc: func(old, obj any) {
			c.noticeRequests(old, obj)
			c.migrationChanged(obj, false)
		},
		DeleteFunc: func(obj any) { c.migrationChanged(obj, true) },
	})
	c.registry = registry(c.hubEvent, func(string) { c.enqueueAll() })
	c.noteProgress()
	return c
}

func (c *Controller) migrationChanged(obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	if !c.inScope(u.GetNamespace()) {
		return
	}
	key, _ := cache.MetaNamespaceKeyFunc(u)
	m, _ := migrationFacts(u)
	c.mu.Lock()
	for k, keys := range c.index {
		delete(keys, key)
		if len(keys) == 0 {
			delete(c.index, k)
		}
	}
	if deleted {
		delete(c.byUID, string(u.GetUID()))
		delete(c.resumed, key)
		delete(c.clocks, key)
		delete(c.waits, key)
		c.mu.Unlock()
		return
	}
	c.byUID[string(u.GetUID())] = key
	for _, cluster := range m.Clusters() {
		for _, hub := range []string{m.From, m.To} {
			k := hub + "/" + cluster
			if c.index[k] == nil {
				c.index[k] = map[string]bool{}
			}
			c.index[k][key] = true
		}
	}
	c.mu.Unlock()
	c.queue.Add(key)
}

// noticeOutOfScope says, once per start, that a migration outside the
// configured namespaces is ignored: nothing is read or written for it.
func (c *Controller) noticeOutOfScope(obj any) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || c.inScope(u.GetNamespace()) {
		return
	}
	klog.InfoS("ignoring a migration outside the namespaces hubmigrate acts for", "migration", klog.KObj(u), "namespaces", c.cfg.MigrationNamespaces)
	if c.recorder != nil && u.GetDeletionTimestamp() == nil {
		c.recorder.Eventf(u, corev1.EventTypeWarning, "OutOfScope",
			"hubmigrate acts only on migrations in namespace(s) %s: this one is ignored", strings.Join(c.cfg.MigrationNamespaces, ", "))
	}
}

// noticeRequests answers Global Hub's migration-request=rollback when a user
// sets it: hubmigrate rolls back by itself, so it changes nothing, and says so.
func (c *Controller) noticeRequests(old, obj any) {
	before, ok1 := old.(*unstructured.Unstructured)
	after, ok2 := obj.(*unstructured.Unstructured)
	if !ok1 || !ok2 || c.recorder == nil || !c.inScope(after.GetNamespace()) {
		return
	}
	if after.GetAnnotations()[AnnGlobalHubMigrationRequest] == "rollback" && before.GetAnnotations()[AnnGlobalHubMigrationRequest] != "rollback" {
		c.recorder.Event(after, corev1.EventTypeNormal, "RollbackRequestIgnored",
			"hubmigrate rolls back every cluster that cannot finish by itself; migration-request=rollback changes nothing")
	}
}

// finishedLocked: the migration has written results and is not being
// deleted — its plans read no cluster's lease.
func (c *Controller) finishedLocked(key string) bool {
	obj, exists, err := c.migrations.GetStore().GetByKey(key)
	if err != nil || !exists {
		return false
	}
	u := obj.(*unstructured.Unstructured)
	return u.GetAnnotations()[AnnResults] != "" && u.GetDeletionTimestamp() == nil
}

// hubEvent maps an event on a hub to the migrations it may concern.
func (c *Controller) hubEvent(hub string, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if u, ok := obj.(*unstructured.Unstructured); ok && (u.GetKind() == "PlacementDecision" || u.GetKind() == "Placement") {
		c.enqueueAll() // few migrations resolve a Placement, and only once
		return
	}
	c.mu.Lock()
	var keys []string
	if o, ok := obj.(interface{ GetLabels() map[string]string }); ok {
		if key := c.byUID[o.GetLabels()[LabelMigrationUID]]; key != "" {
			keys = append(keys, key)
		}
	}
	if cluster := clusterOfEvent(obj); cluster != "" {
		_, lease := obj.(*coordinationv1.Lease)
		for key := range c.index[hub+"/"+cluster] {
			if lease && c.finishedLocked(key) {
				// A klusterlet renews its lease every lease period for as
				// long as it runs; a finished migration reads no lease, and
				// re-planning it at that rate for every cluster it ever
				// moved would keep a worker busy for nothing.
				continue
			}
			keys = append(keys, key)
		}
	}
	c.mu.Unlock()
	for _, k := range keys {
		c.queue.Add(k)
	}
}

func (c *Controller) enqueueAll() {
	for _, key := range c.migrations.GetStore().ListKeys() {
		if ns, _, _ := cache.SplitMetaNamespaceKey(key); c.inScope(ns) {
			c.queue.Add(key)
		}
	}
}

// Run starts the caches and the workers, until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error {
	defer utilruntime.HandleCrash()
	defer c.queue.ShutDown()
	logger := klog.FromContext(ctx)
	if err := c.registry.Start(ctx); err != nil {
		return err
	}
	if err := c.ensureSealKey(ctx); err != nil {
		return fmt.Errorf("the seal key: %w", err)
	}
	go c.migrations.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.migrations.HasSynced) {
		return fmt.Errorf("migrations did not sync")
	}
	logger.Info("hubmigrate started", "migrations", len(c.migrations.GetStore().ListKeys()))
	for range workers {
		go wait.UntilWithContext(ctx, c.runWorker, time.Second)
	}
	// The sweep runs at start (once the hubs' caches can sync) and every resync.
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		for _, name := range c.hubsNamed() {
			if h, err := c.registry.Hub(name); err == nil {
				_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) { return h.Synced(), nil })
			}
		}
		c.sweep(ctx)
	}, max(c.cfg.Resync, time.Second))
	<-ctx.Done()
	c.registry.Stop()
	return nil
}

func (c *Controller) runWorker(ctx context.Context) {
	for c.processNextItem(ctx) {
	}
}

func (c *Controller) processNextItem(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	c.noteProgress()
	defer c.noteProgress()
	defer c.queue.Done(key)
	began := time.Now()
	requeue, err := c.sync(ctx, key)
	metrics.Reconciles.WithLabelValues(resultOf(err)).Inc()
	metrics.ReconcileDuration.WithLabelValues(resultOf(err)).Observe(time.Since(began).Seconds())
	switch {
	case err == nil:
		c.queue.Forget(key)
		if requeue > 0 {
			c.queue.AddAfter(key, requeue)
		}
	case errors.Is(err, errWaitingForHubs):
		c.queue.AddRateLimited(key)
		if requeue > 0 {
			c.queue.AddAfter(key, requeue)
		}
	case onlyReplans(err):
		// The world moved under the plan: look again soon, but with the
		// same back-off as errors, so a wait that shows as a re-plan (a
		// live check that keeps disagreeing) cannot spin.
		klog.FromContext(ctx).V(2).Info("re-planning", "migration", key, "why", err.Error())
		c.queue.AddRateLimited(key)
		if requeue > 0 {
			c.queue.AddAfter(key, requeue)
		}
	default:
		utilruntime.HandleErrorWithContext(ctx, err, "reconcile failed", "migration", key)
		c.queue.AddRateLimited(key)
	}
	return true
}

// sync reconciles one migration: observe, plan, execute, status. It returns
// how soon to look again when nothing else will wake it.
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	obj, exists, err := c.migrations.GetStore().GetByKey(key)
	if err != nil || !exists {
		return 0, err
	}
	u := obj.(*unstructured.Unstructured)
	if !c.inScope(u.GetNamespace()) {
		return 0, nil
	}
	logger := klog.FromContext(ctx).WithValues("migration", klog.KObj(u))
	ctx = klog.NewContext(ctx, logger)
	m, err := migrationFacts(u)
	if err != nil {
		return 0, err
	}
	if m.Deleting && !slices.Contains(u.GetFinalizers(), Finalizer) {
		return 0, nil // nothing of ours to finish
	}
	if !m.Deleting && (!slices.Contains(u.GetFinalizers(), Finalizer) || m.Annotations[AnnStartedAt] == "") {
		// The finalizer before the first write to any hub; started-at is the
		// clock of everything before a claim (written once).
		out := u.DeepCopy()
		if !slices.Contains(out.GetFinalizers(), Finalizer) {
			out.SetFinalizers(append(out.GetFinalizers(), Finalizer))
		}
		if m.Annotations[AnnStartedAt] == "" {
			out, _ = withMarkers(out, nil, map[string]string{AnnStartedAt: c.cfg.Clock.Now().UTC().Format(time.RFC3339)}, nil, nil)
			if m.StageTimeout > 0 && m.StageTimeout < time.Minute && c.recorder != nil {
				c.recorder.Eventf(u, corev1.EventTypeWarning, "ShortStageTimeout",
					"stageTimeout %s is below 1m: clusters may be rolled back before a klusterlet can act", m.StageTimeout)
			}
		}
		_, err := c.home.Resource(MigrationGVR).Namespace(u.GetNamespace()).Update(ctx, out, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			return 0, &errReplan{why: err.Error()}
		}
		return 0, err
	}
	sealer, err := c.sealer()
	if err != nil {
		// Nothing is known to be ours without it, and nothing is written.
		return 0, err
	}
	f, source, target, srcErr, tgtErr := c.observe(m, sealer)
	if syncing(f.Source) || syncing(f.Target) {
		// Just after a start (or a rotated credential) nothing is known yet:
		// nothing is decided and nothing is written — status included, so a
		// restart does not flap the phase to Unknown. Unknown is for a hub
		// that was seen and cannot be now.
		logger.V(2).Info("waiting for the hubs' caches to sync", "source", errString(srcErr), "target", errString(tgtErr))
		return 0, errWaitingForHubs
	}
	unobserved := !f.Source.Reachable || !f.Target.Reachable
	if unobserved {
		// Said in the HubsReady condition and an Event; the log at V(2).
		logger.V(2).Info("waiting for hubs", "source", errString(srcErr), "target", errString(tgtErr))
		if m.Deleting && m.Annotations[AnnAbandon] != "" && abandonNow(f.Source, f.Target) {
			return 0, c.abandon(ctx, u, srcErr, tgtErr)
		}
	}
	f.Waiting = c.waitsOf(key, u.GetUID())
	plan := PlanMigration(f)
	c.rememberWaits(key, u.GetUID(), plan)
	c.reportResumption(ctx, key, plan)
	c.recordClocks(key, u, plan)
	for _, note := range plan.Notes {
		logger.Info(note)
	}
	ex := &executor{source: source, target: target, home: c.home, facts: f, seals: sealer}
	err = c.perform(ctx, u, ex.execute, plan)
	var denied *errDenied
	var collision *errCollision
	cluster := ""
	switch {
	case errors.As(err, &denied) && denied.Cluster != "":
		// A permanent RBAC denial is a fact for this reconcile: plan again
		// with it, so the cluster fails (or rolls back) with reason Forbidden.
		f.Denied, cluster = map[string]string{denied.Cluster: denied.Denial}, denied.Cluster
	case errors.As(err, &collision):
		// So is an object in the way that the caches do not hold.
		f.Collisions, cluster = map[string]string{collision.Cluster: collision.Ref.String()}, collision.Cluster
	}
	if cluster != "" {
		// Only that cluster's actions (and the records on the migration)
		// are performed again: the others' ran already from these same facts.
		plan = PlanMigration(f)
		c.rememberWaits(key, u.GetUID(), plan)
		err = errors.Join(othersErrors(err, cluster), c.perform(ctx, u, ex.execute, plan.only(cluster)))
	}
	if err != nil {
		_ = c.writeStatus(ctx, u, plan)
		return 0, err
	}
	if err := c.writeStatus(ctx, u, plan); err != nil {
		return 0, err
	}
	if unobserved {
		return plan.Requeue, errWaitingForHubs
	}
	return plan.Requeue, nil
}

// observe gathers a migration's facts from the hubs' caches, as every
// reconcile (and every preview) does. Nothing is observed of a hub whose
// caches are syncing (the caller waits); a hub that is unreachable is
// returned nil: only a synced hub's caches are facts.
func (c *Controller) observe(m MigrationFacts, sealer *Sealer) (f *Facts, source, target *informers.Hub, srcErr, tgtErr error) {
	f = &Facts{
		Now: c.cfg.Clock.Now(), HomeID: c.cfg.HomeID,
		BootstrapNamespace: c.cfg.BootstrapNamespace, BootstrapSecretNamespace: c.cfg.BootstrapSecretNamespace,
		Migration: m, TerminalOwners: c.terminalOwners(),
	}
	source, srcErr = c.hubFacts(m.From, &f.Source)
	target, tgtErr = c.hubFacts(m.To, &f.Target)
	if target != nil {
		f.Target.RegistrationAddress, f.Target.RegistrationCA = registrationAddress(m.To, target.Config, c.registry.SecretAnnotations(m.To), c.cfg)
	}
	if syncing(f.Source) || syncing(f.Target) {
		return f, source, target, srcErr, tgtErr
	}
	if !f.Source.Reachable {
		source = nil
	}
	if !f.Target.Reachable {
		target = nil
	}
	observeClusters(f, source, target)
	checkSeals(f, sealer)
	return f, source, target, srcErr, tgtErr
}

// actionError is the error of one cluster's action ("" for the migration's
// own and shared actions).
type actionError struct {
	cluster string
	err     error
}

func (e *actionError) Error() string { return e.err.Error() }
func (e *actionError) Unwrap() error { return e.err }

// othersErrors are the errors of err that are not cluster's.
func othersErrors(err error, cluster string) error {
	var kept []error
	for _, e := range flatten(err) {
		var ae *actionError
		if !errors.As(e, &ae) || ae.cluster != cluster {
			kept = append(kept, e)
		}
	}
	return errors.Join(kept...)
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// onlyReplans: every error in err asks for a new plan.
func onlyReplans(err error) bool {
	errs := flatten(err)
	for _, e := range errs {
		if !IsReplan(e) {
			return false
		}
	}
	return len(errs) > 0
}

// resultOf names a reconcile's or an action's outcome for the metrics.
func resultOf(err error) string {
	var denied *errDenied
	switch {
	case err == nil:
		return "ok"
	case IsReplan(err):
		return "replan"
	case errors.Is(err, errWaitingForHubs):
		return "waiting_for_hubs"
	case errors.As(err, &denied):
		return "forbidden"
	}
	return "error"
}

// Migrations lists the migrations in the controller's cache (for the
// scrape-time metrics collector).
func (c *Controller) Migrations() []any {
	var out []any
	for _, obj := range c.migrations.GetStore().List() {
		if u, ok := obj.(*unstructured.Unstructured); ok && c.inScope(u.GetNamespace()) {
			out = append(out, obj)
		}
	}
	return out
}

// errWaitingForHubs: a hub cannot be seen yet; look again with back-off.
var errWaitingForHubs = errors.New("waiting for the hubs")

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// hubFacts fills what is known of a hub; the hub is usable once synced.
func (c *Controller) hubFacts(name string, hf *HubFacts) (*informers.Hub, error) {
	h, err := c.registry.Hub(name)
	if err != nil {
		hf.Problem, hf.ProblemMessage = "HubUnreachable", err.Error()
		if nc, ok := err.(*informers.ErrNoCredential); ok {
			hf.Problem = nc.Code
		}
		return nil, err
	}
	down := h.Down()
	hf.Reachable = h.Synced() && down == ""
	hf.ServesKlusterletConfig = h.ServesKlusterletConfig()
	if down != "" {
		// Its caches are stale: nothing they say is a fact until it answers.
		hf.Problem, hf.ProblemMessage = "HubUnreachable", fmt.Sprintf("hub %s does not answer: %s", name, down)
		return h, errors.New(hf.ProblemMessage)
	}
	if !hf.Reachable && h.NotACM() {
		// A plain Kubernetes (or OCM-less) API server: its OCM caches
		// never sync, and the reason is not reachability.
		hf.Problem, hf.ProblemMessage = "NotACMHub", fmt.Sprintf("hub %s does not serve the KlusterletConfig API: not an ACM hub", name)
		return h, errors.New(hf.ProblemMessage)
	}
	if !hf.Reachable {
		// Not synced yet: only a list/watch error makes it unreachable.
		hf.Problem, hf.ProblemMessage = "HubSyncing", fmt.Sprintf("hub %s: its caches are syncing", name)
		if last := h.LastError(); last != "" {
			hf.Problem, hf.ProblemMessage = "HubUnreachable", fmt.Sprintf("hub %s: %s", name, last)
		}
		return h, errors.New(hf.ProblemMessage)
	}
	return h, nil
}

func (c *Controller) terminalOwners() map[string]bool {
	out := map[string]bool{}
	for _, obj := range c.migrations.GetStore().List() {
		u := obj.(*unstructured.Unstructured)
		if c.inScope(u.GetNamespace()) && u.GetAnnotations()[AnnResults] != "" {
			out[Owner{Namespace: u.GetNamespace(), Name: u.GetName(), UID: u.GetUID()}.String()] = true
		}
	}
	return out
}

// reportResumption logs, once per start, the in-flight work a migration resumes.
func (c *Controller) reportResumption(ctx context.Context, key string, plan Plan) {
	c.mu.Lock()
	done := c.resumed[key]
	c.resumed[key] = true
	c.mu.Unlock()
	if done {
		return
	}
	phases := map[Phase]int{}
	inFlight := 0
	for _, o := range plan.Clusters {
		phases[o.Phase]++
		if o.Phase != Validating && !o.Phase.Terminal() {
			inFlight++
		}
	}
	if inFlight > 0 {
		metrics.Resumes.Inc()
		klog.FromContext(ctx).Info("resuming in-flight migration from the markers on the clusters", "inFlight", inFlight, "phases", phases)
	}
}

// recordClocks keeps, for the metrics only, when each cluster of the plan
// still in flight entered its phase (the markers' time, so a fresh replica
// reports the same clocks as the one before it).
func (c *Controller) recordClocks(key string, u *unstructured.Unstructured, plan Plan) {
	var clocks []metrics.ClusterClock
	for _, o := range plan.Clusters {
		if o.Name != "" && !o.Phase.Terminal() && !o.Since.IsZero() {
			clocks = append(clocks, metrics.ClusterClock{Namespace: u.GetNamespace(), Name: u.GetName(), Cluster: o.Name, Phase: string(o.Phase), Since: o.Since})
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(clocks) == 0 || !c.storedLocked(key) {
		delete(c.clocks, key)
		return
	}
	c.clocks[key] = clocks
}

// ClusterClocks are the clocks of every cluster in flight (metrics).
func (c *Controller) ClusterClocks() []metrics.ClusterClock {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []metrics.ClusterClock
	for _, clocks := range c.clocks {
		out = append(out, clocks...)
	}
	return out
}

// writeStatus writes the recomputed status only when it differs.
func (c *Controller) writeStatus(ctx context.Context, u *unstructured.Unstructured, plan Plan) error {
	previous, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	want := Status(plan, previous, c.cfg.Clock.Now())
	current, _, _ := unstructured.NestedMap(u.Object, "status")
	if reflect.DeepEqual(normalize(current), normalize(want)) {
		return nil
	}
	out := u.DeepCopy()
	out.Object["status"] = want
	_, err := c.home.Resource(MigrationGVR).Namespace(u.GetNamespace()).UpdateStatus(ctx, out, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return &errReplan{why: err.Error()}
	}
	if err == nil {
		c.announceHubs(u, previous, want)
		c.announceUnsealed(u, previous, want)
	}
	return err
}

// findCondition is the condition of that type in conds (nil if none).
func findCondition(conds []any, condType string) map[string]any {
	for _, cond := range conds {
		if m, _ := cond.(map[string]any); m["type"] == condType {
			return m
		}
	}
	return nil
}

// announceUnsealed records a Warning Event when clusters are newly held for
// unsealed markers (or the held set changes): an admin must act.
func (c *Controller) announceUnsealed(u *unstructured.Unstructured, previous []any, want map[string]any) {
	wantConds, _ := want["conditions"].([]any)
	before, after := findCondition(previous, UnsealedMarkersCondition), findCondition(wantConds, UnsealedMarkersCondition)
	if after == nil || c.recorder == nil || (before != nil && before["message"] == after["message"]) {
		return
	}
	c.recorder.Event(u, corev1.EventTypeWarning, UnsealedMarkersReason, fmt.Sprint(after["message"]))
}

// announceHubs records an Event when the HubsReady condition changes: a
// Warning when a hub becomes unusable (or for another reason), Normal when
// both are usable again.
func (c *Controller) announceHubs(u *unstructured.Unstructured, previous []any, want map[string]any) {
	find := func(conds []any) map[string]any {
		for _, cond := range conds {
			if m, _ := cond.(map[string]any); m["type"] == HubsReadyCondition {
				return m
			}
		}
		return nil
	}
	wantConds, _ := want["conditions"].([]any)
	before, after := find(previous), find(wantConds)
	if after == nil || c.recorder == nil {
		return
	}
	switch {
	case after["reason"] == "HubSyncing":
		// The moment after a start or a credential change: not news.
	case after["status"] == "False" && (before == nil || before["status"] != "False" || before["reason"] != after["reason"]):
		c.recorder.Eventf(u, corev1.EventTypeWarning, "HubNotReady", "%s: %s", after["reason"], after["message"])
	case after["status"] == "True" && before != nil && before["status"] == "False" && before["reason"] != "HubSyncing":
		c.recorder.Event(u, corev1.EventTypeNormal, "HubsReady", "both hubs are usable again")
	}
}

// syncing: the hub's caches have not synced since its clients were built,
// and nothing says it is unreachable.
func syncing(h HubFacts) bool { return !h.Reachable && h.Problem == "HubSyncing" }

// abandonNow: a deleted migration that asks to be abandoned lets go of a
// hub that cannot be worked on — never of one whose caches are merely
// syncing (after every start, or a rotated credential): that one is
// cleaned like any other once it has synced.
func abandonNow(source, target HubFacts) bool {
	return !syncing(source) && !syncing(target) && (!source.Reachable || !target.Reachable)
}

// abandon lets a deleted migration go although a hub is unreachable, as
// its abandon annotation asks; what could not be cleaned is named.
func (c *Controller) abandon(ctx context.Context, u *unstructured.Unstructured, errs ...error) error {
	var why []string
	for _, err := range errs {
		if err != nil {
			why = append(why, err.Error())
		}
	}
	msg := "abandoned: nothing was cleaned on the unreachable hub(s): " + strings.Join(why, "; ")
	klog.FromContext(ctx).Info(msg)
	if c.recorder != nil {
		c.recorder.Event(u, corev1.EventTypeWarning, "Abandoned", msg)
	}
	out := u.DeepCopy()
	out.SetFinalizers(slices.DeleteFunc(out.GetFinalizers(), func(f string) bool { return f == Finalizer }))
	_, err := c.home.Resource(MigrationGVR).Namespace(u.GetNamespace()).Update(ctx, out, metav1.UpdateOptions{})
	return err
}
