package reconcile

// The model world of the state-machine test (model_test.go): two hubs held
// in memory with the API semantics the executor relies on, the klusterlet
// agents and the hubs' own controllers as SPEC "How OCM and ACM behave"
// describes them, and an in-memory twin of execute.go that applies the
// planner's actions to it. Nothing here is product code: the planner
// (PlanMigration) is the real one, and so are the helpers it shares with the
// executor (checkRegistrationCSR, passingCSRs, withMarkers, migrationFacts,
// bootstrapToken, parseTokenClaims, …).

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

const (
	mdlSource = 0
	mdlTarget = 1
	// mdlBootNS and mdlSecretNS are Facts.BootstrapNamespace and
	// Facts.BootstrapSecretNamespace.
	mdlBootNS   = "open-cluster-management"
	mdlSecretNS = "multicluster-engine"
	mdlHomeID   = "home-uid"
	mdlLease    = "managed-cluster-lease"
	// mdlLeaseGrace is 5 × leaseDurationSeconds: how long a hub keeps
	// Available True after the agent's last renewal.
	mdlLeaseGrace = 5 * time.Minute
)

var mdlHubNames = [2]string{"source", "target"}

// mdlStore is one hub's objects, by resource, then "namespace|name".
// Stored objects are never mutated in place (every write stores a fresh
// copy), so a snapshot only copies the maps.
type mdlStore map[string]map[string]*unstructured.Unstructured

func mdlKey(namespace, name string) string { return namespace + "|" + name }

func (s mdlStore) get(resource, namespace, name string) *unstructured.Unstructured {
	return s[resource][mdlKey(namespace, name)]
}

func (s mdlStore) put(resource string, o *unstructured.Unstructured) {
	if s[resource] == nil {
		s[resource] = map[string]*unstructured.Unstructured{}
	}
	s[resource][mdlKey(o.GetNamespace(), o.GetName())] = o
}

func (s mdlStore) del(resource, namespace, name string) { delete(s[resource], mdlKey(namespace, name)) }

// list returns the objects of a resource (in a namespace, "*" for all), sorted by key.
func (s mdlStore) list(resource, namespace string) []*unstructured.Unstructured {
	var keys []string
	for k, o := range s[resource] {
		if namespace == "*" || o.GetNamespace() == namespace {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]*unstructured.Unstructured, 0, len(keys))
	for _, k := range keys {
		out = append(out, s[resource][k])
	}
	return out
}

// all lists every object as "resource|namespace|name", sorted.
func (s mdlStore) all() ([]string, map[string]*unstructured.Unstructured) {
	objs := map[string]*unstructured.Unstructured{}
	var keys []string
	for r, m := range s {
		for k, o := range m {
			keys = append(keys, r+"|"+k)
			objs[r+"|"+k] = o
		}
	}
	sort.Strings(keys)
	return keys, objs
}

func (s mdlStore) clone() mdlStore {
	out := make(mdlStore, len(s))
	for r, m := range s {
		out[r] = maps.Clone(m)
	}
	return out
}

// mdlStatusKinds have a status subresource: an update of the main resource
// leaves their status alone.
var mdlStatusKinds = map[string]bool{"managedclusters": true, "manifestworks": true, "certificatesigningrequests": true, "namespaces": true}

// mdlGenerationKinds bump metadata.generation when their spec changes.
var mdlGenerationKinds = map[string]bool{"managedclusters": true, "manifestworks": true, "klusterletconfigs": true}

// mdlFinalized are deleted in two steps: a deletionTimestamp first, the
// object gone once a hub controller ran its finalizers (hubFinalize).
var mdlFinalized = map[string]bool{"managedclusters": true, "namespaces": true}

// mdlBoot is one bootstrap kubeconfig of a klusterlet: to which hub, with
// which credential ("" is that hub's own import credential, which its
// import controller approves; otherwise the jti of the migration's token).
type mdlBoot struct {
	Hub int
	JTI string
}

func (b mdlBoot) String() string {
	if b.JTI == "" {
		return strconv.Itoa(b.Hub)
	}
	return strconv.Itoa(b.Hub) + ":" + b.JTI
}

func mdlRender(boots []mdlBoot) string {
	parts := make([]string, len(boots))
	for i, b := range boots {
		parts[i] = b.String()
	}
	return strings.Join(parts, ",")
}

func mdlParseBoots(s string) []mdlBoot {
	var out []mdlBoot
	for _, p := range strings.Split(s, ",") {
		if p == "" {
			continue
		}
		hub, jti, _ := strings.Cut(p, ":")
		h, _ := strconv.Atoi(hub)
		out = append(out, mdlBoot{Hub: h, JTI: jti})
	}
	return out
}

type mdlAgentState int

const (
	agJoined  mdlAgentState = iota // connected to Hub with its certificate
	agWaiting                      // waiting on CSR on Hub (bootstrap trap); Hub=source: stuck, no ManagedCluster to accept it
	agDown                         // no valid bootstrap kubeconfig: crash-loops
)

func (s mdlAgentState) String() string {
	return [...]string{"joined", "waiting", "down"}[s]
}

// mdlAgent is one cluster's klusterlet.
type mdlAgent struct {
	// Singleton mode (ACM's default): the work agent runs only while the
	// registration agent is joined. Default mode: it runs on its own, with
	// the hub kubeconfig's hub.
	Singleton bool
	// CertHub is the hub of its hub kubeconfig (its client certificate), -1 none.
	CertHub int
	State   mdlAgentState
	Hub     int
	CSR     string  // agWaiting on the target: the CSR it waits on
	Boot    mdlBoot // the bootstrap kubeconfig the CSR was filed with
	// Boots are the bootstrap kubeconfigs of the klusterlet configuration
	// the work agent last applied, in order.
	Boots     []mdlBoot
	LastRenew [2]time.Time
}

// mdlToken is a TokenRequest token: bound to the anchor Secret (by UID) and
// the ServiceAccount (by UID) it was requested for.
type mdlToken struct {
	AnchorUID, SAUID types.UID
}

// mdlClusterSpec is what a cluster starts with.
type mdlClusterSpec struct {
	Name      string
	Singleton bool
	KAC       bool // a KlusterletAddonConfig, and an addon the target's addon controller makes from it
	Preserved bool // a preserved ConfigMap
	OrigKC    bool // a KlusterletConfig named by the cluster before the migration (also on the target)
	// Collision: with Preserved, the target already holds the cluster
	// namespace and, at the preserved ConfigMap's name, an unlabelled
	// ConfigMap of someone else's (the caches cannot see it).
	Collision bool
}

// mdlWorld is both hubs, the migration, the agents and the clock.
type mdlWorld struct {
	hubs     [2]mdlStore
	mig      *unstructured.Unstructured // nil once its finalizer was released
	now      time.Time
	rv, uid  int
	clusters []mdlClusterSpec
	agents   map[string]*mdlAgent
	tokens   map[string]mdlToken
	csrN     int
	// pems are agent CSR requests per cluster (made with csr_test.go's helpers).
	pems map[string][]byte
	// History for the invariants.
	rollbackWritten map[string]bool // Rollbacking was written on the cluster's source
	rogueApproved   map[string]bool
	rogueDenied     map[string]bool
	rogueAccepted   map[string]bool // an admin accepted the source again
	decisions       map[string]mdlDecisions
	violations      []string
	// origAccepted and origKC are the source's values before the migration.
	origKC map[string]string
	// noBootstrapRole: the target has no OCM bootstrap ClusterRole (the
	// migration makes its own).
	noBootstrapRole bool
	log             func(format string, args ...any)
	typed           map[*unstructured.Unstructured]any
	// waiting is the controller's memory of unclaimed clusters' waits
	// (Plan.Waiting fed back as Facts.Waiting); a crash forgets it.
	waiting map[string]time.Time
}

func (w *mdlWorld) logf(format string, args ...any) {
	if w.log != nil {
		w.log(format, args...)
	}
}

func (w *mdlWorld) violate(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	w.logf("VIOLATION: %s", msg)
	w.violations = append(w.violations, msg)
}

