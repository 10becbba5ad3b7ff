// Package hubfacts records what the hubs show of a cluster while it migrates:
// for each fact hubmigrate's planner reads (a ManagedCluster's acceptance and
// conditions, the cluster's registration CSRs, its klusterlet work), the
// sequence of distinct values a watch saw, in order. The same scenario run
// with the simulator and with OCM's own agents must record the same
// timelines; a difference is a simulator bug.
//
// Only facts whose order is fixed by cause and effect are kept apart: each
// fact is its own sequence, so two actors racing on different facts (the
// hub controller's lease check against hubmigrate's delete) cannot make two
// honest runs differ.
package hubfacts

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/hubmigrate/hubmigrate/envtest/sim"
)

// Recorder watches hubs, each under a role ("source", "target"), for the
// clusters it is given.
type Recorder struct {
	clusters map[string]bool
	stop     context.CancelFunc
	done     sync.WaitGroup

	mu sync.Mutex
	// seq[cluster][fact] is the sequence of distinct values seen.
	seq map[string]map[string][]string
	// csrs[cluster][role] is every registration CSR of the cluster on that
	// hub, by name, in the order they were first seen.
	csrs map[string]map[string]*csrLog
}

type csrLog struct {
	order []string
	state map[string]string
}

// Start watches the hubs (role → admin config) for the clusters until Stop.
// It returns once every watch has listed, so the first value of each fact
// is the state before whatever the caller does next.
func Start(ctx context.Context, hubs map[string]*rest.Config, clusters ...string) (*Recorder, error) {
	ctx, cancel := context.WithCancel(ctx)
	r := &Recorder{
		clusters: map[string]bool{}, stop: cancel,
		seq: map[string]map[string][]string{}, csrs: map[string]map[string]*csrLog{},
	}
	for _, c := range clusters {
		r.clusters[c] = true
		r.seq[c] = map[string][]string{}
		r.csrs[c] = map[string]*csrLog{}
	}
	var synced []cache.InformerSynced
	for role, cfg := range hubs {
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			cancel()
			return nil, err
		}
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			cancel()
			return nil, err
		}
		dynInf := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)
		kubeInf := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = sim.LabelClusterName
		}))
		for _, w := range []struct {
			inf     cache.SharedIndexInformer
			observe func(role string, obj any, deleted bool)
		}{
			{dynInf.ForResource(sim.ManagedClusterGVR).Informer(), r.observeManagedCluster},
			{dynInf.ForResource(sim.ManifestWorkGVR).Informer(), r.observeKlusterletWork},
			{kubeInf.Certificates().V1().CertificateSigningRequests().Informer(), r.observeCSR},
		} {
			observe := w.observe
			if _, err := w.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
				AddFunc:    func(obj any) { observe(role, obj, false) },
				UpdateFunc: func(_, obj any) { observe(role, obj, false) },
				DeleteFunc: func(obj any) {
					if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
						obj = d.Obj
					}
					observe(role, obj, true)
				},
			}); err != nil {
				cancel()
				return nil, err
			}
			synced = append(synced, w.inf.HasSynced)
		}
		dynInf.Start(ctx.Done())
		kubeInf.Start(ctx.Done())
		r.done.Add(1)
		go func() {
			defer r.done.Done()
			<-ctx.Done()
			dynInf.Shutdown()
			kubeInf.Shutdown()
		}()
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		cancel()
		return nil, fmt.Errorf("hub facts: the watches did not list")
	}
	return r, nil
}

// Stop ends the watches.
func (r *Recorder) Stop() {
	r.stop()
	r.done.Wait()
}

// Timeline is a copy of what was recorded for the cluster.
func (r *Recorder) Timeline(cluster string) Timeline {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := Timeline{}
	for fact, values := range r.seq[cluster] {
		t[fact] = slices.Clone(values)
	}
	return t
}

// note appends value to the fact's sequence unless it is the last one.
func (r *Recorder) note(cluster, fact, value string) {
	values := r.seq[cluster][fact]
	if len(values) == 0 || values[len(values)-1] != value {
		r.seq[cluster][fact] = append(values, value)
	}
}

