package envtest

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