func (w *mdlWorld) nextRV() string { w.rv++; return strconv.Itoa(w.rv) }

func (w *mdlWorld) nextUID(prefix string) types.UID {
	w.uid++
	return types.UID(fmt.Sprintf("%s-%d", prefix, w.uid))
}

// --- the API server -------------------------------------------------------

func mdlGR(resource string) schema.GroupResource { return schema.GroupResource{Resource: resource} }

func mdlTerminating(o *unstructured.Unstructured) bool {
	return o != nil && o.GetDeletionTimestamp() != nil
}

// create stores obj as a new object: AlreadyExists if the name is taken;
// a namespaced object needs its namespace, not terminating.
func (w *mdlWorld) create(hub int, resource string, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	s := w.hubs[hub]
	ns, name := obj.GetNamespace(), obj.GetName()
	if s.get(resource, ns, name) != nil {
		return nil, apierrors.NewAlreadyExists(mdlGR(resource), name)
	}
	if ns != "" {
		nso := s.get("namespaces", "", ns)
		if nso == nil {
			return nil, apierrors.NewNotFound(mdlGR("namespaces"), ns)
		}
		if mdlTerminating(nso) {
			return nil, apierrors.NewForbidden(mdlGR(resource), name, fmt.Errorf("namespace %s is being terminated", ns))
		}
	}
	if resource == "managedclusters" && hubAcceptsClient(obj) {
		// OCM's webhook: no acceptance while the cluster namespace terminates.
		if nso := s.get("namespaces", "", name); mdlTerminating(nso) {
			return nil, apierrors.NewForbidden(mdlGR(resource), name, fmt.Errorf("namespace %s is terminating", name))
		}
	}
	out := obj.DeepCopy()
	out.SetUID(w.nextUID(resource))
	out.SetResourceVersion(w.nextRV())
	out.SetCreationTimestamp(metav1.NewTime(w.now))
	out.SetDeletionTimestamp(nil)
	if mdlGenerationKinds[resource] {
		out.SetGeneration(1)
	}
	s.put(resource, out)
	return out, nil
}

// update writes obj over the stored object: 404 if absent, 409 if its
// resourceVersion (when set) or UID is stale. Status stays for the kinds
// with a status subresource; generation follows the spec.
func (w *mdlWorld) update(hub int, resource string, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	s := w.hubs[hub]
	ns, name := obj.GetNamespace(), obj.GetName()
	cur := s.get(resource, ns, name)
	if cur == nil {
		return nil, apierrors.NewNotFound(mdlGR(resource), name)
	}
	if rv := obj.GetResourceVersion(); rv != "" && rv != cur.GetResourceVersion() {
		return nil, apierrors.NewConflict(mdlGR(resource), name, fmt.Errorf("resourceVersion %s is stale (now %s)", rv, cur.GetResourceVersion()))
	}
	if uid := obj.GetUID(); uid != "" && uid != cur.GetUID() {
		return nil, apierrors.NewConflict(mdlGR(resource), name, fmt.Errorf("uid %s is not %s", uid, cur.GetUID()))
	}
	out := obj.DeepCopy()
	out.SetUID(cur.GetUID())
	out.SetCreationTimestamp(cur.GetCreationTimestamp())
	out.SetDeletionTimestamp(cur.GetDeletionTimestamp())
	out.SetGeneration(cur.GetGeneration())
	if mdlGenerationKinds[resource] && !reflect.DeepEqual(cur.Object["spec"], out.Object["spec"]) {
		out.SetGeneration(cur.GetGeneration() + 1)
	}
	if mdlStatusKinds[resource] {
		if st, ok := cur.Object["status"]; ok {
			out.Object["status"] = runtime.DeepCopyJSONValue(st)
		} else {
			delete(out.Object, "status")
		}
	}
	out.SetResourceVersion(w.nextRV())
	s.put(resource, out)
	return out, nil
}

// setStatus is a hub's or an agent's status write (no precondition).
func (w *mdlWorld) setStatus(hub int, resource string, cur *unstructured.Unstructured, status map[string]any) {
	out := cur.DeepCopy()
	out.Object["status"] = status
	out.SetResourceVersion(w.nextRV())
	w.hubs[hub].put(resource, out)
}

// remove deletes an object: UID precondition (409 if stale), 404 if absent;
// ManagedClusters and Namespaces only get a deletionTimestamp here.
func (w *mdlWorld) remove(hub int, resource, namespace, name string, uid types.UID) error {
	return w.removeAsRead(hub, resource, namespace, name, uid, "")
}

// removeAsRead is remove with a resourceVersion precondition as well (when rv is set).
func (w *mdlWorld) removeAsRead(hub int, resource, namespace, name string, uid types.UID, rv string) error {
	s := w.hubs[hub]
	cur := s.get(resource, namespace, name)
	if cur == nil {
		return apierrors.NewNotFound(mdlGR(resource), name)
	}
	if uid != "" && uid != cur.GetUID() {
		return apierrors.NewConflict(mdlGR(resource), name, fmt.Errorf("precondition: uid %s is not %s", uid, cur.GetUID()))
	}
	if rv != "" && rv != cur.GetResourceVersion() {
		return apierrors.NewConflict(mdlGR(resource), name, fmt.Errorf("precondition: resourceVersion %s is not %s", rv, cur.GetResourceVersion()))
	}
	if mdlFinalized[resource] {
		if cur.GetDeletionTimestamp() == nil {
			out := cur.DeepCopy()
			ts := metav1.NewTime(w.now)
			out.SetDeletionTimestamp(&ts)
			out.SetResourceVersion(w.nextRV())
			s.put(resource, out)
		}
		return nil
	}
	s.del(resource, namespace, name)
	return nil
}

// --- helpers over the world ----------------------------------------------

func (w *mdlWorld) mc(hub int, c string) *unstructured.Unstructured {
	return w.hubs[hub].get("managedclusters", "", c)
}

func mdlAccepted(mc *unstructured.Unstructured) bool {
	return mc != nil && hubAcceptsClient(mc)
}

func (w *mdlWorld) agent(c string) *mdlAgent { return w.agents[c] }

func (w *mdlWorld) owner() string { return testOwner.String() }

func (w *mdlWorld) saUser() string {
	return "system:serviceaccount:" + mdlBootNS + ":" + ServiceAccountName(testOwner.UID)
}

// setCondition returns status with condition typ set to value (a copy).
func mdlSetCondition(obj *unstructured.Unstructured, typ, value string, observedGeneration int64) (map[string]any, bool) {
	status, _, _ := unstructured.NestedMap(obj.Object, "status")
	if status == nil {
		status = map[string]any{}
	}
	status = runtime.DeepCopyJSON(status)
	conds, _, _ := unstructured.NestedSlice(status, "conditions")
	found, changed := false, false
	for i, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			found = true
			if m["status"] != value || (observedGeneration > 0 && m["observedGeneration"] != observedGeneration) {
				m["status"] = value
				if observedGeneration > 0 {
					m["observedGeneration"] = observedGeneration
				}
				conds[i] = m
				changed = true
			}
		}
	}
	if !found {
		m := map[string]any{"type": typ, "status": value}
		if observedGeneration > 0 {
			m["observedGeneration"] = observedGeneration
		}
		conds = append(conds, m)
		changed = true
	}
	status["conditions"] = conds
	return status, changed
}

func (w *mdlWorld) setMCCondition(hub int, c, typ, value string) {
	mc := w.mc(hub, c)
	if mc == nil {
		return
	}
	if status, changed := mdlSetCondition(mc, typ, value, 0); changed {
		w.setStatus(hub, "managedclusters", mc, status)
	}
}

// tokenValid: the token's anchor and ServiceAccount still exist with the
// UIDs it was bound to, and the ServiceAccount is bound to the bootstrap
// role (so its CSRs can be filed).
func (w *mdlWorld) tokenValid(jti string) bool {
	tok, ok := w.tokens[jti]
	if !ok {
		return false
	}
	t := w.hubs[mdlTarget]
	found := false
	for _, s := range t.list("secrets", mdlBootNS) {
		if s.GetUID() == tok.AnchorUID {
			found = true
		}
	}
	sa := t.get("serviceaccounts", mdlBootNS, ServiceAccountName(testOwner.UID))
	binding := t.get("clusterrolebindings", "", ServiceAccountName(testOwner.UID))
	return found && sa != nil && sa.GetUID() == tok.SAUID && binding != nil
}

