package reconcile

//hubmigrate:pure

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// HubsReadyCondition says whether both hubs can be worked on; while it is
// False its reason (HubUnknown, KubeconfigInvalid, HubUnreachable,
// NotACMHub, NoRegistrationAddress) says why.
const HubsReadyCondition = "HubsReady"

// StageTimeoutExceededCondition names the clusters that are committed,
// Cleaning or Rollbacking past their stage timeout (they keep trying).
const StageTimeoutExceededCondition = "StageTimeoutExceeded"

// TokenNearExpiryCondition names the unregistered clusters whose bootstrap
// token expires soon.
const TokenNearExpiryCondition = "TokenNearExpiry"

// ResourceRolledBackCondition (Global Hub's type) names the clusters rolled
// back to the source: False while any is still rolling back, then True.
const ResourceRolledBackCondition = "ResourceRolledBack"

// UnsealedMarkersCondition names the clusters held because an object of
// theirs carries the migration's markers without hubmigrate's seal.
const UnsealedMarkersCondition = "UnsealedMarkers"

// Global Hub's condition types, each True once every cluster is past the
// stage it names.
var stageConditions = []struct {
	Type  string
	After Phase
}{
	{"ResourceValidated", Validating},
	{"ResourceInitialized", Initializing},
	{"ResourceDeployed", Deploying},
	{"ClusterRegistered", Registering},
	{"ResourceCleaned", Cleaning},
}

// conditions computes the migration's conditions from its clusters' outcomes.
// A condition's lastTransitionTime is kept from the previous status while its
// status is unchanged (the one thing status is read for).
func conditions(plan Plan, previous []any, now time.Time) []any {
	clusters := plan.Clusters
	rank := func(p Phase) int {
		if p.Terminal() {
			return 100
		}
		for i, q := range phaseOrder {
			if q == p {
				return i
			}
		}
		return 0
	}
	known := 0
	for _, c := range clusters {
		if c.Name != "" {
			known++
		}
	}
	var out []any
	add := func(condType string, ok bool, reason, message string) {
		status := "False"
		if ok {
			status = "True"
		}
		cond := map[string]any{"type": condType, "status": status, "reason": reason, "message": message,
			"lastTransitionTime": now.UTC().Format(time.RFC3339)}
		for _, p := range previous {
			if m, _ := p.(map[string]any); m["type"] == condType && m["status"] == status {
				cond["lastTransitionTime"] = m["lastTransitionTime"]
			}
		}
		out = append(out, cond)
	}
	switch {
	case known > 0:
		add("MigrationStarted", true, "ClustersResolved", "the clusters to migrate are known")
	case len(clusters) > 0 && clusters[0].Phase == Failed:
		add("MigrationStarted", false, clusters[0].Reason, clusters[0].Waiting)
	default:
		add("MigrationStarted", false, "Waiting", "waiting for the clusters to migrate")
	}
	if plan.Live {
		if hp := plan.Hubs; hp != nil {
			add(HubsReadyCondition, false, hp.Reason, hp.Message)
		} else {
			add(HubsReadyCondition, true, "HubsReady", "both hubs are reachable ACM hubs and the target's registration address is known")
		}
	}
	for _, sc := range stageConditions {
		waiting := 0
		for _, c := range clusters {
			if c.Name != "" && rank(c.Phase) <= rank(sc.After) {
				waiting++
			}
		}
		done := known > 0 && waiting == 0
		add(sc.Type, done, ifThen(done, "AllClustersPast"+string(sc.After), "Waiting"), ifThen(done, "every cluster is past "+string(sc.After), plural(waiting)+" in "+string(sc.After)+" or before"))
	}
	var overdue []string
	for _, c := range clusters {
		if c.Overdue {
			overdue = append(overdue, c.Name+" ("+string(c.Phase)+")")
		}
	}
	if len(overdue) > 0 {
		add(StageTimeoutExceededCondition, true, "StuckPastTimeout",
			"past the stage timeout where no rollback is possible or one is under way; hubmigrate keeps trying: "+strings.Join(overdue, ", "))
	}
	var expiring []string
	for _, c := range clusters {
		if c.TokenExpiring {
			expiring = append(expiring, c.Name)
		}
	}
	if len(expiring) > 0 {
		add(TokenNearExpiryCondition, true, "TokenNearExpiry",
			"the bootstrap token of clusters not yet registered expires within "+tokenWarning.String()+" (an uncommitted one rolls back at its stage timeout if it cannot register; a committed one must register before the token expires): "+strings.Join(expiring, ", "))
	}
	var trapped []string
	for _, c := range clusters {
		if c.Reason == "AgentRestartRequired" && !c.Phase.Terminal() {
			trapped = append(trapped, c.Name)
		}
	}
	if len(trapped) > 0 {
		add("AgentRestartRequired", true, "AgentRestartRequired", "restart the klusterlet pod once on: "+strings.Join(trapped, ", "))
	}
	// Global Hub's ResourceRolledBack: present once a claimed cluster is
	// rolled back; False while any still rolls back.
	var rolling, rolledBack []string
	for _, c := range clusters {
		switch {
		case c.RolledBack && c.Phase == Rollbacking:
			rolling = append(rolling, c.Name)
		case c.RolledBack:
			rolledBack = append(rolledBack, c.Name)
		}
	}
	sort.Strings(rolling)
	sort.Strings(rolledBack)
	switch {
	case len(rolling) > 0:
		add(ResourceRolledBackCondition, false, "RollingBack", "rolling back to the source: "+strings.Join(rolling, ", "))
	case len(rolledBack) > 0:
		add(ResourceRolledBackCondition, true, "ClustersRolledBack", "rolled back to the source: "+strings.Join(rolledBack, ", "))
	}
	var held []string
	for _, c := range clusters {
		if c.Reason == UnsealedMarkersReason && !c.Phase.Terminal() {
			held = append(held, c.Name+" ("+c.Waiting+")")
		}
	}
	if len(held) > 0 {
		add(UnsealedMarkersCondition, true, UnsealedMarkersReason,
			"held where they are until an admin resolves it (docs/when-a-migration-fails.md, \"Unsealed markers\"): "+strings.Join(held, "; "))
	}
	for _, c := range clusters {
		if c.Reason == "AmbiguousRegistration" {
			add("AmbiguousRegistration", true, "AmbiguousRegistration", c.Name+": more than one CN passes the checks; approving none")
			break
		}
	}
	return out
}

func ifThen(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

func plural(n int) string {
	if n == 1 {
		return "1 cluster"
	}
	return strconv.Itoa(n) + " clusters"
}
