package reconcile

//hubmigrate:pure

import (
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/hubmigrate/hubmigrate/informers"
)

// evictionGracePeriod keeps the klusterlet from evicting the source hub's
// applied work before the target takes over.
const evictionGracePeriod = "24h"

// planInitializing builds the cluster's scaffolding, one write at a time,
// each planned once the previous is observed: on the target the bootstrap
// ServiceAccount and its binding, the anchor Secret; on the source the
// bootstrap kubeconfig Secret (whose token is bound to the anchor), the
// KlusterletConfig, and the cluster annotated to use it. It ends when the
// klusterlet work is Applied at a newer generation (klusterletConfigured).
func (p *planner) planInitializing(cf *ClusterFacts) {
	src := cf.Source.MC
	if p.moveLabel(Source, cf.Name, src, Initializing) {
		p.outcome(cf.Name, Initializing, "")
		return
	}
	if p.f.Migration.Deleting {
		p.decideRollback(cf, Initializing, "MigrationDeleted")
		return
	}
	if p.expired(since(annotation(src, AnnPhaseSince)), Initializing) {
		p.decideRollback(cf, Initializing, "InitializingTimeout")
		return
	}
	name := ScaffoldingName(cf.Name, p.owner.UID)
	switch {
	case p.f.ServiceAccount == nil, p.f.Binding == nil:
		// The migration's shared bootstrap identity: made by the first
		// cluster to need it; the others wait for it instead of writing
		// the same object again beside it.
		if p.sharedPlanned {
			p.outcome(cf.Name, Initializing, "waiting for the migration's bootstrap identity")
			return
		}
		p.sharedPlanned = true
		switch {
		case p.f.ServiceAccount == nil:
			p.create(Target, cf.Name, ServiceAccountGVR, p.serviceAccount(), "the migration's bootstrap identity")
		case !p.f.Target.BootstrapClusterRole && p.f.ClusterRole == nil:
			p.create(Target, cf.Name, ClusterRoleGVR, p.bootstrapClusterRole(), "the target has no OCM bootstrap ClusterRole: one with its rules")
		default:
			p.create(Target, cf.Name, ClusterRoleBindingGVR, p.binding(), "bind it to the bootstrap role")
		}
	case cf.Target.Anchor == nil:
		p.create(Target, cf.Name, SecretGVR, p.scaffold("v1", "Secret", p.f.BootstrapNamespace, name), "the anchor of the cluster's token")
	case cf.Source.BootstrapSecret == nil:
		p.act(Action{Kind: MintToken, Hub: Source, Cluster: cf.Name, Ref: RefOf(SecretGVR, cf.Target.Anchor),
			Object: p.scaffold("v1", "Secret", p.f.BootstrapSecretNamespace, name), Why: "the cluster's bootstrap kubeconfig for the target"})
	case cf.Source.KlusterletConfig == nil:
		p.create(Source, cf.Name, KlusterletConfigGVR, p.klusterletConfig(cf, name), "the KlusterletConfig that adds the target")
	case annotation(src, AnnKlusterletConfig) != name:
		set := map[string]string{AnnKlusterletConfig: name}
		if !hasAnnotation(src, AnnOriginalKlusterletConfig) {
			set[AnnOriginalKlusterletConfig] = annotation(src, AnnKlusterletConfig)
		}
		obj, _ := withMarkers(src, nil, set, nil, nil)
		p.act(Action{Kind: UseKlusterletConfig, Hub: Source, Cluster: cf.Name, Ref: RefOf(ManagedClusterGVR, src), Object: obj, Why: "point the klusterlet at the new configuration"})
	default:
		p.outcome(cf.Name, Initializing, "waiting for the klusterlet to apply its new configuration")
		return
	}
	p.outcome(cf.Name, Initializing, "")
}

// klusterletConfigured is Initializing's gate: the cluster uses the
// migration's KlusterletConfig and its klusterlet work was applied at a
// generation newer than the one recorded with that annotation.
func (p *planner) klusterletConfigured(cf *ClusterFacts) bool {
	src := cf.Source.MC
	if annotation(src, AnnKlusterletConfig) != ScaffoldingName(cf.Name, p.owner.UID) {
		return false
	}
	recorded, err := strconv.ParseInt(annotation(src, AnnKlusterletWorkGeneration), 10, 64)
	if err != nil {
		return false
	}
	return appliedGeneration(cf.Source.KlusterletWork) > recorded
}

// scaffold is an empty object of the migration's, with its markers.
func (p *planner) scaffold(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name},
	}}
	if namespace != "" {
		obj.SetNamespace(namespace)
	}
	p.ownedMarkers(obj)
	return obj
}

func (p *planner) serviceAccount() *unstructured.Unstructured {
	return p.scaffold("v1", "ServiceAccount", p.f.BootstrapNamespace, ServiceAccountName(p.owner.UID))
}

// binding binds the bootstrap ServiceAccount to OCM's bootstrap ClusterRole,
// or to the migration's own where the target has none (a binding's role
// cannot change later, so it is decided when the binding is made).
func (p *planner) binding() *unstructured.Unstructured {
	crb := p.scaffold("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", ServiceAccountName(p.owner.UID))
	role := informers.BootstrapClusterRole
	if !p.f.Target.BootstrapClusterRole {
		role = ServiceAccountName(p.owner.UID)
	}
	crb.Object["roleRef"] = map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}
	crb.Object["subjects"] = []any{map[string]any{"kind": "ServiceAccount", "name": ServiceAccountName(p.owner.UID), "namespace": p.f.BootstrapNamespace}}
	return crb
}

// bootstrapClusterRole has the rules of OCM's open-cluster-management:bootstrap
// ClusterRole: what a klusterlet's bootstrap credential needs to register.
// RBAC lets hubmigrate grant only what it holds, hence CSR create in its role.
func (p *planner) bootstrapClusterRole() *unstructured.Unstructured {
	role := p.scaffold("rbac.authorization.k8s.io/v1", "ClusterRole", "", ServiceAccountName(p.owner.UID))
	role.Object["rules"] = []any{
		map[string]any{"apiGroups": []any{"certificates.k8s.io"}, "resources": []any{"certificatesigningrequests"}, "verbs": []any{"create", "get", "list", "watch"}},
		map[string]any{"apiGroups": []any{"cluster.open-cluster-management.io"}, "resources": []any{"managedclusters"}, "verbs": []any{"get", "create"}},
	}
	return role
}

// klusterletConfig copies the KlusterletConfig the cluster named before (if
// any) and adds the target's bootstrap kubeconfig, keeping the current hub's
// (with MultipleHubs an agent needs at least two).
func (p *planner) klusterletConfig(cf *ClusterFacts, name string) *unstructured.Unstructured {
	kc := p.scaffold("config.open-cluster-management.io/v1alpha1", "KlusterletConfig", "", name)
	spec := map[string]any{}
	if named := cf.Source.NamedKlusterletConfig; named != nil {
		if s, ok, _ := unstructured.NestedMap(named.Object, "spec"); ok {
			spec = runtime.DeepCopyJSON(s)
		}
	}
	spec["multipleHubsConfig"] = map[string]any{
		"genBootstrapKubeConfigStrategy": "IncludeCurrentHub",
		"bootstrapKubeConfigs": map[string]any{
			"type": "LocalSecrets",
			"localSecretsConfig": map[string]any{
				"kubeConfigSecrets": []any{map[string]any{"name": name}},
			},
		},
	}
	spec["appliedManifestWorkEvictionGracePeriod"] = evictionGracePeriod
	kc.Object["spec"] = spec
	return kc
}
