package reconcile

//hubmigrate:pure

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// HubRole says which hub of the migration an action writes to.
type HubRole string

const (
	Source HubRole = "source"
	Target HubRole = "target"
	Home   HubRole = "home"
)

// ActionKind is what the executor does. Every kind is idempotent and fenced
// (SPEC rule 3); the kinds that need a live re-read first (rule 5) say so.
type ActionKind string

const (
	// Create makes Object; AlreadyExists carrying our migration UID is success.
	Create ActionKind = "Create"
	// Update writes Object, guarded by its resourceVersion: a 409 re-plans.
	Update ActionKind = "Update"
	// Delete removes Ref, with a UID precondition; NotFound is success.
	Delete ActionKind = "Delete"
	// MintToken requests the cluster's one token, bound to its anchor Secret
	// (Ref), and writes the bootstrap kubeconfig Secret (Object) on the source.
	MintToken ActionKind = "MintToken"
	// UseKlusterletConfig writes Object (the source ManagedCluster annotated to
	// use the migration's KlusterletConfig) after recording, read live, the
	// generation of its klusterlet work.
	UseKlusterletConfig ActionKind = "UseKlusterletConfig"
	// Commit re-reads the CSR (Ref) live, checks it again, reads the target
	// lease and klusterlet work live, and writes the commit markers on the
	// source ManagedCluster (Object), resourceVersion-guarded.
	Commit ActionKind = "Commit"
	// Approve re-reads the CSR and the source ManagedCluster live and approves
	// the CSR if it still passes and the cluster is committed.
	Approve ActionKind = "Approve"
	// Deny denies a pending CSR (Ref) of the migration's credential.
	Deny ActionKind = "Deny"
	// DeleteSourceCluster re-reads the source ManagedCluster live, checks it is
	// unaccepted and the target registered, then deletes it (UID precondition).
	DeleteSourceCluster ActionKind = "DeleteSourceCluster"
	// DeleteMigratedSource deletes a source resource (Ref) after a live read
	// shows its copy on the target.
	DeleteMigratedSource ActionKind = "DeleteMigratedSource"
	// Restore writes the source's saved originals (Object) in one write, with
	// the source lease's resourceVersion read live as restore-lease-rv.
	Restore ActionKind = "Restore"
	// DeleteTargetCluster unaccepts the target copy, re-reads it live and
	// deletes it (UID precondition).
	DeleteTargetCluster ActionKind = "DeleteTargetCluster"
	// BeginRegistering is the Registering write (Object: the source
	// ManagedCluster unaccepted, resourceVersion-guarded), with the target
	// API server's current time, read live, as csrs-not-before.
	BeginRegistering ActionKind = "BeginRegistering"
	// DecideRollback writes the rollback decision (Object: the source
	// ManagedCluster, resourceVersion-guarded). For a cluster in Registering
	// it first lists the cluster's CSRs on the target live: one CN passing
	// every check there (not yet in the cache) is committed instead — commit
	// takes precedence — so it re-plans.
	DecideRollback ActionKind = "DecideRollback"
	// RevokeToken deletes a cluster's anchor Secret (Ref), which revokes its
	// bootstrap token, after live reads show the token is no longer needed:
	// the source says Rollbacking or Failed, or the target speaks for the
	// cluster (Cleaning) and the source ManagedCluster is gone.
	RevokeToken ActionKind = "RevokeToken"
	// ReleaseFinalizer removes the migration's finalizer after live reads show
	// no ManagedCluster marked by it and no scaffolding of it on either hub.
	ReleaseFinalizer ActionKind = "ReleaseFinalizer"
)

// Ref names one object on one hub.
type Ref struct {
	GVR             schema.GroupVersionResource
	Namespace, Name string
	UID             types.UID
	ResourceVersion string
}

func (r Ref) String() string {
	kind := r.GVR.Resource
	if r.Namespace != "" {
		return kind + " " + r.Namespace + "/" + r.Name
	}
	return kind + " " + r.Name
}

// Action is one write the executor performs.
type Action struct {
	Kind    ActionKind
	Hub     HubRole
	Cluster string
	Ref     Ref
	Object  *unstructured.Unstructured
	// Why is the planner's reason, for the log.
	Why string
	// Event, when set, is the reason of the Event recorded on the migration
	// once the action succeeded: something an admin wants to see happen.
	Event string
}

func (a Action) String() string {
	return fmt.Sprintf("%s %s on %s for %s (%s)", a.Kind, a.Ref, a.Hub, a.Cluster, a.Why)
}

// RefOf names an object already read.
func RefOf(gvr schema.GroupVersionResource, obj interface {
	GetNamespace() string
	GetName() string
	GetUID() types.UID
	GetResourceVersion() string
}) Ref {
	return Ref{GVR: gvr, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID(), ResourceVersion: obj.GetResourceVersion()}
}
