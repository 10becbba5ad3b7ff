package reconcile

//hubmigrate:pure

import (
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// Facts is everything the planner may look at for one migration: what the
// informers hold, and the clock. Nothing in it is kept between reconciles.
type Facts struct {
	Now    time.Time
	HomeID string
	// BootstrapNamespace (target) holds the bootstrap ServiceAccount and the
	// anchor Secrets; BootstrapSecretNamespace (source) the bootstrap
	// kubeconfig Secrets ACM's import controller reads.
	BootstrapNamespace       string
	BootstrapSecretNamespace string
	// TerminalOwners are the owner strings of migrations on this home cluster
	// that have written results: their records may be taken over.
	TerminalOwners map[string]bool
	Migration      MigrationFacts
	Source         HubFacts
	Target         HubFacts
	// ServiceAccount and Binding are the migration's bootstrap identity on the target.
	ServiceAccount *corev1.ServiceAccount
	Binding        *rbacv1.ClusterRoleBinding
	// ClusterRole is the migration's own bootstrap ClusterRole, made only
	// where the target has no OCM bootstrap ClusterRole.
	ClusterRole *rbacv1.ClusterRole
	Clusters    []ClusterFacts
	// Denied names clusters an action of this reconcile was refused for by
	// RBAC (confirmed by a SelfSubjectAccessReview), with the denial.
	Denied map[string]string
	// Collisions names clusters a create of this reconcile found an object
	// not made by this migration in the way of (unseen by the caches), with
	// that object.
	Collisions map[string]string
	// PlacementDecisions are the source's decisions labelled with the
	// migration's Placement (all namespaces), while its cluster list is not
	// yet resolved; the planner counts only those the Placement owns.
	PlacementDecisions []*unstructured.Unstructured
	// Placements are the source's Placements of that name (all namespaces),
	// at the same time: a decision belongs to the one in its namespace.
	Placements []*unstructured.Unstructured
	// Unsealed are the objects above that claim to be this migration's (its
	// owner or UID label) but whose seal does not verify, by UID, each with
	// what it is: nothing is done on their word (SPEC "Trust boundaries").
	Unsealed map[types.UID]string
	// Waiting is when this process first saw each unclaimed cluster waiting
	// on something transient (unavailable, a hub not ready, its klusterlet
	// work not applied), continuously since: the plan's Waiting, fed back.
	// It is the only clock a wait before the claim is measured with beside
	// started-at, so a cluster never fails for the time hubmigrate took to
	// look at it. A restart forgets it, which can only postpone a failure.
	Waiting map[string]time.Time
}

// MigrationFacts is the migration object.
type MigrationFacts struct {
	Owner           Owner
	From, To        string
	Listed          []string
	PlacementRef    string
	StageTimeout    time.Duration // 0: the defaults
	Annotations     map[string]string
	ResourceVersion string
	Created         time.Time
	Deleting        bool
	// Object is the migration as read, for the writes on it.
	Object *unstructured.Unstructured
}

// HubFacts is what is known of a hub as a whole.
type HubFacts struct {
	// Reachable: its client works and its caches have synced. When it is
	// not, Problem says why (HubUnknown, KubeconfigInvalid, HubUnreachable)
	// and ProblemMessage how.
	Reachable      bool
	Problem        string
	ProblemMessage string
	// ServesKlusterletConfig: it is an ACM hub (KlusterletConfig API served).
	ServesKlusterletConfig bool
	// RegistrationAddress is the address and CA managed clusters reach it by.
	RegistrationAddress string
	RegistrationCA      []byte
	// BootstrapClusterRole: OCM's bootstrap ClusterRole exists.
	BootstrapClusterRole bool
}

// ClusterFacts are one cluster's objects on both hubs.
type ClusterFacts struct {
	Name   string
	Source SourceFacts
	Target TargetFacts
}

// SourceFacts are the cluster's objects on the source hub.
type SourceFacts struct {
	MC             *unstructured.Unstructured
	KlusterletWork *unstructured.Unstructured
	// KlusterletConfig is the migration's (hubmigrate-<cluster>-<uid8>).
	KlusterletConfig *unstructured.Unstructured
	// NamedKlusterletConfig is the KlusterletConfig the cluster's annotation
	// named before the migration, when it exists.
	NamedKlusterletConfig *unstructured.Unstructured
	BootstrapSecret       *corev1.Secret
	// Lease is the source's managed-cluster-lease: the agent's return after a
	// rollback shows as a renewal.
	Lease    *coordinationv1.Lease
	Migrated MigratedObjects
}

// TargetFacts are the cluster's objects on the target hub.
type TargetFacts struct {
	MC             *unstructured.Unstructured
	Namespace      *corev1.Namespace
	KlusterletWork *unstructured.Unstructured
	Lease          *coordinationv1.Lease
	Anchor         *corev1.Secret
	CSRs           []*certificatesv1.CertificateSigningRequest
	// KlusterletConfigNames are the KlusterletConfigs that exist on the target.
	KlusterletConfigNames map[string]bool
	Migrated              MigratedObjects
}

// MigratedObjects are the resources that move with a cluster, besides its
// ManagedCluster: in the cluster namespace, its KlusterletAddonConfig, its
// ManagedClusterAddOns, and the Secrets and ConfigMaps labelled preserve.
type MigratedObjects struct {
	KlusterletAddonConfig *unstructured.Unstructured
	Addons                []*unstructured.Unstructured
	Secrets               []*corev1.Secret
	ConfigMaps            []*corev1.ConfigMap
}