// --- the world at the start ----------------------------------------------

func mdlNewWorld(specs []mdlClusterSpec, pems map[string][]byte, log func(string, ...any)) *mdlWorld {
	w := &mdlWorld{
		now: testNow, clusters: specs, agents: map[string]*mdlAgent{}, tokens: map[string]mdlToken{}, pems: pems,
		rollbackWritten: map[string]bool{}, rogueApproved: map[string]bool{}, rogueDenied: map[string]bool{}, rogueAccepted: map[string]bool{},
		decisions: map[string]mdlDecisions{}, origKC: map[string]string{}, log: log, typed: map[*unstructured.Unstructured]any{},
	}
	w.hubs[mdlSource], w.hubs[mdlTarget] = mdlStore{}, mdlStore{}
	must := func(_ *unstructured.Unstructured, err error) {
		if err != nil {
			panic(err)
		}
	}
	ns := func(hub int, name string, labels map[string]string) {
		o := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}}
		o.SetLabels(labels)
		must(w.create(hub, "namespaces", o))
	}
	ns(mdlSource, mdlSecretNS, nil)
	ns(mdlTarget, mdlBootNS, nil)
	var names []any
	for _, cs := range specs {
		c := cs.Name
		names = append(names, c)
		ns(mdlSource, c, map[string]string{LabelClusterName: c})
		anns := map[string]string{"team": "blue"}
		if cs.OrigKC {
			kcName := "orig-kc-" + c
			anns[AnnKlusterletConfig] = kcName
			w.origKC[c] = kcName
			for _, hub := range []int{mdlSource, mdlTarget} {
				must(w.create(hub, "klusterletconfigs", &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": "config.open-cluster-management.io/v1alpha1", "kind": "KlusterletConfig",
					"metadata": map[string]any{"name": kcName}, "spec": map[string]any{"nodePlacement": map[string]any{"nodeSelector": map[string]any{"infra": "true"}}},
				}}))
			}
		}
		src := mc(c, true, map[string]string{"env": "prod"}, anns, "HubAccepted", "Joined", "Available")
		must(w.create(mdlSource, "managedclusters", src))
		wk := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
			"metadata": map[string]any{"name": c + "-klusterlet", "namespace": c},
			"spec":     map[string]any{"bootstraps": mdlRender([]mdlBoot{{Hub: mdlSource}})},
		}}
		must(w.create(mdlSource, "manifestworks", wk))
		// The work was applied at generation 3 long ago.
		stored := w.hubs[mdlSource].get("manifestworks", c, c+"-klusterlet").DeepCopy()
		stored.SetGeneration(3)
		stored.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": "Applied", "status": "True", "observedGeneration": int64(3)}}}
		w.hubs[mdlSource].put("manifestworks", stored)
		must(w.create(mdlSource, "leases", mdlLeaseObject(c)))
		if cs.KAC {
			must(w.create(mdlSource, "klusterletaddonconfigs", &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "agent.open-cluster-management.io/v1", "kind": "KlusterletAddonConfig",
				"metadata": map[string]any{"name": c, "namespace": c},
				"spec":     map[string]any{"searchCollector": map[string]any{"enabled": true}},
			}}))
			must(w.create(mdlSource, "managedclusteraddons", &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "addon.open-cluster-management.io/v1alpha1", "kind": "ManagedClusterAddOn",
				"metadata": map[string]any{"name": "search-collector", "namespace": c},
				"spec":     map[string]any{"installNamespace": "open-cluster-management-agent-addon"},
			}}))
		}
		if cs.Preserved {
			cm := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": "site-" + c, "namespace": c},
				"data":     map[string]any{"site": "east"},
			}}
			cm.SetLabels(map[string]string{LabelPreserve: ""})
			must(w.create(mdlSource, "configmaps", cm))
			if cs.Collision {
				ns(mdlTarget, c, nil)
				other := cm.DeepCopy()
				other.SetLabels(nil)
				other.Object["data"] = map[string]any{"site": "west"}
				must(w.create(mdlTarget, "configmaps", other))
			}
		}
		w.agents[c] = &mdlAgent{Singleton: cs.Singleton, CertHub: mdlSource, State: agJoined, Hub: mdlSource,
			Boots: []mdlBoot{{Hub: mdlSource}}, LastRenew: [2]time.Time{w.now, {}}}
	}
	w.mig = &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "global-hub.open-cluster-management.io/v1alpha1", "kind": "ManagedClusterMigration",
		"metadata": map[string]any{"name": testOwner.Name, "namespace": testOwner.Namespace, "uid": string(testOwner.UID),
			"resourceVersion": w.nextRV(), "finalizers": []any{Finalizer},
			"annotations": map[string]any{AnnStartedAt: w.now.UTC().Format(time.RFC3339)}},
		"spec": map[string]any{"from": "hub1", "to": "hub2", "includedManagedClusters": names},
	}}
	return w
}

func mdlLeaseObject(c string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
		"metadata": map[string]any{"name": mdlLease, "namespace": c},
	}}
}

// --- observe: the world (as the caches hold it) → Facts --------------------

// mdlView is what the caches of one reconcile hold: per hub and resource,
// possibly an older state of the world (each informer lags on its own).
type mdlView struct {
	hubs  [2]func(resource string) mdlStore
	mig   *unstructured.Unstructured
	fresh bool // the current world
}

func (w *mdlWorld) currentView() mdlView {
	return mdlView{hubs: [2]func(string) mdlStore{
		func(string) mdlStore { return w.hubs[mdlSource] },
		func(string) mdlStore { return w.hubs[mdlTarget] },
	}, mig: w.mig, fresh: true}
}

func mdlTyped[T any](u *unstructured.Unstructured) *T {
	if u == nil {
		return nil
	}
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.DeepCopy().Object, out); err != nil {
		panic(fmt.Sprintf("converting %s: %v", u.GetName(), err))
	}
	return out
}

// typed is mdlTyped through the world's cache: stored objects never change,
// so each is converted once (and handed out as a copy).
func mdlConv[T any](w *mdlWorld, u *unstructured.Unstructured) *T {
	if u == nil {
		return nil
	}
	cached, ok := w.typed[u]
	if !ok {
		cached = mdlTyped[T](u)
		w.typed[u] = cached
	}
	return any(cached.(runtime.Object).DeepCopyObject()).(*T)
}

func mdlCopy(u *unstructured.Unstructured) *unstructured.Unstructured {
	if u == nil {
		return nil
	}
	return u.DeepCopy()
}

