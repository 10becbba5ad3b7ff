package baseline

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"

	"github.com/hubmigrate/hubmigrate/reconcile"
)

// clusterRun is one cluster's way through the protocol. What hubmigrate
// keeps in markers on the objects, the baseline keeps here, in memory: a
// crash loses it, which is exactly what the baseline does not pay for.
type clusterRun struct {
	run         *run
	name        string
	scaffolding string // hubmigrate-<cluster>-<uid8>

	anchor         *corev1.Secret
	bootstrapUID   types.UID // the bootstrap Secret and KlusterletConfig on the source
	configUID      types.UID
	jti            string // of the cluster's token: its CSRs must carry it
	original       string // the klusterlet-config annotation before the run
	workGeneration int64  // of the source klusterlet work when it was re-pointed
	moved          movedObjects
	leaseRV        string // the target lease and klusterlet work at the approval:
	workRV         string // "registered" needs both changed since
	cn             string // of the approved CSR
	approved       map[string]bool
}

// movedObjects are what moves with the cluster besides its ManagedCluster.
type movedObjects struct {
	kac        *unstructured.Unstructured
	addons     []unstructured.Unstructured
	secrets    []corev1.Secret
	configMaps []corev1.ConfigMap
}

// migrate runs one cluster's steps in SPEC's order and says how long each
// took. It stops at the first error, where it is: no rollback.
func (r *run) migrate(ctx context.Context, cluster string) ([]Step, error) {
	ctx = forCluster(ctx, cluster)
	m := &clusterRun{run: r, name: cluster, scaffolding: reconcile.ScaffoldingName(cluster, r.uid), approved: map[string]bool{}}
	var steps []Step
	for _, s := range []struct {
		name string
		do   func(context.Context) error
	}{
		{"Initializing: anchor and token", m.mintToken},
		{"Initializing: configure the klusterlet", m.configureKlusterlet},
		{"Initializing: wait for the klusterlet", m.waitKlusterletConfigured},
		{"Deploying: copies", m.deploy},
		{"Registering: unaccept the source", m.unacceptSource},
		{"Registering: approve the CSR", m.approveCSR},
		{"Registering: wait until registered", m.waitRegistered},
		{"Cleaning", m.clean},
	} {
		began := time.Now()
		err := s.do(ctx)
		steps = append(steps, Step{Name: s.name, Took: time.Since(began)})
		if err != nil {
			return steps, fmt.Errorf("%s: %s: %w", cluster, s.name, err)
		}
	}
	return steps, nil
}

