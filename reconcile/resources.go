package reconcile

import "k8s.io/apimachinery/pkg/runtime/schema"

// The resources hubmigrate reads and writes. OCM and ACM objects are handled
// as unstructured: the product imports none of their Go modules.
var (
	ManagedClusterGVR        = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1", Resource: "managedclusters"}
	ManifestWorkGVR          = schema.GroupVersionResource{Group: "work.open-cluster-management.io", Version: "v1", Resource: "manifestworks"}
	KlusterletConfigGVR      = schema.GroupVersionResource{Group: "config.open-cluster-management.io", Version: "v1alpha1", Resource: "klusterletconfigs"}
	KlusterletAddonConfigGVR = schema.GroupVersionResource{Group: "agent.open-cluster-management.io", Version: "v1", Resource: "klusterletaddonconfigs"}
	ManagedClusterAddOnGVR   = schema.GroupVersionResource{Group: "addon.open-cluster-management.io", Version: "v1alpha1", Resource: "managedclusteraddons"}
	PlacementDecisionGVR     = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1beta1", Resource: "placementdecisions"}
	MigrationGVR             = schema.GroupVersionResource{Group: "global-hub.open-cluster-management.io", Version: "v1alpha1", Resource: "managedclustermigrations"}

	NamespaceGVR          = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	SecretGVR             = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	ConfigMapGVR          = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	ServiceAccountGVR     = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	ClusterRoleBindingGVR = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}
	CSRGVR                = schema.GroupVersionResource{Group: "certificates.k8s.io", Version: "v1", Resource: "certificatesigningrequests"}
)