// facts is what observe.go would give from caches holding view; nil when
// the migration is gone (its finalizer released).
func (w *mdlWorld) facts(v mdlView) *Facts {
	if v.mig == nil {
		return nil
	}
	m, err := migrationFacts(v.mig.DeepCopy())
	if err != nil {
		panic(err)
	}
	f := &Facts{
		Now: w.now, HomeID: mdlHomeID, BootstrapNamespace: mdlBootNS, BootstrapSecretNamespace: mdlSecretNS,
		Migration: m, Waiting: w.waiting,
		Source: HubFacts{Reachable: true, ServesKlusterletConfig: true, BootstrapClusterRole: true},
		Target: HubFacts{Reachable: true, ServesKlusterletConfig: true, BootstrapClusterRole: !w.noBootstrapRole, RegistrationAddress: "https://hub2:6443"},
	}
	src, tgt := v.hubs[mdlSource], v.hubs[mdlTarget]
	ours := func(u *unstructured.Unstructured) *unstructured.Unstructured {
		if u == nil || u.GetLabels()[LabelMigrationUID] == "" {
			return nil
		}
		return u
	}
	f.ServiceAccount = mdlConv[corev1.ServiceAccount](w, ours(tgt("serviceaccounts").get("serviceaccounts", mdlBootNS, ServiceAccountName(testOwner.UID))))
	f.Binding = mdlConv[rbacv1.ClusterRoleBinding](w, ours(tgt("clusterrolebindings").get("clusterrolebindings", "", ServiceAccountName(testOwner.UID))))
	f.ClusterRole = mdlConv[rbacv1.ClusterRole](w, ours(tgt("clusterroles").get("clusterroles", "", ServiceAccountName(testOwner.UID))))
	for _, c := range m.Clusters() {
		scaffold := ScaffoldingName(c, testOwner.UID)
		cf := ClusterFacts{Name: c}
		s := &cf.Source
		s.MC = mdlCopy(src("managedclusters").get("managedclusters", "", c))
		s.KlusterletWork = mdlCopy(src("manifestworks").get("manifestworks", c, c+"-klusterlet"))
		s.KlusterletConfig = mdlCopy(src("klusterletconfigs").get("klusterletconfigs", "", scaffold))
		named := annotation(s.MC, AnnOriginalKlusterletConfig)
		if !hasAnnotation(s.MC, AnnOriginalKlusterletConfig) {
			named = annotation(s.MC, AnnKlusterletConfig)
		}
		if named != "" && named != scaffold {
			s.NamedKlusterletConfig = mdlCopy(src("klusterletconfigs").get("klusterletconfigs", "", named))
		}
		s.BootstrapSecret = mdlConv[corev1.Secret](w, ours(src("secrets").get("secrets", mdlSecretNS, scaffold)))
		s.Lease = mdlConv[coordinationv1.Lease](w, src("leases").get("leases", c, mdlLease))
		s.Migrated = mdlMigrated(w, src, c)
		t := &cf.Target
		t.MC = mdlCopy(tgt("managedclusters").get("managedclusters", "", c))
		t.Namespace = mdlConv[corev1.Namespace](w, tgt("namespaces").get("namespaces", "", c))
		t.KlusterletWork = mdlCopy(tgt("manifestworks").get("manifestworks", c, c+"-klusterlet"))
		t.Lease = mdlConv[coordinationv1.Lease](w, tgt("leases").get("leases", c, mdlLease))
		t.Anchor = mdlConv[corev1.Secret](w, ours(tgt("secrets").get("secrets", mdlBootNS, scaffold)))
		for _, csr := range tgt("certificatesigningrequests").list("certificatesigningrequests", "*") {
			if csr.GetLabels()[LabelClusterName] == c {
				t.CSRs = append(t.CSRs, mdlConv[certificatesv1.CertificateSigningRequest](w, csr))
			}
		}
		t.KlusterletConfigNames = map[string]bool{}
		for _, kc := range tgt("klusterletconfigs").list("klusterletconfigs", "*") {
			t.KlusterletConfigNames[kc.GetName()] = true
		}
		t.Migrated = mdlMigrated(w, tgt, c)
		f.Clusters = append(f.Clusters, cf)
	}
	return f
}

func mdlMigrated(w *mdlWorld, view func(string) mdlStore, c string) MigratedObjects {
	m := MigratedObjects{KlusterletAddonConfig: mdlCopy(view("klusterletaddonconfigs").get("klusterletaddonconfigs", c, c))}
	for _, a := range view("managedclusteraddons").list("managedclusteraddons", c) {
		m.Addons = append(m.Addons, a.DeepCopy())
	}
	for _, s := range view("secrets").list("secrets", c) {
		if _, ok := s.GetLabels()[LabelPreserve]; ok {
			m.Secrets = append(m.Secrets, mdlConv[corev1.Secret](w, s))
		}
	}
	for _, cm := range view("configmaps").list("configmaps", c) {
		if _, ok := cm.GetLabels()[LabelPreserve]; ok {
			m.ConfigMaps = append(m.ConfigMaps, mdlConv[corev1.ConfigMap](w, cm))
		}
	}
	return m
}

// --- the executor: execute.go, against the model's API ---------------------

// mdlExec performs actions the way execute.go does: the same preconditions
// and live re-reads, against the current world; facts are those the plan
// was made from (possibly stale), as in the real executor.
type mdlExec struct {
	w *mdlWorld
	f *Facts
}

func (e *mdlExec) execute(a Action) error {
	err := e.do(a)
	if apierrors.IsConflict(err) {
		return &errReplan{why: a.String() + ": " + err.Error()}
	}
	return err
}

func (e *mdlExec) do(a Action) error {
	w := e.w
	if a.Kind == ReleaseFinalizer {
		return e.releaseFinalizer(a)
	}
	if a.Hub == Home {
		if w.mig == nil {
			return apierrors.NewNotFound(mdlGR("managedclustermigrations"), a.Ref.Name)
		}
		if rv := a.Object.GetResourceVersion(); rv != "" && rv != w.mig.GetResourceVersion() {
			return apierrors.NewConflict(mdlGR("managedclustermigrations"), a.Ref.Name, fmt.Errorf("stale"))
		}
		out := a.Object.DeepCopy()
		out.SetDeletionTimestamp(w.mig.GetDeletionTimestamp())
		out.SetResourceVersion(w.nextRV())
		w.mig = out
		return nil
	}
	hub := mdlSource
	if a.Hub == Target {
		hub = mdlTarget
	}
	switch a.Kind {
	case Create:
		return e.create(hub, a)
	case Update:
		return e.updateMarked(hub, a.Ref.GVR.Resource, a.Cluster, a.Object)
	case Delete:
		return e.remove(hub, a.Ref, a.Cluster)
	case MintToken:
		return e.mintToken(a)
	case UseKlusterletConfig:
		generation := int64(0)
		if wk := w.hubs[mdlSource].get("manifestworks", a.Cluster, a.Cluster+"-klusterlet"); wk != nil {
			generation = wk.GetGeneration()
		}
		obj, _ := withMarkers(a.Object, nil, map[string]string{AnnKlusterletWorkGeneration: fmt.Sprint(generation)}, nil, nil)
		return e.updateMarked(mdlSource, "managedclusters", a.Cluster, obj)
	case Commit:
		return e.commit(a)
	case Approve:
		return e.approve(a)
	case Deny:
		csr, err := e.liveCSR(a.Ref)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if !csrPending(csr) {
			return nil
		}
		e.w.decideCSR(csr, certificatesv1.CertificateDenied, "HubmigrateDenied")
		return nil
	case DeleteSourceCluster:
		return e.deleteSourceCluster(a)
	case DeleteMigratedSource:
		if w.hubs[mdlTarget].get(a.Ref.GVR.Resource, a.Ref.Namespace, a.Ref.Name) == nil {
			return &errReplan{why: "the copy of " + a.Ref.String() + " is not on the target"}
		}
		return e.remove(mdlSource, a.Ref, a.Cluster)
	case Restore:
		leaseRV := "absent"
		if l := w.hubs[mdlSource].get("leases", a.Cluster, mdlLease); l != nil {
			leaseRV = l.GetResourceVersion()
		}
		obj, _ := withMarkers(a.Object, nil, map[string]string{AnnRestoreLeaseRV: leaseRV}, nil, nil)
		return e.updateMarked(mdlSource, "managedclusters", a.Cluster, obj)
	case DeleteTargetCluster:
		return e.unacceptAndDelete(mdlTarget, a.Ref, a.Cluster)
	case DecideRollback:
		return e.decideRollback(a)
	case BeginRegistering:
		// The Registering write, with the target API server's time (the
		// model has one clock) as csrs-not-before.
		obj, _ := withMarkers(a.Object, nil, map[string]string{AnnCSRsNotBefore: w.now.UTC().Format(time.RFC3339)}, nil, nil)
		return e.updateMarked(mdlSource, "managedclusters", a.Cluster, obj)
	case RevokeToken:
		return e.revokeToken(a)
	}
	return fmt.Errorf("unknown action %s", a.Kind)
}

