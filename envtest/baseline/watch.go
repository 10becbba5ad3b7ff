package baseline

import (
	"context"
	"fmt"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/hubmigrate/hubmigrate/reconcile"
)

// leaseName is the lease a hub makes on acceptance and only the agent renews.
const leaseName = "managed-cluster-lease"

// byCluster indexes registration CSRs by their cluster label.
const byCluster = "cluster"

// watcher is how the baseline waits for the world: informers on the objects
// its gates read (reads cost nothing in the comparison, and watching keeps
// them from spending the clients' rate limit, which the writes share), and a
// wake-up per cluster whenever one of that cluster's objects changes.
type watcher struct {
	source, target cacheOf

	mu      sync.Mutex
	wakeups map[string]chan struct{}
}

// cacheOf is what the baseline reads from one hub's caches. The source's
// csrs and leases stay nil: nothing there is waited on.
type cacheOf struct {
	mcs, works cache.GenericLister
	csrs       cache.Indexer
	leases     cache.Indexer
}

// watch starts the informers of both hubs and returns once they have synced;
// they stop with ctx.
func watch(ctx context.Context, source, target clients) (*watcher, error) {
	w := &watcher{wakeups: map[string]chan struct{}{}}
	var syncs []cache.InformerSynced
	for _, side := range []struct {
		c        clients
		into     *cacheOf
		isTarget bool
	}{{source, &w.source, false}, {target, &w.target, true}} {
		dyn := dynamicinformer.NewDynamicSharedInformerFactory(side.c.dyn, 0)
		mcs := dyn.ForResource(reconcile.ManagedClusterGVR)
		works := dyn.ForResource(reconcile.ManifestWorkGVR)
		side.into.mcs, side.into.works = mcs.Lister(), works.Lister()
		w.wakeOn(mcs.Informer(), func(o metav1.Object) string { return o.GetName() })
		w.wakeOn(works.Informer(), func(o metav1.Object) string { return o.GetNamespace() })
		syncs = append(syncs, mcs.Informer().HasSynced, works.Informer().HasSynced)
		dyn.Start(ctx.Done())
		if !side.isTarget {
			continue
		}
		csrFactory := informers.NewSharedInformerFactoryWithOptions(side.c.kube, 0,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = reconcile.LabelClusterName }))
		csrs := csrFactory.Certificates().V1().CertificateSigningRequests().Informer()
		if err := csrs.AddIndexers(cache.Indexers{byCluster: func(obj any) ([]string, error) {
			return []string{obj.(*certificatesv1.CertificateSigningRequest).Labels[reconcile.LabelClusterName]}, nil
		}}); err != nil {
			return nil, err
		}
		leaseFactory := informers.NewSharedInformerFactoryWithOptions(side.c.kube, 0,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "metadata.name=" + leaseName }))
		leases := leaseFactory.Coordination().V1().Leases().Informer()
		side.into.csrs, side.into.leases = csrs.GetIndexer(), leases.GetIndexer()
		w.wakeOn(csrs, func(o metav1.Object) string { return o.GetLabels()[reconcile.LabelClusterName] })
		w.wakeOn(leases, func(o metav1.Object) string { return o.GetNamespace() })
		syncs = append(syncs, csrs.HasSynced, leases.HasSynced)
		csrFactory.Start(ctx.Done())
		leaseFactory.Start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), syncs...) {
		return nil, fmt.Errorf("the hubs' caches did not sync: %w", context.Cause(ctx))
	}
	return w, nil
}

// wakeOn wakes the cluster an object belongs to on every change of it.
func (w *watcher) wakeOn(inf cache.SharedIndexInformer, cluster func(metav1.Object) string) {
	wake := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if o, ok := obj.(metav1.Object); ok {
			w.wake(cluster(o))
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    wake,
		UpdateFunc: func(_, obj any) { wake(obj) },
		DeleteFunc: wake,
	})
}

func (w *watcher) wake(cluster string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.wakeups[cluster]; ok {
		close(ch)
		delete(w.wakeups, cluster)
	}
}

// next is closed at the cluster's next change.
func (w *watcher) next(cluster string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch, ok := w.wakeups[cluster]
	if !ok {
		ch = make(chan struct{})
		w.wakeups[cluster] = ch
	}
	return ch
}

// until waits until done holds for cluster, looking again at each change of
// its objects (and every second: events only say when to look, the caches
// are what is read). It fails after timeout, saying what it waited for.
func (w *watcher) until(ctx context.Context, cluster, what string, timeout time.Duration, done func() (bool, error)) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		// Taken before looking, so a change while looking is not missed.
		changed := w.next(cluster)
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-deadline.C:
			return fmt.Errorf("%s: %s: not within %s", cluster, what, timeout)
		case <-ctx.Done():
			return fmt.Errorf("%s: %s: %w", cluster, what, ctx.Err())
		}
	}
}

// csrsOf are the target's registration CSRs of a cluster, as cached.
func (w *watcher) csrsOf(cluster string) []*certificatesv1.CertificateSigningRequest {
	objs, _ := w.target.csrs.ByIndex(byCluster, cluster)
	out := make([]*certificatesv1.CertificateSigningRequest, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*certificatesv1.CertificateSigningRequest))
	}
	return out
}

// targetLease is the cluster's managed-cluster-lease on the target, as cached (nil if absent).
func (w *watcher) targetLease(cluster string) *coordinationv1.Lease {
	obj, exists, _ := w.target.leases.GetByKey(cluster + "/" + leaseName)
	if !exists {
		return nil
	}
	return obj.(*coordinationv1.Lease)
}
