package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func TestScrub(t *testing.T) {
	obj := func(s string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(s), &u.Object); err != nil {
			t.Fatal(err)
		}
		return u
	}
	text := func(u *unstructured.Unstructured) string {
		scrub(u)
		b, _ := yaml.Marshal(u.Object)
		return string(b)
	}
	secret := text(obj(`{kind: Secret, metadata: {name: s, managedFields: [{manager: x}],
		annotations: {kubectl.kubernetes.io/last-applied-configuration: '{"data":{"token":"c2VjcmV0"}}', keep: me}},
		data: {token: c2VjcmV0, ca.crt: Y2E=}, stringData: {password: hunter2}}`))
	for _, leak := range []string{"c2VjcmV0", "Y2E=", "hunter2", "managedFields", "last-applied"} {
		assert.NotContains(t, secret, leak)
	}
	assert.Contains(t, secret, "token: REDACTED")
	assert.Contains(t, secret, "password: REDACTED")
	assert.Contains(t, secret, "keep: me", "other annotations stay")

	csr := text(obj(`{kind: CertificateSigningRequest, metadata: {name: c}, spec: {request: UEVN, username: agent}, status: {certificate: Q0VSVA==, conditions: [{type: Approved}]}}`))
	assert.NotContains(t, csr, "UEVN")
	assert.NotContains(t, csr, "Q0VSVA==")
	assert.Contains(t, csr, "username: agent")
	assert.Contains(t, csr, "type: Approved")

	work := text(obj(`{kind: ManifestWork, metadata: {name: w}, spec: {workload: {manifests: [{kind: Secret, data: {kubeconfig: dG9rZW4=}}]}}, status: {conditions: [{type: Applied}]}}`))
	assert.NotContains(t, work, "dG9rZW4=")
	assert.Contains(t, work, "type: Applied")
}