// updateMarked is an Update, with the checks of SPEC's invariants on what
// hubmigrate writes on a source ManagedCluster.
func (e *mdlExec) updateMarked(hub int, resource, cluster string, obj *unstructured.Unstructured) error {
	w := e.w
	before := w.hubs[hub].get(resource, obj.GetNamespace(), obj.GetName())
	out, err := w.update(hub, resource, obj)
	if err != nil {
		return err
	}
	if resource == "managedclusters" && hub == mdlSource {
		if label(out, LabelPhase) == string(Rollbacking) {
			w.rollbackWritten[out.GetName()] = true
		}
		if hasAnnotation(before, AnnCommitted) && hubAcceptsClient(out) && !hubAcceptsClient(before) {
			w.violate("%s: hubmigrate accepted the source ManagedCluster again after it was committed", out.GetName())
		}
	}
	return nil
}

func (e *mdlExec) create(hub int, a Action) error {
	w := e.w
	_, err := w.create(hub, a.Ref.GVR.Resource, a.Object)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	existing := w.hubs[hub].get(a.Ref.GVR.Resource, a.Object.GetNamespace(), a.Object.GetName())
	if existing == nil {
		return err
	}
	if label(existing, LabelMigrationUID) == string(testOwner.UID) || annotation(existing, AnnOwner) == testOwner.String() {
		return nil
	}
	if a.Cluster != "" && (a.Ref.GVR == SecretGVR || a.Ref.GVR == ConfigMapGVR) {
		return &errCollision{Cluster: a.Cluster, Ref: a.Ref}
	}
	return &errReplan{why: a.Ref.String() + " exists and is not this migration's"}
}

