package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/hubmigrate/hubmigrate/informers"
)

// executor performs a plan's actions on the hubs. Each action kind is one
// small idempotent function; those that cannot be undone re-read what they
// depend on from the API server first (SPEC rule 5).
type executor struct {
	source, target *informers.Hub
	home           dynamic.Interface
	facts          *Facts
	// seals seals every object written with markers and checks the
	// markers of every object read live before acting on their word.
	seals *Sealer
}

// sealed is obj, sealed as an object of gvr, ready to be written.
func (e *executor) sealed(gvr schemaGVR, obj *unstructured.Unstructured) *unstructured.Unstructured {
	out := obj.DeepCopy()
	e.seals.Seal(gvr.Resource, out)
	return out
}

// oursLive: obj, read live, carries this migration's owner under a seal
// that verifies.
func (e *executor) oursLive(gvr schemaGVR, obj metav1.Object) bool {
	return obj.GetAnnotations()[AnnOwner] == e.facts.Migration.Owner.String() && e.seals.Verify(gvr.Resource, obj) == nil
}

// errReplan: the world moved under the plan (a 409, or a live re-read that
// disagrees with the cache); observe again and plan again.
type errReplan struct{ why string }

func (e *errReplan) Error() string { return "re-plan: " + e.why }

// IsReplan reports whether err asks for a new plan rather than a back-off.
func IsReplan(err error) bool {
	var r *errReplan
	return errors.As(err, &r)
}

// errCollision: an object not made by this migration stands at the name of
// a cluster's Secret or ConfigMap (a copy or scaffolding) on a hub, unseen by
// the caches (they hold only labelled Secrets and ConfigMaps). It is a fact for the planner: the
// cluster fails with CopyCollision instead of retrying for ever.
type errCollision struct {
	Cluster string
	Ref     Ref
}

func (e *errCollision) Error() string { return e.Ref.String() + " exists and is not this migration's" }

func (e *executor) hub(role HubRole) *informers.Hub {
	if role == Source {
		return e.source
	}
	return e.target
}

func resource(d dynamic.Interface, r Ref) dynamic.ResourceInterface {
	if r.Namespace != "" {
		return d.Resource(r.GVR).Namespace(r.Namespace)
	}
	return d.Resource(r.GVR)
}

func (e *executor) execute(ctx context.Context, a Action) error {
	logger := klog.FromContext(ctx).WithValues("cluster", a.Cluster, "hub", a.Hub, "object", a.Ref.String())
	logger.V(2).Info("acting", "kind", a.Kind, "why", a.Why)
	if a.Kind == ReleaseFinalizer {
		return e.releaseFinalizer(ctx, a)
	}
	if a.Hub == Home {
		_, err := e.home.Resource(a.Ref.GVR).Namespace(a.Ref.Namespace).Update(ctx, a.Object, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			return &errReplan{why: a.String() + ": " + err.Error()}
		}
		return err
	}
	h := e.hub(a.Hub)
	if h == nil {
		return fmt.Errorf("%s hub not available", a.Hub)
	}
	var err error
	switch a.Kind {
	case Create:
		err = e.create(ctx, h, a)
	case Update:
		_, err = resource(h.Dynamic, a.Ref).Update(ctx, e.sealed(a.Ref.GVR, a.Object), metav1.UpdateOptions{})
	case Delete:
		err = e.delete(ctx, h, a.Ref)
	case MintToken:
		err = e.mintToken(ctx, a)
	case UseKlusterletConfig:
		err = e.useKlusterletConfig(ctx, a)
	case Commit:
		err = e.commit(ctx, a)
	case Approve:
		err = e.approve(ctx, a)
	case Deny:
		err = e.deny(ctx, a)
	case DeleteSourceCluster:
		err = e.deleteSourceCluster(ctx, a)
	case DeleteMigratedSource:
		err = e.deleteMigratedSource(ctx, a)
	case Restore:
		err = e.restore(ctx, a)
	case DeleteTargetCluster:
		err = e.unacceptAndDelete(ctx, e.target, a.Ref)
	case DecideRollback:
		err = e.decideRollback(ctx, a)
	case BeginRegistering:
		err = e.beginRegistering(ctx, a)
	case RevokeToken:
		err = e.revokeToken(ctx, a)
	default:
		err = fmt.Errorf("unknown action %s", a.Kind)
	}
	if apierrors.IsConflict(err) {
		return &errReplan{why: a.String() + ": " + err.Error()}
	}
	if apierrors.IsForbidden(err) {
		err = confirmDenied(ctx, e.hub, a, err, e.facts.BootstrapNamespace)
		if denied, ok := err.(*errDenied); ok {
			logger.Info("forbidden by RBAC, confirmed by a SelfSubjectAccessReview", "kind", a.Kind, "denial", denied.Denial)
			return denied
		}
	}
	var collision *errCollision
	if errors.As(err, &collision) {
		logger.Info("an object not made by this migration stands at a name it needs", "object", collision.Ref.String())
		return collision
	}
	if err != nil {
		return fmt.Errorf("%s: %w", a, err)
	}
	logger.Info("done", "kind", a.Kind, "why", a.Why)
	return nil
}

