package reconcile

import (
	"context"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hubmigrate/hubmigrate/informers"
)

// errDenied: a 403 that a SelfSubjectAccessReview confirmed as an RBAC
// denial of hubmigrate's own identity — permanent, unlike a 403 from an
// admission webhook or for a Terminating namespace, which are retried.
type errDenied struct {
	Cluster string
	Denial  string
}

func (e *errDenied) Error() string { return e.Denial }

// access is one permission an action needs on a hub.
type access struct {
	hub  HubRole
	attr authorizationv1.ResourceAttributes
}

func (a access) String() string {
	r := a.attr.Resource
	if a.attr.Subresource != "" {
		r += "/" + a.attr.Subresource
	}
	if a.attr.Group != "" {
		r += "." + a.attr.Group
	}
	where := ""
	if a.attr.Namespace != "" {
		where = " in namespace " + a.attr.Namespace
	}
	return fmt.Sprintf("%s %s%s on the %s hub", a.attr.Verb, r, where, a.hub)
}

// accessNeeded lists what an action writes with, for the review.
func accessNeeded(a Action, bootstrapNamespace string) []access {
	on := func(hub HubRole, verb string, gvr schemaGVR, sub, ns, name string) access {
		return access{hub, authorizationv1.ResourceAttributes{Verb: verb, Group: gvr.Group, Resource: gvr.Resource, Subresource: sub, Namespace: ns, Name: name}}
	}
	r := a.Ref
	switch a.Kind {
	case Create:
		return []access{on(a.Hub, "create", r.GVR, "", r.Namespace, "")}
	case Update, UseKlusterletConfig, Commit, Restore:
		return []access{on(a.Hub, "update", r.GVR, "", r.Namespace, r.Name)}
	case Delete, DeleteSourceCluster, DeleteMigratedSource:
		return []access{on(a.Hub, "delete", r.GVR, "", r.Namespace, r.Name)}
	case DeleteTargetCluster:
		return []access{on(Target, "update", r.GVR, "", "", r.Name), on(Target, "delete", r.GVR, "", "", r.Name)}
	case MintToken:
		return []access{on(Target, "create", ServiceAccountGVR, "token", bootstrapNamespace, ""), on(Source, "create", SecretGVR, "", "", "")}
	case Approve:
		return []access{on(Target, "update", CSRGVR, "approval", "", r.Name),
			{Target, authorizationv1.ResourceAttributes{Verb: "approve", Group: "certificates.k8s.io", Resource: "signers", Name: "kubernetes.io/kube-apiserver-client"}}}
	case Deny:
		return []access{on(Target, "update", CSRGVR, "approval", "", r.Name)}
	}
	return nil
}

// NamespaceTerminating reports whether a 403 is a refusal to create in a
// namespace being deleted — the API server's (cause NamespaceTerminating) or
// OCM's webhook's ("is being terminated"): transient, never an RBAC denial.
func NamespaceTerminating(err error) bool {
	return apierrors.IsForbidden(err) &&
		(apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) || strings.Contains(err.Error(), "is being terminated"))
}

// confirmDenied asks each hub, as hubmigrate's identity, whether it may do
// what the forbidden action needed. A "no" is an RBAC denial: permanent.
func confirmDenied(ctx context.Context, hubs func(HubRole) *informers.Hub, a Action, forbidden error, bootstrapNamespace string) error {
	if NamespaceTerminating(forbidden) {
		return forbidden // the namespace goes away or comes back: retried
	}
	for _, need := range accessNeeded(a, bootstrapNamespace) {
		h := hubs(need.hub)
		if h == nil {
			continue
		}
		review, err := h.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &need.attr}}, metav1.CreateOptions{})
		if err != nil {
			return forbidden // cannot confirm: treated as transient
		}
		if !review.Status.Allowed {
			return &errDenied{Cluster: a.Cluster, Denial: "hubmigrate's identity may not " + need.String()}
		}
	}
	return forbidden
}