func (e *mdlExec) remove(hub int, r Ref, cluster string) error {
	if r.GVR.Resource == "managedclusters" && hub == mdlSource {
		e.checkSourceDeletion(cluster)
	}
	err := e.w.remove(hub, r.GVR.Resource, r.Namespace, r.Name, r.UID)
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// checkSourceDeletion: SPEC's invariant — a source ManagedCluster is never
// deleted while hubAcceptsClient=true on it, nor before the cluster is
// registered on the target (its agent joined there and pointed at the
// target's own bootstrap credential).
func (e *mdlExec) checkSourceDeletion(c string) {
	w := e.w
	src := w.mc(mdlSource, c)
	if src == nil || mdlTerminating(src) {
		return
	}
	if hubAcceptsClient(src) {
		w.violate("%s: the source ManagedCluster is deleted while hubAcceptsClient=true on it", c)
	}
	a := w.agent(c)
	if a.State != agJoined || a.Hub != mdlTarget || !mdlAccepted(w.mc(mdlTarget, c)) {
		w.violate("%s: the source ManagedCluster is deleted before the cluster is registered on the target (agent %s on %s)", c, a.State, mdlHubNames[a.Hub])
	}
	for _, b := range a.Boots {
		if b.JTI != "" {
			w.violate("%s: the source ManagedCluster is deleted while the klusterlet still bootstraps with the migration's token", c)
		}
	}
}

func (e *mdlExec) mintToken(a Action) error {
	w := e.w
	// One token per cluster: the bootstrap Secret is read live first.
	if existing := w.hubs[mdlSource].get("secrets", a.Object.GetNamespace(), a.Object.GetName()); existing != nil {
		if label(existing, LabelMigrationUID) == string(testOwner.UID) {
			return nil
		}
		return &errCollision{Cluster: a.Cluster, Ref: Ref{GVR: SecretGVR, Namespace: existing.GetNamespace(), Name: existing.GetName()}}
	}
	t := w.hubs[mdlTarget]
	sa := t.get("serviceaccounts", mdlBootNS, ServiceAccountName(testOwner.UID))
	if sa == nil {
		return apierrors.NewNotFound(mdlGR("serviceaccounts"), ServiceAccountName(testOwner.UID))
	}
	anchor := t.get("secrets", a.Ref.Namespace, a.Ref.Name)
	if anchor == nil {
		return apierrors.NewNotFound(mdlGR("secrets"), a.Ref.Name)
	}
	if a.Ref.UID != "" && anchor.GetUID() != a.Ref.UID {
		return apierrors.NewConflict(mdlGR("secrets"), a.Ref.Name, fmt.Errorf("the bound object's UID is %s", anchor.GetUID()))
	}
	w.uid++
	jti := fmt.Sprintf("jti-%s-%d", a.Cluster, w.uid)
	w.tokens[jti] = mdlToken{AnchorUID: anchor.GetUID(), SAUID: sa.GetUID()}
	// The fixture's bootstrap Secret, under this cluster's name.
	secret := bootstrapSecret(jti)
	u := toUnstructured(secret, "v1", "Secret")
	out := a.Object.DeepCopy()
	out.Object["type"] = string(corev1.SecretTypeOpaque)
	out.Object["data"] = u.Object["data"]
	_, err := w.create(mdlSource, "secrets", out)
	if apierrors.IsAlreadyExists(err) {
		existing := w.hubs[mdlSource].get("secrets", out.GetNamespace(), out.GetName())
		if label(existing, LabelMigrationUID) == string(testOwner.UID) || annotation(existing, AnnOwner) == testOwner.String() {
			return nil
		}
		return &errReplan{why: "bootstrap Secret not ours"}
	}
	return err
}

func (e *mdlExec) liveCSR(r Ref) (*certificatesv1.CertificateSigningRequest, error) {
	u := e.w.hubs[mdlTarget].get("certificatesigningrequests", "", r.Name)
	if u == nil {
		return nil, apierrors.NewNotFound(mdlGR("certificatesigningrequests"), r.Name)
	}
	if u.GetUID() != r.UID {
		return nil, &errReplan{why: "CSR " + r.Name + " was replaced"}
	}
	return mdlTyped[certificatesv1.CertificateSigningRequest](u), nil
}

// liveCredential: the credential from the plan's facts, the ServiceAccount UID read live.
func (e *mdlExec) liveCredential(c string) (registrationCredential, error) {
	var cf *ClusterFacts
	for i := range e.f.Clusters {
		if e.f.Clusters[i].Name == c {
			cf = &e.f.Clusters[i]
		}
	}
	if cf == nil {
		cf = &ClusterFacts{Name: c}
	}
	cred, ok := (&planner{f: e.f, owner: e.f.Migration.Owner}).credential(cf)
	if !ok {
		return cred, &errReplan{why: "the bootstrap identity of " + c + " is not known"}
	}
	sa := e.w.hubs[mdlTarget].get("serviceaccounts", mdlBootNS, ServiceAccountName(testOwner.UID))
	if sa == nil {
		return cred, apierrors.NewNotFound(mdlGR("serviceaccounts"), ServiceAccountName(testOwner.UID))
	}
	if sa.GetUID() != cred.UID {
		return cred, &errReplan{why: "the bootstrap ServiceAccount was replaced"}
	}
	return cred, nil
}

func (e *mdlExec) commit(a Action) error {
	w := e.w
	csr, err := e.liveCSR(a.Ref)
	if err != nil {
		return err
	}
	cred, err := e.liveCredential(a.Cluster)
	if err != nil {
		return err
	}
	if csrRefused(csr) || checkRegistrationCSR(csr, cred) != nil {
		return &errReplan{why: "CSR " + csr.Name + " no longer passes the checks"}
	}
	leaseRV, workRV := "absent", "absent"
	if l := w.hubs[mdlTarget].get("leases", a.Cluster, mdlLease); l != nil {
		leaseRV = l.GetResourceVersion()
	}
	if wk := w.hubs[mdlTarget].get("manifestworks", a.Cluster, a.Cluster+"-klusterlet"); wk != nil && csrPending(csr) {
		workRV = wk.GetResourceVersion()
	}
	obj, _ := withMarkers(a.Object, nil, map[string]string{AnnCommitLeaseRV: leaseRV, AnnCommitWorkRV: workRV}, nil, nil)
	return e.updateMarked(mdlSource, "managedclusters", a.Cluster, obj)
}

func (e *mdlExec) approve(a Action) error {
	w := e.w
	src := w.mc(mdlSource, a.Cluster)
	if src == nil {
		return apierrors.NewNotFound(mdlGR("managedclusters"), a.Cluster)
	}
	if !hasAnnotation(src, AnnCommitted) || Phase(label(src, LabelPhase)) == Rollbacking || annotation(src, AnnOwner) != testOwner.String() {
		return &errReplan{why: a.Cluster + " is not committed by this migration"}
	}
	csr, err := e.liveCSR(a.Ref)
	if err != nil {
		return err
	}
	if !csrPending(csr) {
		return nil
	}
	cred, err := e.liveCredential(a.Cluster)
	if err != nil {
		return err
	}
	if checkRegistrationCSR(csr, cred) != nil {
		return &errReplan{why: "CSR " + csr.Name + " no longer passes the checks"}
	}
	if w.rollbackWritten[a.Cluster] {
		w.violate("%s: hubmigrate approves CSR %s after Rollbacking was written", a.Cluster, csr.Name)
	}
	w.decideCSR(csr, certificatesv1.CertificateApproved, "HubmigrateApproved")
	return nil
}

// decideCSR approves or denies a CSR (UpdateApproval; an approved one is
// signed at once, as kube-controller-manager does).
func (w *mdlWorld) decideCSR(csr *certificatesv1.CertificateSigningRequest, typ certificatesv1.RequestConditionType, reason string) {
	cur := w.hubs[mdlTarget].get("certificatesigningrequests", "", csr.Name)
	if cur == nil {
		return
	}
	status, _ := mdlSetCondition(cur, string(typ), "True", 0)
	conds := status["conditions"].([]any)
	last := conds[len(conds)-1].(map[string]any)
	last["reason"] = reason
	w.setStatus(mdlTarget, "certificatesigningrequests", cur, status)
	w.logf("  CSR %s of %s %s (%s)", csr.Name, csr.Labels[LabelClusterName], typ, reason)
}

func (e *mdlExec) deleteSourceCluster(a Action) error {
	w := e.w
	tgt := w.mc(mdlTarget, a.Cluster)
	if tgt == nil {
		return apierrors.NewNotFound(mdlGR("managedclusters"), a.Cluster)
	}
	if annotation(tgt, AnnOwner) != testOwner.String() || !conditionTrue(tgt, "ManagedClusterJoined") ||
		!conditionTrue(tgt, "ManagedClusterConditionAvailable") || !hubAcceptsClient(tgt) {
		return &errReplan{why: a.Cluster + " is not registered on the target"}
	}
	src := w.mc(mdlSource, a.Cluster)
	if src == nil {
		return nil
	}
	if src.GetUID() != a.Ref.UID {
		return &errReplan{why: "the source ManagedCluster was replaced"}
	}
	if hubAcceptsClient(src) {
		obj := src.DeepCopy()
		_ = unstructured.SetNestedField(obj.Object, false, "spec", "hubAcceptsClient")
		if err := e.updateMarked(mdlSource, "managedclusters", a.Cluster, obj); err != nil {
			return err
		}
		return &errReplan{why: "unaccepted the source before deleting it"}
	}
	// Fenced by what the live read saw (UID and resourceVersion).
	e.checkSourceDeletion(a.Cluster)
	err := w.removeAsRead(mdlSource, "managedclusters", "", a.Cluster, a.Ref.UID, src.GetResourceVersion())
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (e *mdlExec) unacceptAndDelete(hub int, r Ref, c string) error {
	w := e.w
	cur := w.mc(hub, r.Name)
	if cur == nil {
		return nil
	}
	if cur.GetUID() != r.UID || annotation(cur, AnnOwner) != testOwner.String() {
		return &errReplan{why: "ManagedCluster " + r.Name + " is not the one planned"}
	}
	if hubAcceptsClient(cur) {
		obj := cur.DeepCopy()
		_ = unstructured.SetNestedField(obj.Object, false, "spec", "hubAcceptsClient")
		if err := e.updateMarked(hub, "managedclusters", c, obj); err != nil {
			return err
		}
		if hubAcceptsClient(w.mc(hub, r.Name)) {
			return &errReplan{why: "accepted again"}
		}
	}
	err := w.removeAsRead(hub, "managedclusters", "", r.Name, r.UID, w.mc(hub, r.Name).GetResourceVersion())
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (e *mdlExec) decideRollback(a Action) error {
	w := e.w
	if hasAnnotation(a.Object, AnnOriginalHubAcceptsClient) {
		var csrs []*certificatesv1.CertificateSigningRequest
		for _, u := range w.hubs[mdlTarget].list("certificatesigningrequests", "*") {
			if u.GetLabels()[LabelClusterName] == a.Cluster {
				csrs = append(csrs, mdlTyped[certificatesv1.CertificateSigningRequest](u))
			}
		}
		if len(csrs) > 0 {
			cred, err := e.liveCredential(a.Cluster)
			if err != nil && !IsReplan(err) && !apierrors.IsNotFound(err) {
				return err
			}
			if err == nil {
				cns := map[string]bool{}
				for _, csr := range passingCSRs(csrs, cred, csrsNotBefore(a.Object)) {
					cns[csrCommonName(csr)] = true
				}
				if len(cns) == 1 {
					return &errReplan{why: "a CSR that passes every check is on the target: commit takes precedence"}
				}
			}
		}
	}
	return e.updateMarked(mdlSource, "managedclusters", a.Cluster, a.Object)
}

func (e *mdlExec) revokeToken(a Action) error {
	w := e.w
	src := w.mc(mdlSource, a.Cluster)
	switch {
	case src != nil && annotation(src, AnnOwner) == testOwner.String() && (Phase(label(src, LabelPhase)) == Rollbacking || Phase(label(src, LabelPhase)) == Failed):
		return e.remove(mdlTarget, a.Ref, a.Cluster)
	case src != nil:
		return &errReplan{why: "the token is still needed: its source ManagedCluster is there"}
	}
	tgt := w.mc(mdlTarget, a.Cluster)
	if tgt == nil || annotation(tgt, AnnOwner) != testOwner.String() || !hasAnnotation(tgt, AnnCommitted) {
		return &errReplan{why: "the target does not speak for " + a.Cluster}
	}
	return e.remove(mdlTarget, a.Ref, a.Cluster)
}

func (e *mdlExec) releaseFinalizer(a Action) error {
	w := e.w
	if w.mig == nil {
		return nil
	}
	for hub := range w.hubs {
		for _, cs := range w.clusters {
			if mc := w.mc(hub, cs.Name); mc != nil && annotation(mc, AnnOwner) == testOwner.String() {
				return &errReplan{why: cs.Name + " still names the migration"}
			}
		}
		for _, res := range []string{"secrets", "serviceaccounts", "clusterrolebindings", "clusterroles", "klusterletconfigs", "namespaces"} {
			for _, o := range w.hubs[hub].list(res, "*") {
				if o.GetLabels()[LabelMigrationUID] == string(testOwner.UID) {
					return &errReplan{why: res + " of the migration left"}
				}
			}
		}
	}
	if a.Object.GetResourceVersion() != w.mig.GetResourceVersion() {
		return apierrors.NewConflict(mdlGR("managedclustermigrations"), a.Ref.Name, fmt.Errorf("stale"))
	}
	if w.mig.GetDeletionTimestamp() != nil {
		w.mig = nil // the last finalizer: the object goes
		w.logf("  the migration's finalizer is released: it is gone")
		return nil
	}
	out := w.mig.DeepCopy()
	out.SetFinalizers(nil)
	out.SetResourceVersion(w.nextRV())
	w.mig = out
	return nil
}

// perform runs a plan the way controller.perform does: in order; a failed
// action ends its cluster's turn, a failed action on the migration (or one
// all clusters share) ends every cluster's. At most limit actions are
// attempted (limit < 0: all): a crash after the limit-th. It returns how
// many writes were attempted and the collision met, if any.
func (w *mdlWorld) perform(f *Facts, p Plan, limit int) (int, *errCollision) {
	ex := &mdlExec{w: w, f: f}
	stopped := map[string]bool{}
	attempted := 0
	var collision *errCollision
	for _, a := range p.Actions {
		if limit >= 0 && attempted >= limit {
			w.logf("  (crash: the rest of the plan is not performed)")
			break
		}
		if stopped[a.Cluster] {
			continue
		}
		attempted++
		err := ex.execute(a)
		w.logf("  %s %s %s %s → %s", a.Kind, a.Hub, a.Ref.GVR.Resource, refName(a), mdlErrString(err))
		if err != nil {
			errors.As(err, &collision)
			if a.Cluster == "" || a.Hub == Home {
				break
			}
			stopped[a.Cluster] = true
		}
	}
	return attempted, collision
}

func mdlErrString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// --- the klusterlet agents and the hubs' controllers -----------------------

type mdlChoice struct {
	none bool
	boot mdlBoot
}

// validBoot: SPEC "Selection" — its access checks pass (the migration's
// token still valid) and the ManagedCluster on that hub is absent or
// accepted.
func (w *mdlWorld) validBoot(c string, b mdlBoot) bool {
	if mc := w.mc(b.Hub, c); mc != nil && !hubAcceptsClient(mc) {
		return false
	}
	if b.JTI != "" && !w.tokenValid(b.JTI) {
		return false
	}
	return true
}

// choose is the agent's selection at a (re)start: the bootstrap kubeconfig
// of its current hub if valid, else the first valid one in order.
func (w *mdlWorld) choose(c string) mdlChoice {
	a := w.agent(c)
	for _, b := range a.Boots {
		if b.Hub == a.CertHub && w.validBoot(c, b) {
			return mdlChoice{boot: b}
		}
	}
	for _, b := range a.Boots {
		if w.validBoot(c, b) {
			return mdlChoice{boot: b}
		}
	}
	return mdlChoice{none: true}
}

// selectHub is the registration agent (re)starting.
func (w *mdlWorld) selectHub(c string) {
	a := w.agent(c)
	ch := w.choose(c)
	if ch.none {
		if a.State != agDown {
			w.logf("  agent %s: no valid bootstrap kubeconfig: crash-loops", c)
		}
		a.State, a.CSR = agDown, ""
		return
	}
	h := ch.boot.Hub
	mc := w.mc(h, c)
	switch {
	case a.CertHub == h && mdlAccepted(mc):
		w.join(c, h)
	case ch.boot.JTI == "" && mdlAccepted(mc):
		// The hub's own bootstrap identity: its import controller approves.
		w.join(c, h)
	case ch.boot.JTI == "":
		// Its ManagedCluster is absent there: it waits, unaccepted.
		a.State, a.Hub, a.CSR = agWaiting, h, ""
		w.logf("  agent %s: back to the %s, which has no ManagedCluster for it: waits unaccepted", c, mdlHubNames[h])
	default:
		w.fileCSR(c, ch.boot)
	}
}

func (w *mdlWorld) join(c string, hub int) {
	a := w.agent(c)
	if a.State != agJoined || a.Hub != hub {
		w.logf("  agent %s joins the %s", c, mdlHubNames[hub])
	}
	a.State, a.Hub, a.CertHub, a.CSR = agJoined, hub, hub, ""
	w.renew(c)
}

// renew: the agent's lease renewal and status on the hub it is joined to.
func (w *mdlWorld) renew(c string) {
	a := w.agent(c)
	h := a.Hub
	w.setMCCondition(h, c, "ManagedClusterJoined", "True")
	w.setMCCondition(h, c, "ManagedClusterConditionAvailable", "True")
	if l := w.hubs[h].get("leases", c, mdlLease); l != nil {
		out := l.DeepCopy()
		out.SetResourceVersion(w.nextRV())
		w.hubs[h].put("leases", out)
	}
	a.LastRenew[h] = w.now
}

func (w *mdlWorld) fileCSR(c string, b mdlBoot) {
	a := w.agent(c)
	tok := w.tokens[b.JTI]
	w.csrN++
	name := fmt.Sprintf("%s-csr%d", c, w.csrN)
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelClusterName: c}},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request: w.pems[c], SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Username: w.saUser(), UID: string(tok.SAUID),
			Extra:  map[string]certificatesv1.ExtraValue{credentialIDExtra: {"JTI=" + b.JTI}},
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth},
		},
	}
	if _, err := w.create(mdlTarget, "certificatesigningrequests", toUnstructured(csr, "certificates.k8s.io/v1", "CertificateSigningRequest")); err != nil {
		panic(err)
	}
	a.State, a.Hub, a.CSR, a.Boot = agWaiting, mdlTarget, name, b
	w.logf("  agent %s files CSR %s on the target", c, name)
}

