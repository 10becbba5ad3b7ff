// Package reconcile decides, for one ManagedClusterMigration at a time, the
// next writes that bring the world to its desired end state. It reads like
// the contract: observe (facts from the caches) → plan (pure: facts and the
// clock in, actions and status out) → execute (one small idempotent function
// per action kind). No progress is kept anywhere but in the markers below, on
// the objects themselves, so the first plan after a restart is the same as
// the one the dead process would have made.
package reconcile

//hubmigrate:pure

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// Prefix is the prefix of every marker hubmigrate writes.
const Prefix = "migration.open-cluster-management.io/"

// Markers on ManagedClusters and on the objects the migration makes.
const (
	// LabelPhase shows where a cluster is (`kubectl get mc -L migration-phase`).
	LabelPhase = "migration-phase"
	// LabelHome marks every object hubmigrate made, with the home cluster's id.
	LabelHome = Prefix + "home"
	// LabelMigrationUID marks every object of one migration, while in flight.
	LabelMigrationUID = Prefix + "migration-uid"

	AnnOwner                    = Prefix + "owner"
	AnnPhaseSince               = Prefix + "phase-since"
	AnnKlusterletWorkGeneration = Prefix + "klusterlet-work-generation"
	AnnCommitted                = Prefix + "committed"
	// AnnCommitCN is the committed CSR's CN, written with committed: later
	// CSRs of an agent that restarted before using its certificate are
	// approved by it, even once the committed CSR is gone.
	AnnCommitCN = Prefix + "commit-cn"
	// AnnCSRsNotBefore is the target API server's time at the Registering
	// write (its Date header, read live): a CSR the target created before it
	// was filed while the source still accepted the agent — not by the
	// agent, but by whoever else holds its token — and never counts.
	AnnCSRsNotBefore  = Prefix + "csrs-not-before"
	AnnCommitLeaseRV  = Prefix + "commit-lease-rv"
	AnnCommitWorkRV   = Prefix + "commit-work-rv"
	AnnRestoreLeaseRV = Prefix + "restore-lease-rv"
	AnnRestoredAt     = Prefix + "restored-at"
	AnnReason         = Prefix + "reason"
	// AnnOriginalHubAcceptsClient holds the source's hubAcceptsClient before
	// the Registering write; its presence says the source was unaccepted.
	AnnOriginalHubAcceptsClient = Prefix + "original-hub-accepts-client"
	// AnnOriginalKlusterletConfig holds the cluster's klusterlet-config
	// annotation before Initializing ("" when it had none).
	AnnOriginalKlusterletConfig = Prefix + "original-klusterlet-config"

	// AnnGlobalHubMigrating is Global Hub's in-flight marker, honoured by
	// other ACM components.
	AnnGlobalHubMigrating = "global-hub.open-cluster-management.io/migrating"
	// AnnKlusterletConfig is ACM's: which KlusterletConfig renders the klusterlet.
	AnnKlusterletConfig = "agent.open-cluster-management.io/klusterlet-config"
	// AnnDisableAutoImport is an admin's; hubmigrate never sets or copies it.
	AnnDisableAutoImport = "import.open-cluster-management.io/disable-auto-import"
	// AnnDeployMode marks hosted-mode klusterlets, which are not migrated.
	AnnDeployMode = "import.open-cluster-management.io/klusterlet-deploy-mode"
	// LabelPreserve marks the Secrets and ConfigMaps copied with a cluster.
	LabelPreserve = "siteconfig.open-cluster-management.io/preserve"
	// LabelClusterName marks registration CSRs and cluster namespaces.
	LabelClusterName = "open-cluster-management.io/cluster-name"
	// LabelAddonName marks addon CSRs, which are never the registration's.
	LabelAddonName = "open-cluster-management.io/addon-name"
)

// Markers on the migration object: decisions that cannot be re-derived.
const (
	AnnClusters  = Prefix + "clusters"
	AnnStartedAt = Prefix + "started-at"
	AnnResults   = Prefix + "results"
	// AnnUnclaimedFailures records, as JSON {cluster: reason}, the clusters
	// that failed before this migration claimed them.
	AnnUnclaimedFailures = Prefix + "unclaimed-failures"
	// AnnAbandon, set by a user, lets a deletion finish although a hub is
	// unreachable.
	AnnAbandon = Prefix + "abandon"
	// AnnGlobalHubMigrationRequest is Global Hub's; "rollback" is accepted
	// and changes nothing (hubmigrate never leaves a rollback to a human).
	AnnGlobalHubMigrationRequest = "global-hub.open-cluster-management.io/migration-request"
)

// inFlightAnnotations are dropped from the target ManagedCluster at handover.
var inFlightAnnotations = []string{
	AnnPhaseSince, AnnKlusterletWorkGeneration, AnnCommitted, AnnCommitCN, AnnCSRsNotBefore, AnnCommitLeaseRV, AnnCommitWorkRV,
	AnnRestoreLeaseRV, AnnRestoredAt, AnnOriginalHubAcceptsClient, AnnOriginalKlusterletConfig, AnnGlobalHubMigrating,
}

// Owner identifies a migration in the owner annotation: namespace/name/uid.
type Owner struct {
	Namespace, Name string
	UID             types.UID
}

func (o Owner) String() string { return o.Namespace + "/" + o.Name + "/" + string(o.UID) }

// ParseOwner reads an owner annotation.
func ParseOwner(s string) (Owner, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return Owner{}, fmt.Errorf("owner %q is not namespace/name/uid", s)
	}
	return Owner{Namespace: parts[0], Name: parts[1], UID: types.UID(parts[2])}, nil
}

// ShortUID is the first 8 characters of a migration UID, used in scaffolding names.
func ShortUID(uid types.UID) string {
	s := string(uid)
	if len(s) > 8 {
		s = s[:8]
	}
	return s
}

// ScaffoldingName names a cluster's scaffolding: hubmigrate-<cluster>-<uid8>.
func ScaffoldingName(cluster string, uid types.UID) string {
	return "hubmigrate-" + cluster + "-" + ShortUID(uid)
}

// ServiceAccountName names the migration's bootstrap ServiceAccount on the target.
func ServiceAccountName(uid types.UID) string { return "hubmigrate-" + ShortUID(uid) }