// mintToken makes the cluster's anchor Secret on the target and one token
// bound to it: deleting the anchor revokes the token.
func (m *clusterRun) mintToken(ctx context.Context) error {
	r := m.run
	anchor, err := r.target.kube.CoreV1().Secrets(r.opts.BootstrapNamespace).Create(ctx, r.anchorSecret(m.scaffolding), metav1.CreateOptions{})
	if err != nil {
		return err
	}
	m.anchor = anchor
	tr, err := r.target.kube.CoreV1().ServiceAccounts(r.opts.BootstrapNamespace).CreateToken(ctx, r.id.name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To(int64(r.opts.TokenLifetime.Seconds())),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: anchor.Name, UID: anchor.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	if m.jti, err = tokenID(tr.Status.Token); err != nil {
		return err
	}
	secret, err := r.bootstrapSecret(m.scaffolding, tr.Status.Token)
	if err != nil {
		return err
	}
	// The bootstrap kubeconfig goes to the source with the token, as
	// hubmigrate's MintToken does.
	created, err := r.source.kube.CoreV1().Secrets(r.opts.BootstrapSecretNamespace).Create(ctx, secret, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	m.bootstrapUID = created.UID
	return nil
}

// configureKlusterlet makes the cluster's KlusterletConfig on the source and
// points the cluster at it, noting the klusterlet work's generation first.
func (m *clusterRun) configureKlusterlet(ctx context.Context) error {
	r := m.run
	mcs := r.source.dyn.Resource(reconcile.ManagedClusterGVR)
	src, err := mcs.Get(ctx, m.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	m.original = src.GetAnnotations()[reconcile.AnnKlusterletConfig]
	var named *unstructured.Unstructured
	if m.original != "" {
		named, err = r.source.dyn.Resource(reconcile.KlusterletConfigGVR).Get(ctx, m.original, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			named, err = nil, nil
		}
		if err != nil {
			return err
		}
	}
	kc, err := r.source.dyn.Resource(reconcile.KlusterletConfigGVR).Create(ctx, r.klusterletConfig(m.scaffolding, named), metav1.CreateOptions{})
	if err != nil {
		return err
	}
	m.configUID = kc.GetUID()
	work, err := r.source.dyn.Resource(reconcile.ManifestWorkGVR).Namespace(m.name).Get(ctx, klusterletWork(m.name), metav1.GetOptions{})
	switch {
	case err == nil:
		m.workGeneration = work.GetGeneration()
	case !apierrors.IsNotFound(err):
		return err
	}
	// A merge patch: one write whatever the hub and the agent wrote to the
	// ManagedCluster meanwhile (an update would meet their 409s).
	return patch(ctx, mcs, m.name, map[string]any{"metadata": map[string]any{
		"annotations": map[string]any{reconcile.AnnKlusterletConfig: m.scaffolding}}})
}

// waitKlusterletConfigured is Initializing's gate: the source's klusterlet
// work Applied at a newer generation — the klusterlet has the configuration
// that names the target.
func (m *clusterRun) waitKlusterletConfigured(ctx context.Context) error {
	w := m.run.watch
	return w.until(ctx, m.name, fmt.Sprintf("the source klusterlet work applied at a generation above %d", m.workGeneration), m.run.opts.Timeout, func() (bool, error) {
		work, err := w.source.works.ByNamespace(m.name).Get(klusterletWork(m.name))
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		status, generation := conditionOf(work.(*unstructured.Unstructured), "Applied")
		return status == "True" && generation > m.workGeneration, nil
	})
}

// deploy makes the copies on the target in SPEC's order: the namespace if
// missing, the ManagedCluster (accepted), the KlusterletAddonConfig, the
// addons, the preserved Secrets and ConfigMaps.
func (m *clusterRun) deploy(ctx context.Context) error {
	r := m.run
	src, err := r.source.dyn.Resource(reconcile.ManagedClusterGVR).Get(ctx, m.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if m.moved, err = m.readMoved(ctx); err != nil {
		return err
	}
	namespaces := r.target.kube.CoreV1().Namespaces()
	if _, err := namespaces.Get(ctx, m.name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if _, err := namespaces.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: m.name}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	} else if err != nil {
		return err
	}
	targetHasConfig := false
	if m.original != "" {
		_, err := r.target.dyn.Resource(reconcile.KlusterletConfigGVR).Get(ctx, m.original, metav1.GetOptions{})
		targetHasConfig = err == nil
	}
	if _, err := r.target.dyn.Resource(reconcile.ManagedClusterGVR).Create(ctx, managedClusterCopy(src, m.original, targetHasConfig), metav1.CreateOptions{}); err != nil {
		return err
	}
	if m.moved.kac != nil {
		if _, err := r.target.dyn.Resource(reconcile.KlusterletAddonConfigGVR).Namespace(m.name).Create(ctx, specCopy(m.moved.kac), metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	for i := range m.moved.addons {
		if err := m.copyAddon(ctx, &m.moved.addons[i]); err != nil {
			return err
		}
	}
	for i := range m.moved.secrets {
		if _, err := r.target.kube.CoreV1().Secrets(m.name).Create(ctx, secretCopy(&m.moved.secrets[i]), metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	for i := range m.moved.configMaps {
		if _, err := r.target.kube.CoreV1().ConfigMaps(m.name).Create(ctx, configMapCopy(&m.moved.configMaps[i]), metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// readMoved lists what moves with the cluster, on the source.
func (m *clusterRun) readMoved(ctx context.Context) (movedObjects, error) {
	r := m.run
	var moved movedObjects
	kac, err := r.source.dyn.Resource(reconcile.KlusterletAddonConfigGVR).Namespace(m.name).Get(ctx, m.name, metav1.GetOptions{})
	switch {
	case err == nil:
		moved.kac = kac
	case !apierrors.IsNotFound(err):
		return moved, err
	}
	addons, err := r.source.dyn.Resource(reconcile.ManagedClusterAddOnGVR).Namespace(m.name).List(ctx, metav1.ListOptions{})
	if err != nil {
		return moved, err
	}
	moved.addons = addons.Items
	preserved := metav1.ListOptions{LabelSelector: reconcile.LabelPreserve}
	secrets, err := r.source.kube.CoreV1().Secrets(m.name).List(ctx, preserved)
	if err != nil {
		return moved, err
	}
	moved.secrets = secrets.Items
	configMaps, err := r.source.kube.CoreV1().ConfigMaps(m.name).List(ctx, preserved)
	if err != nil {
		return moved, err
	}
	moved.configMaps = configMaps.Items
	return moved, nil
}

// copyAddon copies an addon; one the target's klusterlet-addon-controller
// already made from the KlusterletAddonConfig copy is adopted, its spec set
// to the source's — a write only where the two differ.
func (m *clusterRun) copyAddon(ctx context.Context, src *unstructured.Unstructured) error {
	addons := m.run.target.dyn.Resource(reconcile.ManagedClusterAddOnGVR).Namespace(m.name)
	desired := specCopy(src)
	existing, err := addons.Get(ctx, src.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = addons.Create(ctx, desired, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		existing, err = addons.Get(ctx, src.GetName(), metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	if reflect.DeepEqual(existing.Object["spec"], desired.Object["spec"]) {
		return nil
	}
	existing.Object["spec"] = desired.Object["spec"]
	_, err = addons.Update(ctx, existing, metav1.UpdateOptions{})
	return err
}

// unacceptSource sets hubAcceptsClient=false on the source: the agent
// re-selects and finds the target's bootstrap kubeconfig valid.
func (m *clusterRun) unacceptSource(ctx context.Context) error {
	return patch(ctx, m.run.source.dyn.Resource(reconcile.ManagedClusterGVR), m.name,
		map[string]any{"spec": map[string]any{"hubAcceptsClient": false}})
}

// approveCSR waits for the agent's CSR on the target and approves it, having
// read the target lease's and klusterlet work's resourceVersions first:
// "registered" needs both to change after the approval.
func (m *clusterRun) approveCSR(ctx context.Context) error {
	r, w := m.run, m.run.watch
	var csr *certificatesv1.CertificateSigningRequest
	err := w.until(ctx, m.name, "the agent's CSR on the target", r.opts.Timeout, func() (bool, error) {
		for _, c := range w.csrsOf(m.name) {
			if pending(c) && m.agentCSR(c) {
				csr = c
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	m.leaseRV, m.workRV = "absent", "absent"
	if lease, err := r.target.kube.CoordinationV1().Leases(m.name).Get(ctx, leaseName, metav1.GetOptions{}); err == nil {
		m.leaseRV = lease.ResourceVersion
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	if work, err := r.target.dyn.Resource(reconcile.ManifestWorkGVR).Namespace(m.name).Get(ctx, klusterletWork(m.name), metav1.GetOptions{}); err == nil {
		m.workRV = work.GetResourceVersion()
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	if m.cn, _, err = subjectOf(csr); err != nil {
		return err
	}
	m.approved[csr.Name] = true
	return m.decide(ctx, csr, true)
}

// waitRegistered waits until the cluster is registered on the target:
// HubAccepted, Joined and Available True, its lease renewed and the target's
// klusterlet work (made by the target's import controller) replaced and
// applied — the agent then uses the target's own credential. An agent that
// restarted before using its certificate files again with the same CN; that
// CSR is approved too, as hubmigrate does (no write when it does not happen).
func (m *clusterRun) waitRegistered(ctx context.Context) error {
	w := m.run.watch
	return w.until(ctx, m.name, "registered on the target", m.run.opts.Timeout, func() (bool, error) {
		for _, c := range w.csrsOf(m.name) {
			if cn, _, err := subjectOf(c); err == nil && cn == m.cn && !m.approved[c.Name] && pending(c) && m.agentCSR(c) {
				m.approved[c.Name] = true
				if err := m.decide(ctx, c, true); err != nil {
					return false, err
				}
			}
		}
		obj, err := w.target.mcs.Get(m.name)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		mc := obj.(*unstructured.Unstructured)
		for _, cond := range []string{"HubAcceptedManagedCluster", "ManagedClusterJoined", "ManagedClusterConditionAvailable"} {
			if status, _ := conditionOf(mc, cond); status != "True" {
				return false, nil
			}
		}
		if lease := w.targetLease(m.name); lease == nil || lease.ResourceVersion == m.leaseRV {
			return false, nil
		}
		obj, err = w.target.works.ByNamespace(m.name).Get(klusterletWork(m.name))
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		work := obj.(*unstructured.Unstructured)
		status, generation := conditionOf(work, "Applied")
		return work.GetResourceVersion() != m.workRV && status == "True" && generation == work.GetGeneration(), nil
	})
}

// clean removes the cluster from the source and the run's scaffolding, in
// SPEC's order: the moved resources (each once a live read shows its copy),
// the ManagedCluster (unaccepted, re-read live), then — once it is gone — the
// anchor (revoking the token), any CSR of the run's credential still pending,
// the bootstrap Secret and the KlusterletConfig.
func (m *clusterRun) clean(ctx context.Context) error {
	r := m.run
	type moved struct {
		source, target dynamic.ResourceInterface
		name           string
		uid            types.UID
	}
	var objs []moved
	in := func(d dynamic.Interface, gvr schema.GroupVersionResource) dynamic.ResourceInterface {
		return d.Resource(gvr).Namespace(m.name)
	}
	if kac := m.moved.kac; kac != nil {
		objs = append(objs, moved{in(r.source.dyn, reconcile.KlusterletAddonConfigGVR), in(r.target.dyn, reconcile.KlusterletAddonConfigGVR), kac.GetName(), kac.GetUID()})
	}
	for _, a := range m.moved.addons {
		objs = append(objs, moved{in(r.source.dyn, reconcile.ManagedClusterAddOnGVR), in(r.target.dyn, reconcile.ManagedClusterAddOnGVR), a.GetName(), a.GetUID()})
	}
	for _, s := range m.moved.secrets {
		objs = append(objs, moved{in(r.source.dyn, reconcile.SecretGVR), in(r.target.dyn, reconcile.SecretGVR), s.Name, s.UID})
	}
	for _, c := range m.moved.configMaps {
		objs = append(objs, moved{in(r.source.dyn, reconcile.ConfigMapGVR), in(r.target.dyn, reconcile.ConfigMapGVR), c.Name, c.UID})
	}
	for _, o := range objs {
		if _, err := o.target.Get(ctx, o.name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("the copy of %s: %w", o.name, err)
		}
		if err := deleteUID(ctx, o.source, o.name, o.uid); err != nil {
			return err
		}
	}

	mcs := r.source.dyn.Resource(reconcile.ManagedClusterGVR)
	src, err := mcs.Get(ctx, m.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if accepted, _, _ := unstructured.NestedBool(src.Object, "spec", "hubAcceptsClient"); accepted {
		return fmt.Errorf("the source ManagedCluster was accepted again: not deleting it")
	}
	if err := deleteUID(ctx, mcs, m.name, src.GetUID()); err != nil {
		return err
	}
	w := m.run.watch
	if err := w.until(ctx, m.name, "the source ManagedCluster gone", r.opts.Timeout, func() (bool, error) {
		_, err := w.source.mcs.Get(m.name)
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		return err
	}

	anchors := r.target.dyn.Resource(reconcile.SecretGVR).Namespace(r.opts.BootstrapNamespace)
	if err := deleteUID(ctx, anchors, m.anchor.Name, m.anchor.UID); err != nil {
		return err
	}
	// (The cache may still show a CSR the baseline approved as pending.)
	for _, c := range w.csrsOf(m.name) {
		if pending(c) && !m.approved[c.Name] && c.Spec.Username == r.id.user(r.opts.BootstrapNamespace) {
			if err := m.decide(ctx, c, false); err != nil {
				return err
			}
		}
	}
	if err := deleteUID(ctx, r.source.dyn.Resource(reconcile.SecretGVR).Namespace(r.opts.BootstrapSecretNamespace), m.scaffolding, m.bootstrapUID); err != nil {
		return err
	}
	return deleteUID(ctx, r.source.dyn.Resource(reconcile.KlusterletConfigGVR), m.scaffolding, m.configUID)
}

// deleteUID deletes an object — only the one with uid, when given (the one
// read or made); gone is done.
func deleteUID(ctx context.Context, ri dynamic.ResourceInterface, name string, uid types.UID) error {
	opts := metav1.DeleteOptions{}
	if uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: ptr.To(uid)}
	}
	err := ri.Delete(ctx, name, opts)
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// patch writes a JSON merge patch.
func patch(ctx context.Context, ri dynamic.ResourceInterface, name string, p map[string]any) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = ri.Patch(ctx, name, types.MergePatchType, data, metav1.PatchOptions{})
	return err
}

func klusterletWork(cluster string) string { return cluster + "-klusterlet" }

// conditionOf is a status condition's status and observed generation.
func conditionOf(obj *unstructured.Unstructured, condType string) (string, int64) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		cm, _ := c.(map[string]any)
		if cm["type"] == condType {
			status, _ := cm["status"].(string)
			generation, _ := cm["observedGeneration"].(int64)
			return status, generation
		}
	}
	return "", 0
}
