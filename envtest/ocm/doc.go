// Package ocm is the test tier where the switch between hubs is done by Open
// Cluster Management's own code: OCM's registration hub controller on every
// hub and OCM's klusterlet agent (registration, and in Singleton mode the
// work agent in the same process) for every managed cluster, each in a child
// process of its own (OCM's feature gates are process-global), restarted when
// it exits as a kubelet would restart its container.
//
// It is a Go module of its own, so neither hubmigrate's go.mod nor its binary
// gains OCM's dependencies. What OCM alone does not do keeps its stand-ins:
// ACM's import controller, the klusterlet operator that turns a rendered
// klusterlet into the agent's flags and files, the CSR signer
// (kube-controller-manager, from the test world) and the namespace controller.
package ocm
