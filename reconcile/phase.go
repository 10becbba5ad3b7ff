package reconcile

//hubmigrate:pure

// Phase is where a cluster (or, as the earliest of its clusters, a
// migration) is. The names are Global Hub's.
type Phase string

const (
	// Unknown: a hub the cluster lives on cannot be seen (as a Pod's phase
	// is Unknown when its node cannot be reached).
	Unknown      Phase = "Unknown"
	Pending      Phase = "Pending"
	Validating   Phase = "Validating"
	Initializing Phase = "Initializing"
	Deploying    Phase = "Deploying"
	Registering  Phase = "Registering"
	Rollbacking  Phase = "Rollbacking"
	Cleaning     Phase = "Cleaning"
	Completed    Phase = "Completed"
	Failed       Phase = "Failed"
)

// forwardOrder ranks the forward phases; a label behind the facts is moved
// forward (a new phase-since), any other disagreement is corrected.
var forwardOrder = map[Phase]int{Validating: 1, Initializing: 2, Deploying: 3, Registering: 4, Cleaning: 5, Completed: 6}

// Terminal phases end a cluster's part in a migration.
func (p Phase) Terminal() bool { return p == Completed || p == Failed }
