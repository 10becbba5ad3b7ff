// Package manifests holds what an admin applies to run hubmigrate: the
// ManagedClusterMigration CRD and the least-privilege roles. The files are
// embedded so the tests install exactly what users apply.
package manifests

import _ "embed"

// MigrationCRD is the ManagedClusterMigration CustomResourceDefinition.
//
//go:embed base/crd-managedclustermigrations.yaml
var MigrationCRD []byte

// HubRole is the ClusterRole hubmigrate's identity holds on every hub it
// migrates from or to.
//
//go:embed base/hub-role.yaml
var HubRole []byte

// HomeRole is what hubmigrate's identity holds on its home cluster.
//
//go:embed base/home-role.yaml
var HomeRole []byte

// PrometheusRule holds the alerts on hubmigrate's metrics.
//
//go:embed base/prometheusrule.yaml
var PrometheusRule []byte