// agentTick is the registration agent doing what it does by itself: renew
// its lease, switch hubs after hubAcceptsClient=false, act on its CSR, or
// (crash-looping) restart with back-off. It reports whether it acted.
func (w *mdlWorld) agentTick(c string) bool {
	a := w.agent(c)
	switch a.State {
	case agJoined:
		mc := w.mc(a.Hub, c)
		if !mdlAccepted(mc) {
			w.logf("  agent %s: hubAcceptsClient=false (or no ManagedCluster) on the %s: re-selects", c, mdlHubNames[a.Hub])
			w.selectHub(c)
			return true
		}
		w.renew(c)
		return true
	case agWaiting:
		if a.Hub == mdlSource {
			return false
		}
		u := w.hubs[mdlTarget].get("certificatesigningrequests", "", a.CSR)
		if u == nil {
			// A deleted CSR is re-filed at once.
			if w.tokenValid(a.Boot.JTI) {
				w.fileCSR(c, a.Boot)
			} else {
				a.State = agDown
			}
			return true
		}
		csr := mdlConv[certificatesv1.CertificateSigningRequest](w, u)
		if csrRefused(csr) || csrPending(csr) {
			return false // a denied one is waited on for ever
		}
		a.CertHub = mdlTarget // issued
		if mdlAccepted(w.mc(mdlTarget, c)) {
			w.join(c, mdlTarget)
		} else {
			w.selectHub(c)
		}
		return true
	case agDown:
		before := *a
		w.selectHub(c)
		return a.State != before.State
	}
	return false
}

// restart is the klusterlet pod restarted.
func (w *mdlWorld) restart(c string) {
	w.logf("  agent %s restarts", c)
	w.selectHub(c)
}

// workAgent applies the klusterlet ManifestWork of the hub it talks to; a
// changed bootstrap configuration restarts the registration agent.
func (w *mdlWorld) workAgent(c string) bool {
	a := w.agent(c)
	h := -1
	if a.Singleton {
		if a.State == agJoined {
			h = a.Hub
		}
	} else if a.CertHub >= 0 && w.mc(a.CertHub, c) != nil {
		h = a.CertHub
	}
	if h < 0 {
		return false
	}
	wk := w.hubs[h].get("manifestworks", c, c+"-klusterlet")
	if wk == nil {
		return false
	}
	if _, g := conditionOf(wk, "Applied"); g == wk.GetGeneration() && conditionTrue(wk, "Applied") {
		return false
	}
	status, _ := mdlSetCondition(wk, "Applied", "True", wk.GetGeneration())
	w.setStatus(h, "manifestworks", wk, status)
	spec, _, _ := unstructured.NestedString(wk.Object, "spec", "bootstraps")
	boots := mdlParseBoots(spec)
	w.logf("  work agent %s applies the %s klusterlet work at generation %d (bootstraps %s)", c, mdlHubNames[h], wk.GetGeneration(), spec)
	if !slices.Equal(boots, a.Boots) {
		a.Boots = boots
		w.restart(c)
	}
	return true
}