func (r *Recorder) observeManagedCluster(role string, obj any, deleted bool) {
	mc, ok := obj.(*unstructured.Unstructured)
	if !ok || !r.clusters[mc.GetName()] {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for fact, value := range managedClusterFacts(mc, deleted) {
		r.note(mc.GetName(), role+" "+fact, value)
	}
}

func (r *Recorder) observeKlusterletWork(role string, obj any, deleted bool) {
	work, ok := obj.(*unstructured.Unstructured)
	if !ok || !r.clusters[work.GetNamespace()] || work.GetName() != sim.KlusterletWorkName(work.GetNamespace()) {
		return
	}
	c := work.GetNamespace()
	r.mu.Lock()
	defer r.mu.Unlock()
	for fact, value := range klusterletWorkFacts(work, deleted) {
		r.note(c, role+" "+fact, value)
	}
}

func (r *Recorder) observeCSR(role string, obj any, deleted bool) {
	csr, ok := obj.(*certificatesv1.CertificateSigningRequest)
	if !ok || !r.clusters[csr.Labels[sim.LabelClusterName]] {
		return
	}
	c := csr.Labels[sim.LabelClusterName]
	r.mu.Lock()
	defer r.mu.Unlock()
	log := r.csrs[c][role]
	if log == nil {
		log = &csrLog{state: map[string]string{}}
		r.csrs[c][role] = log
	}
	if _, seen := log.state[csr.Name]; !seen {
		log.order = append(log.order, csr.Name)
	}
	log.state[csr.Name] = csrState(csr, deleted)
	states := make([]string, 0, len(log.order))
	for _, name := range log.order {
		states = append(states, log.state[name])
	}
	r.note(c, role+" CSRs", strings.Join(states, ","))
}

// managedClusterFacts are what the planner reads of a ManagedCluster, each
// as a value. Labels and annotations are hubmigrate's own markers: left out.
func managedClusterFacts(mc *unstructured.Unstructured, deleted bool) map[string]string {
	existence := "present"
	switch {
	case deleted:
		existence = "gone"
	case mc.GetDeletionTimestamp() != nil:
		existence = "deleting"
	}
	facts := map[string]string{"ManagedCluster": existence}
	if deleted {
		return facts
	}
	accepts, _, _ := unstructured.NestedBool(mc.Object, "spec", "hubAcceptsClient")
	facts["hubAcceptsClient"] = fmt.Sprint(accepts)
	for _, cond := range []string{sim.ConditionHubAccepted, sim.ConditionJoined, sim.ConditionAvailable} {
		facts[cond] = conditionStatus(mc, cond)
	}
	var taints []string
	list, _, _ := unstructured.NestedSlice(mc.Object, "spec", "taints")
	for _, t := range list {
		if m, ok := t.(map[string]any); ok {
			taints = append(taints, fmt.Sprint(m["key"]))
		}
	}
	sort.Strings(taints)
	facts["taints"] = "[" + strings.Join(taints, " ") + "]"
	return facts
}

// klusterletWorkFacts: whether the work exists and whether its agent has
// applied its current generation.
func klusterletWorkFacts(work *unstructured.Unstructured, deleted bool) map[string]string {
	switch {
	case deleted:
		return map[string]string{"klusterlet work": "gone"}
	case work.GetDeletionTimestamp() != nil:
		return map[string]string{"klusterlet work": "deleting"}
	}
	applied := "not applied"
	conds, _, _ := unstructured.NestedSlice(work.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Applied" && m["status"] == "True" && m["observedGeneration"] == work.GetGeneration() {
			applied = "applied"
		}
	}
	return map[string]string{"klusterlet work": applied}
}

func csrState(csr *certificatesv1.CertificateSigningRequest, deleted bool) string {
	if deleted {
		return "deleted"
	}
	state := "pending"
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved:
			state = "approved"
		case certificatesv1.CertificateDenied:
			return "denied"
		case certificatesv1.CertificateFailed:
			return "failed"
		}
	}
	if len(csr.Status.Certificate) > 0 {
		state = "issued"
	}
	return state
}

func conditionStatus(mc *unstructured.Unstructured, condition string) string {
	conds, _, _ := unstructured.NestedSlice(mc.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == condition {
			return fmt.Sprint(m["status"])
		}
	}
	return "none"
}