// create treats AlreadyExists with our migration UID, sealed, as done.
func (e *executor) create(ctx context.Context, h *informers.Hub, a Action) error {
	ri := resource(h.Dynamic, a.Ref)
	obj := a.Object.DeepCopy()
	obj.SetNamespace(a.Ref.Namespace) // where it is made is what the seal vouches for
	_, err := ri.Create(ctx, e.sealed(a.Ref.GVR, obj), metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	existing, getErr := ri.Get(ctx, a.Ref.Name, metav1.GetOptions{})
	if getErr != nil {
		return getErr
	}
	if claimsToBeOf(existing, e.facts.Migration.Owner) && e.seals.Verify(a.Ref.GVR.Resource, existing) == nil {
		return nil
	}
	if a.Cluster != "" && (a.Ref.GVR == SecretGVR || a.Ref.GVR == ConfigMapGVR) {
		// The caches hold only labelled Secrets and ConfigMaps: this one
		// the planner cannot see, so it is told.
		return &errCollision{Cluster: a.Cluster, Ref: a.Ref}
	}
	// A kind the caches hold: the next plan sees the object and decides
	// (an addon the target's addon controller made meanwhile is adopted;
	// anything else is Deploying's collision).
	return &errReplan{why: a.Ref.String() + " exists and is not this migration's"}
}

// delete carries a UID precondition; NotFound is done.
func (e *executor) delete(ctx context.Context, h *informers.Hub, r Ref) error {
	opts := metav1.DeleteOptions{}
	if r.UID != "" {
		opts.Preconditions = &metav1.Preconditions{UID: ptr.To(r.UID)}
	}
	err := resource(h.Dynamic, r).Delete(ctx, r.Name, opts)
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// deleteAsRead deletes r only as it was read live: UID and resourceVersion
// preconditions (a 409 re-plans); NotFound is done.
func (e *executor) deleteAsRead(ctx context.Context, h *informers.Hub, r Ref) error {
	err := resource(h.Dynamic, r).Delete(ctx, r.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr.To(r.UID), ResourceVersion: ptr.To(r.ResourceVersion)}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// MaxStageTimeout is the longest stageTimeout (the CRD refuses more): it
// bounds the life of every bootstrap token.
const MaxStageTimeout = 2 * time.Hour

// tokenLifetime covers Initializing, Deploying and Registering plus a margin,
// never below the API's 10-minute minimum nor above three of the longest
// stages (a migration that slipped past the CRD's cap gets no longer token).
func (e *executor) tokenLifetime() time.Duration {
	stage := min(e.facts.Migration.StageTimeout, MaxStageTimeout)
	d := 5*time.Minute + 5*time.Minute + 12*time.Minute
	if stage > 0 {
		d = 3 * stage
	}
	return max(d+10*time.Minute, 10*time.Minute)
}

// mintToken requests the cluster's token, bound to its anchor Secret, and
// writes the bootstrap kubeconfig Secret on the source. A token whose reply is
// lost is still bound to the anchor, so deleting the anchor revokes it too.
func (e *executor) mintToken(ctx context.Context, a Action) error {
	f := e.facts
	// One token per cluster: the cache may not show yet the bootstrap
	// Secret a previous MintToken wrote, so the Secret is read live first
	// (a token minted again would be bound to the anchor and revoked with
	// it, but it is a step done twice).
	existing, err := e.source.Kube.CoreV1().Secrets(a.Object.GetNamespace()).Get(ctx, a.Object.GetName(), metav1.GetOptions{})
	switch {
	case err == nil && existing.Labels[LabelMigrationUID] == string(f.Migration.Owner.UID) && e.seals.Verify(SecretGVR.Resource, existing) == nil:
		return nil
	case err == nil:
		return &errCollision{Cluster: a.Cluster, Ref: Ref{GVR: SecretGVR, Namespace: existing.Namespace, Name: existing.Name}}
	case !apierrors.IsNotFound(err):
		return err
	}
	tr, err := e.target.Kube.CoreV1().ServiceAccounts(f.BootstrapNamespace).CreateToken(ctx, ServiceAccountName(f.Migration.Owner.UID), &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To(int64(e.tokenLifetime().Seconds())),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: a.Ref.Name, UID: a.Ref.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["hub"] = &clientcmdapi.Cluster{Server: f.Target.RegistrationAddress, CertificateAuthorityData: f.Target.RegistrationCA}
	kc.AuthInfos["bootstrap"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["bootstrap"] = &clientcmdapi.Context{Cluster: "hub", AuthInfo: "bootstrap"}
	kc.CurrentContext = "bootstrap"
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return err
	}
	secret := a.Object.DeepCopy()
	secret.Object["type"] = string(corev1.SecretTypeOpaque)
	secret.Object["data"] = map[string]any{"kubeconfig": encodeBytes(data)}
	return e.create(ctx, e.source, Action{Ref: Ref{GVR: SecretGVR, Namespace: secret.GetNamespace(), Name: secret.GetName()}, Object: secret})
}

// useKlusterletConfig records, read live, the generation of the cluster's
// klusterlet work in the same write that points it at the new configuration.
func (e *executor) useKlusterletConfig(ctx context.Context, a Action) error {
	generation := int64(0)
	work, err := e.source.Dynamic.Resource(ManifestWorkGVR).Namespace(a.Cluster).Get(ctx, a.Cluster+"-klusterlet", metav1.GetOptions{})
	switch {
	case err == nil:
		generation = work.GetGeneration()
	case !apierrors.IsNotFound(err):
		return err
	}
	obj, _ := withMarkers(a.Object, nil, map[string]string{AnnKlusterletWorkGeneration: fmt.Sprint(generation)}, nil, nil)
	_, err = e.source.Dynamic.Resource(ManagedClusterGVR).Update(ctx, e.sealed(ManagedClusterGVR, obj), metav1.UpdateOptions{})
	return err
}

// liveCSR reads a CSR from the API server and checks it is still the one planned.
func (e *executor) liveCSR(ctx context.Context, r Ref) (*certificatesv1.CertificateSigningRequest, error) {
	csr, err := e.target.Kube.CertificatesV1().CertificateSigningRequests().Get(ctx, r.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if csr.UID != r.UID {
		return nil, &errReplan{why: "CSR " + r.Name + " was replaced"}
	}
	return csr, nil
}

// commit writes the commit point on the source ManagedCluster, after checking
// the CSR again on a live read and reading the baselines of "registered".
func (e *executor) commit(ctx context.Context, a Action) error {
	csr, err := e.liveCSR(ctx, a.Ref)
	if err != nil {
		return err
	}
	cred, err := e.liveCredential(ctx, a.Cluster)
	if err != nil {
		return err
	}
	if csrRefused(csr) || checkRegistrationCSR(csr, cred) != nil {
		return &errReplan{why: "CSR " + csr.Name + " no longer passes the checks"}
	}
	leaseRV, workRV := "absent", "absent"
	if lease, err := e.target.Kube.CoordinationV1().Leases(a.Cluster).Get(ctx, "managed-cluster-lease", metav1.GetOptions{}); err == nil {
		leaseRV = lease.ResourceVersion
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	// A CSR approved by someone else before this commit: its agent may
	// have joined the target already, and the target's import controller
	// re-rendered the klusterlet work, which then never changes again. Any
	// work applied there counts (only the agent's work agent applies it);
	// the lease renewed since the commit still proves the agent.
	if work, err := e.target.Dynamic.Resource(ManifestWorkGVR).Namespace(a.Cluster).Get(ctx, a.Cluster+"-klusterlet", metav1.GetOptions{}); err == nil {
		if csrPending(csr) {
			workRV = work.GetResourceVersion()
		}
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	obj, _ := withMarkers(a.Object, nil, map[string]string{AnnCommitLeaseRV: leaseRV, AnnCommitWorkRV: workRV}, nil, nil)
	_, err = e.source.Dynamic.Resource(ManagedClusterGVR).Update(ctx, e.sealed(ManagedClusterGVR, obj), metav1.UpdateOptions{})
	return err
}

// approve approves a CSR of a committed cluster: the commit marker and the
// CSR are both re-read live, and a cluster whose rollback was written is
// never approved.
func (e *executor) approve(ctx context.Context, a Action) error {
	src, err := e.source.Dynamic.Resource(ManagedClusterGVR).Get(ctx, a.Cluster, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if !hasAnnotation(src, AnnCommitted) || decided(src) != "" || !e.oursLive(ManagedClusterGVR, src) {
		return &errReplan{why: a.Cluster + " is not committed by this migration"}
	}
	csr, err := e.liveCSR(ctx, a.Ref)
	if err != nil {
		return err
	}
	if !csrPending(csr) {
		return nil
	}
	cred, err := e.liveCredential(ctx, a.Cluster)
	if err != nil {
		return err
	}
	if checkRegistrationCSR(csr, cred) != nil {
		return &errReplan{why: "CSR " + csr.Name + " no longer passes the checks"}
	}
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "HubmigrateApproved",
		Message: "approved by hubmigrate for migration " + string(e.facts.Migration.Owner.UID),
	})
	_, err = e.target.Kube.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{})
	return err
}

// deny denies a still-pending CSR of the migration's credential.
func (e *executor) deny(ctx context.Context, a Action) error {
	csr, err := e.liveCSR(ctx, a.Ref)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !csrPending(csr) {
		return nil
	}
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "HubmigrateDenied",
		Message: "denied by hubmigrate: migration " + string(e.facts.Migration.Owner.UID) + " no longer registers this cluster with this credential",
	})
	_, err = e.target.Kube.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{})
	return err
}

// deleteSourceCluster deletes the source ManagedCluster once a live read shows
// it unaccepted and the target's copy registered and speaking for it.
func (e *executor) deleteSourceCluster(ctx context.Context, a Action) error {
	tgt, err := e.target.Dynamic.Resource(ManagedClusterGVR).Get(ctx, a.Cluster, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if !e.oursLive(ManagedClusterGVR, tgt) || !conditionTrue(tgt, "ManagedClusterJoined") ||
		!conditionTrue(tgt, "ManagedClusterConditionAvailable") || !hubAcceptsClient(tgt) {
		return &errReplan{why: a.Cluster + " is not registered on the target"}
	}
	src, err := e.source.Dynamic.Resource(ManagedClusterGVR).Get(ctx, a.Cluster, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if src.GetUID() != a.Ref.UID {
		return &errReplan{why: "the source ManagedCluster was replaced"}
	}
	if !e.oursLive(ManagedClusterGVR, src) {
		return &errReplan{why: "the source ManagedCluster's markers are not this migration's sealed ones"}
	}
	if hubAcceptsClient(src) {
		_ = unstructured.SetNestedField(src.Object, false, "spec", "hubAcceptsClient")
		if _, err := e.source.Dynamic.Resource(ManagedClusterGVR).Update(ctx, src, metav1.UpdateOptions{}); err != nil {
			return err
		}
		return &errReplan{why: "unaccepted the source before deleting it"}
	}
	// The delete is fenced by what the live read saw: a write since then
	// (someone accepting it again) is a 409, and the world is looked at anew.
	live := a.Ref
	live.ResourceVersion = src.GetResourceVersion()
	return e.deleteAsRead(ctx, e.source, live)
}

// deleteMigratedSource deletes a source resource once a live read shows its
// copy on the target.
func (e *executor) deleteMigratedSource(ctx context.Context, a Action) error {
	copyRef := a.Ref
	copyRef.UID = ""
	if _, err := resource(e.target.Dynamic, copyRef).Get(ctx, a.Ref.Name, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return &errReplan{why: "the copy of " + a.Ref.String() + " is not on the target"}
		}
		return err
	}
	return e.delete(ctx, e.source, a.Ref)
}

func (e *executor) cluster(name string) *ClusterFacts {
	for i := range e.facts.Clusters {
		if e.facts.Clusters[i].Name == name {
			return &e.facts.Clusters[i]
		}
	}
	return &ClusterFacts{Name: name}
}

// restore writes the source's originals with the source lease's
// resourceVersion, read live: the agent's next renewal proves its return.
func (e *executor) restore(ctx context.Context, a Action) error {
	leaseRV := "absent"
	if lease, err := e.source.Kube.CoordinationV1().Leases(a.Cluster).Get(ctx, "managed-cluster-lease", metav1.GetOptions{}); err == nil {
		leaseRV = lease.ResourceVersion
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	obj, _ := withMarkers(a.Object, nil, map[string]string{AnnRestoreLeaseRV: leaseRV}, nil, nil)
	_, err := e.source.Dynamic.Resource(ManagedClusterGVR).Update(ctx, e.sealed(ManagedClusterGVR, obj), metav1.UpdateOptions{})
	return err
}

// unacceptAndDelete deletes a ManagedCluster the way SPEC asks on either hub:
// set hubAcceptsClient=false, re-read live, then delete with a UID
// precondition — and only if it is still the one planned and still carries
// this migration's sealed markers.
func (e *executor) unacceptAndDelete(ctx context.Context, h *informers.Hub, r Ref) error {
	mcs := h.Dynamic.Resource(ManagedClusterGVR)
	mc, err := mcs.Get(ctx, r.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if mc.GetUID() != r.UID || !e.oursLive(ManagedClusterGVR, mc) {
		return &errReplan{why: "ManagedCluster " + r.Name + " is not the one planned"}
	}
	if hubAcceptsClient(mc) {
		_ = unstructured.SetNestedField(mc.Object, false, "spec", "hubAcceptsClient")
		if _, err := mcs.Update(ctx, mc, metav1.UpdateOptions{}); err != nil {
			return err
		}
		if mc, err = mcs.Get(ctx, r.Name, metav1.GetOptions{}); err != nil {
			return err
		}
		if hubAcceptsClient(mc) {
			return &errReplan{why: "ManagedCluster " + r.Name + " was accepted again"}
		}
	}
	err = mcs.Delete(ctx, r.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr.To(r.UID), ResourceVersion: ptr.To(mc.GetResourceVersion())}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// releaseFinalizer lets a deleted migration go once live reads on both hubs
// show nothing of it: no ManagedCluster it marks, no object with its UID label.
func (e *executor) releaseFinalizer(ctx context.Context, a Action) error {
	owner := e.facts.Migration.Owner
	selector := metav1.ListOptions{LabelSelector: LabelMigrationUID + "=" + string(owner.UID)}
	for _, h := range []*informers.Hub{e.source, e.target} {
		if h == nil {
			continue // unseen, and the planner found the migration never claimed a cluster
		}
		for _, c := range e.facts.Migration.Clusters() {
			mc, err := h.Dynamic.Resource(ManagedClusterGVR).Get(ctx, c, metav1.GetOptions{})
			// A ManagedCluster that only claims to be the migration's (its
			// markers unsealed) is not: it holds nothing up.
			if err == nil && e.oursLive(ManagedClusterGVR, mc) {
				return &errReplan{why: c + " on " + h.Name + " still names the migration"}
			}
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		for _, gvr := range []schemaGVR{SecretGVR, ServiceAccountGVR, ClusterRoleBindingGVR, ClusterRoleGVR, KlusterletConfigGVR, NamespaceGVR} {
			list, err := h.Dynamic.Resource(gvr).List(ctx, selector)
			if err != nil {
				return err
			}
			for i := range list.Items {
				if e.seals.Verify(gvr.Resource, &list.Items[i]) == nil {
					return &errReplan{why: gvr.Resource + " of the migration left on " + h.Name}
				}
			}
		}
	}
	obj := a.Object.DeepCopy()
	var kept []string
	for _, f := range obj.GetFinalizers() {
		if f != Finalizer {
			kept = append(kept, f)
		}
	}
	obj.SetFinalizers(kept)
	_, err := e.home.Resource(MigrationGVR).Namespace(obj.GetNamespace()).Update(ctx, obj, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// liveCredential is the cluster's registration credential with the
// bootstrap ServiceAccount's UID read live: a ServiceAccount deleted and
// re-created under the same name is another identity.
func (e *executor) liveCredential(ctx context.Context, cluster string) (registrationCredential, error) {
	cred, ok := (&planner{f: e.facts, owner: e.facts.Migration.Owner}).credential(e.cluster(cluster))
	if !ok {
		return cred, &errReplan{why: "the bootstrap identity of " + cluster + " is not known"}
	}
	sa, err := e.target.Kube.CoreV1().ServiceAccounts(e.facts.BootstrapNamespace).Get(ctx, ServiceAccountName(e.facts.Migration.Owner.UID), metav1.GetOptions{})
	if err != nil {
		return cred, err
	}
	if sa.UID != cred.UID {
		return cred, &errReplan{why: "the bootstrap ServiceAccount was replaced"}
	}
	return cred, nil
}

// decideRollback writes the rollback decision. A cluster in Registering may
// have a CSR on the API server that the cache has not shown yet: the CSRs
// are listed live, and one CN passing every check is committed instead.
func (e *executor) decideRollback(ctx context.Context, a Action) error {
	if hasAnnotation(a.Object, AnnOriginalHubAcceptsClient) {
		if e.target == nil {
			return fmt.Errorf("the target cannot be seen: a CSR there could take precedence")
		}
		list, err := e.target.Kube.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{LabelSelector: LabelClusterName + "=" + a.Cluster})
		if err != nil {
			return err
		}
		if len(list.Items) > 0 {
			cred, err := e.liveCredential(ctx, a.Cluster)
			if err != nil && !IsReplan(err) && !apierrors.IsNotFound(err) {
				return err
			}
			if err == nil {
				var csrs []*certificatesv1.CertificateSigningRequest
				for i := range list.Items {
					csrs = append(csrs, &list.Items[i])
				}
				cns := map[string]bool{}
				for _, csr := range passingCSRs(csrs, cred, csrsNotBefore(a.Object)) {
					cns[csrCommonName(csr)] = true
				}
				if len(cns) == 1 {
					return &errReplan{why: "a CSR of " + a.Cluster + " that passes every check is on the target: commit takes precedence"}
				}
			}
		}
	}
	_, err := e.source.Dynamic.Resource(ManagedClusterGVR).Update(ctx, e.sealed(ManagedClusterGVR, a.Object), metav1.UpdateOptions{})
	return err
}

// revokeToken deletes the anchor Secret once live reads show the token is
// not needed any more: the cluster is rolling back (or failed) by this
// migration, or the target speaks for it and the source ManagedCluster is
// gone (the agent uses the target's own credential then).
func (e *executor) revokeToken(ctx context.Context, a Action) error {
	if e.source != nil {
		src, err := e.source.Dynamic.Resource(ManagedClusterGVR).Get(ctx, a.Cluster, metav1.GetOptions{})
		switch {
		case err == nil && e.oursLive(ManagedClusterGVR, src) && decided(src) != "":
			return e.delete(ctx, e.target, a.Ref)
		case err == nil:
			return &errReplan{why: "the token of " + a.Cluster + " is still needed: its source ManagedCluster is there"}
		case !apierrors.IsNotFound(err):
			return err
		}
	}
	tgt, err := e.target.Dynamic.Resource(ManagedClusterGVR).Get(ctx, a.Cluster, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err != nil || !e.oursLive(ManagedClusterGVR, tgt) || !hasAnnotation(tgt, AnnCommitted) {
		return &errReplan{why: "the target does not speak for " + a.Cluster}
	}
	return e.delete(ctx, e.target, a.Ref)
}

// beginRegistering writes the Registering write with the target API
// server's own time (its Date header, read live): CSRs are compared with
// the target's clock only, never with the controller's.
func (e *executor) beginRegistering(ctx context.Context, a Action) error {
	now, err := serverTime(ctx, e.target)
	if err != nil {
		return err
	}
	obj, _ := withMarkers(a.Object, nil, map[string]string{AnnCSRsNotBefore: now.UTC().Format(time.RFC3339)}, nil, nil)
	_, err = e.source.Dynamic.Resource(ManagedClusterGVR).Update(ctx, e.sealed(ManagedClusterGVR, obj), metav1.UpdateOptions{})
	return err
}

// serverTime is the hub API server's clock, from the Date header of a
// request to /version.
func serverTime(ctx context.Context, h *informers.Hub) (time.Time, error) {
	if h == nil {
		return time.Time{}, fmt.Errorf("the target cannot be seen")
	}
	client, err := rest.HTTPClientFor(h.Config)
	if err != nil {
		return time.Time{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(h.Config.Host, "/")+"/version", nil)
	if err != nil {
		return time.Time{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: no usable Date header (%q): %w", h.Name, resp.Header.Get("Date"), err)
	}
	return date, nil
}
