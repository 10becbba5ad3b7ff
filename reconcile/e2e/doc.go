// Package e2e runs hubmigrate's controller against the test world: real API
// servers, the simulated managed clusters, the product under its hub role.
package e2e
