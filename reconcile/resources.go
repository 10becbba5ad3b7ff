package reconcile

//hubmigrate:pure

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/hubmigrate/hubmigrate/informers"
)

// The resources hubmigrate reads and writes (the OCM and ACM ones as the
// caches name them). OCM and ACM objects are handled as unstructured: the
// product imports none of their Go modules.
var (
	ManagedClusterGVR        = informers.ManagedClusters
	ManifestWorkGVR          = informers.ManifestWorks
	KlusterletConfigGVR      = informers.KlusterletConfigs
	KlusterletAddonConfigGVR = informers.KlusterletAddonConfigs
	ManagedClusterAddOnGVR   = informers.ManagedClusterAddOns
	PlacementDecisionGVR     = informers.PlacementDecisions
	MigrationGVR             = schema.GroupVersionResource{Group: "global-hub.open-cluster-management.io", Version: "v1alpha1", Resource: "managedclustermigrations"}

	NamespaceGVR          = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	SecretGVR             = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	ConfigMapGVR          = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	ServiceAccountGVR     = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	ClusterRoleBindingGVR = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}
	ClusterRoleGVR        = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
	CSRGVR                = schema.GroupVersionResource{Group: "certificates.k8s.io", Version: "v1", Resource: "certificatesigningrequests"}
)
