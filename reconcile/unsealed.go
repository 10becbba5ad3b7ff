package reconcile

//hubmigrate:pure

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// UnsealedMarkersReason holds a cluster where it is: an object of it carries
// this migration's markers but not hubmigrate's seal, so someone else wrote
// or changed them, and nothing is deleted, accepted or approved on their word.
const UnsealedMarkersReason = "UnsealedMarkers"

// markable is one object of a migration's facts that can carry markers.
type markable struct {
	hub      HubRole
	resource string
	obj      metav1.Object
}

func (m markable) String() string {
	name := m.obj.GetName()
	if ns := m.obj.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return fmt.Sprintf("%s %s on the %s hub", m.resource, name, m.hub)
}

// markables are the objects of one cluster that can carry markers.
func (cf *ClusterFacts) markables() []markable {
	var out []markable
	add := func(hub HubRole, resource string, obj metav1.Object) {
		if !absent(obj) {
			out = append(out, markable{hub, resource, obj})
		}
	}
	migrated := func(hub HubRole, m MigratedObjects) {
		add(hub, KlusterletAddonConfigGVR.Resource, m.KlusterletAddonConfig)
		for _, a := range m.Addons {
			add(hub, ManagedClusterAddOnGVR.Resource, a)
		}
		for _, s := range m.Secrets {
			add(hub, SecretGVR.Resource, s)
		}
		for _, c := range m.ConfigMaps {
			add(hub, ConfigMapGVR.Resource, c)
		}
	}
	add(Source, ManagedClusterGVR.Resource, cf.Source.MC)
	add(Source, KlusterletConfigGVR.Resource, cf.Source.KlusterletConfig)
	add(Source, SecretGVR.Resource, cf.Source.BootstrapSecret)
	migrated(Source, cf.Source.Migrated)
	add(Target, ManagedClusterGVR.Resource, cf.Target.MC)
	add(Target, NamespaceGVR.Resource, cf.Target.Namespace)
	add(Target, SecretGVR.Resource, cf.Target.Anchor)
	migrated(Target, cf.Target.Migrated)
	return out
}

// sharedMarkables are the migration's objects every cluster depends on.
func (f *Facts) sharedMarkables() []markable {
	var out []markable
	for _, m := range []markable{
		{Target, ServiceAccountGVR.Resource, f.ServiceAccount},
		{Target, ClusterRoleBindingGVR.Resource, f.Binding},
		{Target, ClusterRoleGVR.Resource, f.ClusterRole},
	} {
		if !absent(m.obj) {
			out = append(out, m)
		}
	}
	return out
}

// claimsToBeOf: obj says it belongs to the migration (its owner annotation
// or its UID label). Only such objects are checked: another migration's
// or another home's objects are someone else's, sealed or not.
func claimsToBeOf(obj metav1.Object, owner Owner) bool {
	return obj.GetAnnotations()[AnnOwner] == owner.String() || obj.GetLabels()[LabelMigrationUID] == string(owner.UID)
}

// checkSeals fills f.Unsealed: the objects of the facts that claim to be
// the migration's and whose seal s does not verify.
func checkSeals(f *Facts, s *Sealer) {
	all := f.sharedMarkables()
	for i := range f.Clusters {
		all = append(all, f.Clusters[i].markables()...)
	}
	for _, m := range all {
		if !claimsToBeOf(m.obj, f.Migration.Owner) {
			continue
		}
		if err := s.Verify(m.resource, m.obj); err != nil {
			if f.Unsealed == nil {
				f.Unsealed = map[types.UID]string{}
			}
			f.Unsealed[m.obj.GetUID()] = m.String()
		}
	}
}

// unsealed: obj is one of the facts' objects whose seal did not verify.
func (p *planner) unsealed(obj metaObject) bool {
	o, ok := obj.(interface{ GetUID() types.UID })
	if !ok || absent(obj) || len(p.f.Unsealed) == 0 {
		return false
	}
	_, found := p.f.Unsealed[o.GetUID()]
	return found
}

// unsealedOf lists what of a cluster (or shared by all) is unsealed.
func (p *planner) unsealedOf(cf *ClusterFacts) []string {
	if len(p.f.Unsealed) == 0 {
		return nil
	}
	var out []string
	for _, m := range append(p.f.sharedMarkables(), cf.markables()...) {
		if what, ok := p.f.Unsealed[m.obj.GetUID()]; ok {
			out = append(out, what)
		}
	}
	slices.Sort(out)
	return out
}

// planUnsealed decides for a cluster with unsealed objects, and reports
// whether it did. A cluster this migration claimed (its source
// ManagedCluster names it — or, the source gone, a sealed target copy does)
// and not finished is held where it is: no action, the phase its markers
// show, reason UnsealedMarkers, until an admin resolves it
// (docs/when-a-migration-fails.md). Before a claim, the objects are someone
// else's: the cluster is reported as claimed by someone else. A cluster
// whose sealed markers say it is finished is planned as usual: what is
// unsealed is not its own (ours() is false for it), and is never touched.
func (p *planner) planUnsealed(cf *ClusterFacts, what []string) bool {
	src, tgt := cf.Source.MC, cf.Target.MC
	list := strings.Join(what, ", ")
	speaking := src
	switch {
	case annotation(src, AnnOwner) == p.owner.String():
	case src == nil && p.ours(tgt):
		speaking = tgt
	default:
		p.failUnclaimed(cf.Name, "ClaimedBy", "claimed by someone else: hubmigrate did not write the markers on "+list)
		return true
	}
	phase := Phase(label(speaking, LabelPhase))
	if p.ours(speaking) && phase.Terminal() {
		return false
	}
	if phase != Rollbacking && (forwardOrder[phase] == 0 || phase.Terminal()) {
		// Held is never final: a phase its unsealed markers claim to end in
		// is not believed.
		phase = Unknown
	}
	p.plan.Clusters = append(p.plan.Clusters, ClusterOutcome{Name: cf.Name, Phase: phase, Reason: UnsealedMarkersReason,
		Waiting: "held: hubmigrate did not write the markers on " + list + "; nothing is done for this cluster until an admin resolves it"})
	return true
}
