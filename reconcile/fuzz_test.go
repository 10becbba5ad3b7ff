package reconcile

import (
	"bytes"
	"encoding/pem"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Fuzz targets for what a hub user, a member cluster or a migration's author
// can write and hubmigrate parses (SPEC "Trust boundaries"; issue 15). `go
// test` runs the seeds; `go test -fuzz FuzzX ./reconcile/` explores.

// FuzzParseOwner: any owner annotation parses or is refused, never panics;
// what parses is exactly namespace/name/uid and prints back the same.
func FuzzParseOwner(f *testing.F) {
	for _, seed := range []string{"ops/move/1234", "", "a/b", "a/b/c/d", "//", "a//c", "ops/move/" + strings.Repeat("x", 300)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseOwner(s)
		if err != nil {
			return
		}
		if o.String() != s || o.Namespace == "" || o.Name == "" || o.UID == "" {
			t.Fatalf("%q parsed as %+v", s, o)
		}
	})
}

// FuzzResults: a results annotation edited into anything reads as some
// outcomes or none, never panics.
func FuzzResults(f *testing.F) {
	for _, seed := range []string{`{"c1":"Completed","c2":"Failed:RegisteringTimeout"}`, `{}`, `[]`, `{"c1":1}`, `{"":":::"}`, "\x00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, o := range outcomesOf(s) {
			if strings.Contains(string(o.Phase), ":") {
				t.Fatalf("%q: phase %q", s, o.Phase)
			}
		}
	})
}

// FuzzSealVerify: whatever a user writes as the seal or as a marker, Verify
// never panics, and a seal verifies only the markers it was made over — any
// change of a marker's value, or a marker added, is caught.
func FuzzSealVerify(f *testing.F) {
	f.Add(AnnCommitted, "csr/uid", "")
	f.Add(AnnOwner, "ops/other/uid", "v1u.00000000.AAAA")
	f.Add(Prefix+"x", "", "v1c..")
	f.Add("other.io/y", "z", "garbage")
	f.Add(AnnSeal, "v1u.x.y", "")
	f.Fuzz(func(t *testing.T, key, value, seal string) {
		s := testSealer(t, 1)
		mc := mcObj("c1", "uid-c1", map[string]string{LabelMigrationUID: "m"}, map[string]string{AnnOwner: "ops/m/m", AnnReason: "R"})
		s.Seal("managedclusters", mc)
		sealed := mc.GetAnnotations()[AnnSeal]
		anns := mc.GetAnnotations()
		before, had := anns[key]
		anns[key] = value
		mc.SetAnnotations(anns)
		err := s.Verify("managedclusters", mc)
		changedMarker := strings.HasPrefix(key, Prefix) && key != AnnSeal && (!had || before != value)
		if changedMarker && err == nil {
			t.Fatalf("marker %s=%q changed, and the seal still verifies", key, value)
		}
		if !strings.HasPrefix(key, Prefix) && err != nil {
			t.Fatalf("a change outside the markers (%s) broke the seal: %v", key, err)
		}
		// A seal written by someone without the key never verifies.
		anns = mc.GetAnnotations()
		anns[AnnSeal] = seal
		mc.SetAnnotations(anns)
		if s.Verify("managedclusters", mc) == nil && seal != sealed {
			t.Fatalf("a seal %q written without the key verifies", seal)
		}
	})
}

// FuzzRegistrationCSR: whatever a member cluster puts in its CSR's request,
// the checks never panic, and bytes that are not a request signed for this
// cluster never pass.
func FuzzRegistrationCSR(f *testing.F) {
	good := agentCSR(f, nil)
	f.Add(good.Spec.Request)
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0x03, 0x02, 0x01, 0x01}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, request []byte) {
		csr := good.DeepCopy()
		csr.Spec.Request = request
		err := checkRegistrationCSR(csr, testCredential)
		_ = csrCommonName(csr)
		if err == nil && !bytes.Equal(request, good.Spec.Request) {
			block, _ := pem.Decode(request)
			if block == nil {
				t.Fatalf("passed without a PEM block: %q", request)
			}
		}
	})
}

// FuzzBootstrapToken: a bootstrap Secret's kubeconfig edited into anything
// yields a token or an error, never a panic.
func FuzzBootstrapToken(f *testing.F) {
	f.Add(bootstrapSecret("jti-c1").Data["kubeconfig"])
	f.Add([]byte("apiVersion: v1\nkind: Config\nusers: [{name: x, user: {token: abc}}]"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = bootstrapToken(&corev1.Secret{Data: map[string][]byte{"kubeconfig": data}})
	})
}
