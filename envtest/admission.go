package envtest

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
)

// ocmAdmissionPolicy stands in for OCM's ManagedCluster webhook, which envtest
// lacks: the authorizer checks it makes (SPEC "Admission"). Setting
// hubAcceptsClient=true on create, or false→true, needs `update
// managedclusters/accept` in register.open-cluster-management.io; a clusterset
// label needs `create managedclustersets/join` on that set. The
// Terminating-namespace rule, which CEL cannot look up, is the simulator's.
const ocmAdmissionPolicy = `
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: ocm-managedcluster-admission
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: ["cluster.open-cluster-management.io"]
      apiVersions: ["*"]
      operations: ["CREATE", "UPDATE"]
      resources: ["managedclusters"]
  variables:
  - name: accepting
    expression: >-
      has(object.spec.hubAcceptsClient) && object.spec.hubAcceptsClient &&
      (request.operation == 'CREATE' || !has(oldObject.spec.hubAcceptsClient) || !oldObject.spec.hubAcceptsClient)
  - name: clusterSet
    expression: >-
      has(object.metadata.labels) && 'cluster.open-cluster-management.io/clusterset' in object.metadata.labels ?
      object.metadata.labels['cluster.open-cluster-management.io/clusterset'] : ''
  - name: oldClusterSet
    expression: >-
      request.operation == 'UPDATE' && has(oldObject.metadata.labels) && 'cluster.open-cluster-management.io/clusterset' in oldObject.metadata.labels ?
      oldObject.metadata.labels['cluster.open-cluster-management.io/clusterset'] : ''
  validations:
  - expression: >-
      !variables.accepting ||
      authorizer.group('register.open-cluster-management.io').resource('managedclusters').subresource('accept').name(object.metadata.name).check('update').allowed()
    messageExpression: "'user ' + request.userInfo.username + ' cannot update the HubAcceptsClient field'"
    reason: Forbidden
  - expression: >-
      variables.clusterSet == '' || variables.clusterSet == variables.oldClusterSet ||
      authorizer.group('cluster.open-cluster-management.io').resource('managedclustersets').subresource('join').name(variables.clusterSet).check('create').allowed()
    messageExpression: "'user ' + request.userInfo.username + ' cannot add/remove a ManagedCluster to/from ManagedClusterSet ' + variables.clusterSet"
    reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: ocm-managedcluster-admission
spec:
  policyName: ocm-managedcluster-admission
  validationActions: ["Deny"]
`

// admissionProbe lets a probe user write ManagedClusters without accept
// permission, to see when the API server has loaded the policy (it loads
// policies asynchronously, after the create returns).
const admissionProbe = `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: world-admission-probe
rules:
- apiGroups: ["cluster.open-cluster-management.io"]
  resources: ["managedclusters"]
  verbs: ["create"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: world-admission-probe
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: world-admission-probe
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: world-admission-probe
`

// waitAdmissionEnforced waits until a dry-run acceptance by the probe user is refused.
func waitAdmissionEnforced(ctx context.Context, cp *ControlPlane, a *Applier) error {
	if err := a.Apply(ctx, []byte(admissionProbe)); err != nil {
		return err
	}
	cfg, err := cp.UserConfig("world-admission-probe")
	if err != nil {
		return err
	}
	probe, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	mc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
		"metadata": map[string]any{"name": "admission-probe"},
		"spec":     map[string]any{"hubAcceptsClient": true},
	}}
	gvr := schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1", Resource: "managedclusters"}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := probe.Resource(gvr).Create(ctx, mc, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "cannot update the HubAcceptsClient field"), nil
	})
	if err != nil {
		return fmt.Errorf("OCM admission policy not enforced: %w", err)
	}
	crs := a.Dynamic.Resource(schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"})
	if err := crs.Delete(ctx, "world-admission-probe", metav1.DeleteOptions{}); err != nil {
		return err
	}
	return a.Dynamic.Resource(schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}).
		Delete(ctx, "world-admission-probe", metav1.DeleteOptions{})
}