// sourceImport is the source's import controller: it renders the cluster's
// klusterlet from its KlusterletConfig into <c>-klusterlet.
func (w *mdlWorld) sourceImport(c string) bool {
	s := w.hubs[mdlSource]
	mc := w.mc(mdlSource, c)
	wk := s.get("manifestworks", c, c+"-klusterlet")
	if mc == nil || wk == nil {
		return false
	}
	boots := []mdlBoot{{Hub: mdlSource}}
	if kc := s.get("klusterletconfigs", "", annotation(mc, AnnKlusterletConfig)); kc != nil {
		secrets, _, _ := unstructured.NestedSlice(kc.Object, "spec", "multipleHubsConfig", "bootstrapKubeConfigs", "localSecretsConfig", "kubeConfigSecrets")
		for _, sec := range secrets {
			name, _ := sec.(map[string]any)["name"].(string)
			// ACM renders nothing while a named Secret is missing or
			// unreadable (it requeues), as the simulator does.
			su := s.get("secrets", mdlSecretNS, name)
			if su == nil {
				return false
			}
			token, err := bootstrapToken(mdlConv[corev1.Secret](w, su))
			if err != nil {
				return false
			}
			claims, err := parseTokenClaims(token)
			if err != nil {
				return false
			}
			boots = append(boots, mdlBoot{Hub: mdlTarget, JTI: claims.JTI})
		}
	}
	want := mdlRender(boots)
	if got, _, _ := unstructured.NestedString(wk.Object, "spec", "bootstraps"); got == want {
		return false
	}
	out := wk.DeepCopy()
	_ = unstructured.SetNestedField(out.Object, want, "spec", "bootstraps")
	out.SetResourceVersion("")
	if _, err := w.update(mdlSource, "manifestworks", out); err != nil {
		panic(err)
	}
	w.logf("  source import controller renders %s's klusterlet: %s", c, want)
	return true
}

// targetImport is the target's import controller: once the cluster has
// joined, <c>-klusterlet with the target's own bootstrap credential.
func (w *mdlWorld) targetImport(c string) bool {
	t := w.hubs[mdlTarget]
	mc := w.mc(mdlTarget, c)
	if mc == nil || mdlTerminating(mc) || !conditionTrue(mc, "ManagedClusterJoined") {
		return false
	}
	want := mdlRender([]mdlBoot{{Hub: mdlTarget}})
	wk := t.get("manifestworks", c, c+"-klusterlet")
	if wk == nil {
		_, err := w.create(mdlTarget, "manifestworks", &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
			"metadata": map[string]any{"name": c + "-klusterlet", "namespace": c},
			"spec":     map[string]any{"bootstraps": want},
		}})
		if err == nil {
			w.logf("  target import controller creates %s-klusterlet", c)
		}
		return err == nil
	}
	if got, _, _ := unstructured.NestedString(wk.Object, "spec", "bootstraps"); got == want {
		return false
	}
	out := wk.DeepCopy()
	_ = unstructured.SetNestedField(out.Object, want, "spec", "bootstraps")
	out.SetResourceVersion("")
	_, err := w.update(mdlTarget, "manifestworks", out)
	return err == nil
}

// hubTick is a hub's registration controller for one cluster:
// HubAcceptedManagedCluster follows hubAcceptsClient; on acceptance the
// cluster namespace (labelled) and a lease of its own; Available turns
// Unknown 5 lease durations after the agent's last renewal there.
func (w *mdlWorld) hubTick(hub int, c string) bool {
	mc := w.mc(hub, c)
	if mc == nil {
		return false
	}
	acted := false
	want := "False"
	if hubAcceptsClient(mc) {
		want = "True"
	}
	if s, _ := conditionOf(mc, "HubAcceptedManagedCluster"); s != want {
		w.setMCCondition(hub, c, "HubAcceptedManagedCluster", want)
		acted = true
	}
	if hubAcceptsClient(mc) && !mdlTerminating(mc) {
		ns := w.hubs[hub].get("namespaces", "", c)
		switch {
		case ns == nil:
			o := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": c}}}
			o.SetLabels(map[string]string{LabelClusterName: c})
			if _, err := w.create(hub, "namespaces", o); err == nil {
				acted = true
			}
		case !mdlTerminating(ns) && ns.GetLabels()[LabelClusterName] != c:
			out := ns.DeepCopy()
			labels := maps.Clone(out.GetLabels())
			if labels == nil {
				labels = map[string]string{}
			}
			labels[LabelClusterName] = c
			out.SetLabels(labels)
			out.SetResourceVersion("")
			if _, err := w.update(hub, "namespaces", out); err == nil {
				acted = true
			}
		}
		if ns := w.hubs[hub].get("namespaces", "", c); ns != nil && !mdlTerminating(ns) && w.hubs[hub].get("leases", c, mdlLease) == nil {
			if _, err := w.create(hub, "leases", mdlLeaseObject(c)); err == nil {
				acted = true
			}
		}
	}
	a := w.agent(c)
	if conditionTrue(w.mc(hub, c), "ManagedClusterConditionAvailable") && !(a.State == agJoined && a.Hub == hub) &&
		!w.now.Before(a.LastRenew[hub].Add(mdlLeaseGrace)) {
		w.setMCCondition(hub, c, "ManagedClusterConditionAvailable", "Unknown")
		w.logf("  the %s's Available of %s turns Unknown (no renewal for 5 lease durations)", mdlHubNames[hub], c)
		acted = true
	}
	return acted
}

// hubFinalize: deletions whose finalizers have run — ManagedClusters go (the
// namespace and lease stay), a terminating namespace goes with its content.
func (w *mdlWorld) hubFinalize(hub int) bool {
	s := w.hubs[hub]
	acted := false
	for _, mc := range s.list("managedclusters", "*") {
		if mdlTerminating(mc) {
			s.del("managedclusters", "", mc.GetName())
			w.logf("  the %s's ManagedCluster %s is gone", mdlHubNames[hub], mc.GetName())
			acted = true
		}
	}
	for _, ns := range s.list("namespaces", "*") {
		if !mdlTerminating(ns) {
			continue
		}
		for _, m := range s {
			for k, o := range m {
				if o.GetNamespace() == ns.GetName() {
					delete(m, k)
				}
			}
		}
		s.del("namespaces", "", ns.GetName())
		w.logf("  the %s's namespace %s is gone", mdlHubNames[hub], ns.GetName())
		acted = true
	}
	return acted
}

// addonController is the target's klusterlet-addon-controller: the enabled
// addons of a cluster whose KlusterletAddonConfig exists.
func (w *mdlWorld) addonController(c string) bool {
	t := w.hubs[mdlTarget]
	if t.get("klusterletaddonconfigs", c, c) == nil {
		return false
	}
	acted := false
	for _, a := range w.hubs[mdlSource].list("managedclusteraddons", c) {
		if t.get("managedclusteraddons", c, a.GetName()) != nil {
			continue
		}
		if _, err := w.create(mdlTarget, "managedclusteraddons", &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "addon.open-cluster-management.io/v1alpha1", "kind": "ManagedClusterAddOn",
			"metadata": map[string]any{"name": a.GetName(), "namespace": c},
			"spec":     map[string]any{"installNamespace": "open-cluster-management-agent-addon"},
		}}); err == nil {
			w.logf("  the target's addon controller creates %s/%s", c, a.GetName())
			acted = true
		}
	}
	return acted
}

// pendingCSR is a pending CSR of the cluster on the target ("" none).
func (w *mdlWorld) pendingCSR(c string) *certificatesv1.CertificateSigningRequest {
	for _, u := range w.hubs[mdlTarget].list("certificatesigningrequests", "*") {
		if u.GetLabels()[LabelClusterName] != c {
			continue
		}
		if csr := mdlConv[certificatesv1.CertificateSigningRequest](w, u); csrPending(csr) {
			return csr
		}
	}
	return nil
}

// --- snapshots for stale caches -------------------------------------------

type mdlSnapshot struct {
	hubs [2]mdlStore
	mig  *unstructured.Unstructured
}

func (w *mdlWorld) snapshot() mdlSnapshot {
	return mdlSnapshot{hubs: [2]mdlStore{w.hubs[0].clone(), w.hubs[1].clone()}, mig: w.mig}
}

// mdlCachedResources are the informers of a hub, each of which may lag.
var mdlCachedResources = []string{"managedclusters", "manifestworks", "klusterletconfigs", "secrets", "serviceaccounts",
	"clusterrolebindings", "clusterroles", "namespaces", "leases", "certificatesigningrequests", "klusterletaddonconfigs",
	"managedclusteraddons", "configmaps"}
