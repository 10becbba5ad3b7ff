package reconcile

//hubmigrate:pure

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// copyPlan is one object to make on the target, and what is there now.
type copyPlan struct {
	gvr     schema.GroupVersionResource
	desired *unstructured.Unstructured
	current metaNamed
}

type metaNamed interface {
	metaObject
	GetName() string
	GetNamespace() string
	GetResourceVersion() string
}

// planDeploying makes the copies on the target, in SPEC's order (namespace,
// ManagedCluster, KlusterletAddonConfig, addons, preserved Secrets and
// ConfigMaps), after one collision check; then the Registering write.
func (p *planner) planDeploying(cf *ClusterFacts) {
	src, tgt := cf.Source.MC, cf.Target
	if p.moveLabel(Source, cf.Name, src, Deploying) {
		p.outcome(cf.Name, Deploying, "")
		return
	}
	if p.f.Migration.Deleting {
		p.decideRollback(cf, Deploying, "MigrationDeleted")
		return
	}
	if p.expired(since(annotation(src, AnnPhaseSince)), Deploying) {
		p.decideRollback(cf, Deploying, "DeployingTimeout")
		return
	}
	copies := p.copies(cf)
	if !p.ours(tgt.MC) {
		// The collision check: made once, before the first copy is written;
		// a collision is a permanent failure.
		if tgt.MC != nil {
			p.decideRollback(cf, Deploying, "CopyCollision")
			return
		}
		for _, c := range copies {
			if !absent(c.current) && !p.ours(c.current) {
				p.decideRollback(cf, Deploying, "CopyCollision")
				return
			}
		}
	}
	if tgt.Namespace == nil {
		p.create(Target, cf.Name, NamespaceGVR, p.scaffold("v1", "Namespace", "", cf.Name), "the cluster namespace, until OCM's acceptance owns it")
		p.outcome(cf.Name, Deploying, "")
		return
	}
	if tgt.Namespace.DeletionTimestamp != nil {
		p.outcome(cf.Name, Deploying, "the target cluster namespace is terminating")
		return
	}
	if tgt.MC == nil {
		why := "the ManagedCluster copy"
		if original := annotation(src, AnnOriginalKlusterletConfig); original != "" && !tgt.KlusterletConfigNames[original] {
			why = "the ManagedCluster copy, without its klusterlet-config annotation: no KlusterletConfig " + original + " on the target"
		}
		p.create(Target, cf.Name, ManagedClusterGVR, p.managedClusterCopy(cf, Deploying), why)
		if why != "the ManagedCluster copy" {
			p.plan.Actions[len(p.plan.Actions)-1].Event = "KlusterletConfigDropped"
		}
		p.outcome(cf.Name, Deploying, "")
		return
	}
	pending := false
	for _, c := range copies {
		switch {
		case absent(c.current):
			p.create(Target, cf.Name, c.gvr, c.desired, "copy")
			pending = true
		case !p.ours(c.current) && c.gvr != ManagedClusterAddOnGVR:
			p.outcome(cf.Name, Deploying, "a "+c.gvr.Resource+" not made by this migration appeared on the target: "+c.current.GetName())
			return
		case !p.ours(c.current):
			// Made by the target's klusterlet-addon-controller from our
			// KlusterletAddonConfig copy: adopted, not a collision.
			adopted := c.current.(*unstructured.Unstructured).DeepCopy()
			adopted.Object["spec"] = c.desired.Object["spec"]
			adopted, _ = withMarkers(adopted, c.desired.GetLabels(), c.desired.GetAnnotations(), nil, nil)
			p.act(Action{Kind: Update, Hub: Target, Cluster: cf.Name, Ref: RefOf(c.gvr, adopted), Object: adopted, Why: "adopt what the target's controllers made"})
			pending = true
		}
	}
	if pending || p.alignCopies(cf) {
		p.outcome(cf.Name, Deploying, "")
		return
	}
	p.mirrorLabel(cf, Deploying)
	// The Registering write: unaccept the source, saving the original, and
	// move the label, in one write.
	obj, _ := withMarkers(src, map[string]string{LabelPhase: string(Registering)},
		map[string]string{AnnOriginalHubAcceptsClient: strconv.FormatBool(hubAcceptsClient(src)), AnnPhaseSince: p.now()}, nil, nil)
	_ = unstructured.SetNestedField(obj.Object, false, "spec", "hubAcceptsClient")
	p.act(Action{Kind: BeginRegistering, Hub: Source, Cluster: cf.Name, Ref: RefOf(ManagedClusterGVR, src), Object: obj, Why: "Registering: unaccept the source"})
	p.outcome(cf.Name, Deploying, "")
}

// copies lists the objects that move with the cluster besides its
// ManagedCluster, with what stands at their names on the target.
func (p *planner) copies(cf *ClusterFacts) []copyPlan {
	var out []copyPlan
	src, tgt := cf.Source.Migrated, cf.Target.Migrated
	if src.KlusterletAddonConfig != nil {
		var current metaNamed
		if tgt.KlusterletAddonConfig != nil {
			current = tgt.KlusterletAddonConfig
		}
		out = append(out, copyPlan{KlusterletAddonConfigGVR, p.specCopy(src.KlusterletAddonConfig), current})
	}
	for _, a := range src.Addons {
		out = append(out, copyPlan{ManagedClusterAddOnGVR, p.specCopy(a), findUnstructured(tgt.Addons, a.GetName())})
	}
	for _, s := range src.Secrets {
		out = append(out, copyPlan{SecretGVR, p.secretCopy(s), findSecret(tgt.Secrets, s.Name)})
	}
	for _, c := range src.ConfigMaps {
		out = append(out, copyPlan{ConfigMapGVR, p.configMapCopy(c), findConfigMap(tgt.ConfigMaps, c.Name)})
	}
	return out
}

func findUnstructured(list []*unstructured.Unstructured, name string) metaNamed {
	for _, o := range list {
		if o.GetName() == name {
			return o
		}
	}
	return nil
}

func findSecret(list []*corev1.Secret, name string) metaNamed {
	for _, o := range list {
		if o.Name == name {
			return o
		}
	}
	return nil
}

func findConfigMap(list []*corev1.ConfigMap, name string) metaNamed {
	for _, o := range list {
		if o.Name == name {
			return o
		}
	}
	return nil
}
