package envtest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
)

// terminatingNamespaceWebhook is the part of OCM's ManagedCluster webhook that
// CEL cannot express: accepting a cluster (hubAcceptsClient=true on create, or
// false→true) is refused while its namespace is Terminating. It runs in the
// test process, one per hub, served with the hub's CA.
type terminatingNamespaceWebhook struct {
	server *http.Server
	url    string
}

func startTerminatingNamespaceWebhook(cp *ControlPlane) (*terminatingNamespaceWebhook, error) {
	kube, err := kubernetes.NewForConfig(cp.AdminConfig())
	if err != nil {
		return nil, err
	}
	serving, err := cp.CA.ServingCert()
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(serving.CertPEM, serving.KeyPEM)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/managedclusters", func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, "bad admission review", http.StatusBadRequest)
			return
		}
		review.Response = admitAcceptance(r.Context(), kube, review.Request)
		review.Response.UID = review.Request.UID
		review.Request = nil
		_ = json.NewEncoder(w).Encode(&review)
	})
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	return &terminatingNamespaceWebhook{server: srv, url: fmt.Sprintf("https://%s/managedclusters", l.Addr())}, nil
}

func admitAcceptance(ctx context.Context, kube kubernetes.Interface, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	allowed := &admissionv1.AdmissionResponse{Allowed: true}
	var obj, old unstructured.Unstructured
	if err := obj.UnmarshalJSON(req.Object.Raw); err != nil {
		return allowed
	}
	accepting, _, _ := unstructured.NestedBool(obj.Object, "spec", "hubAcceptsClient")
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 && old.UnmarshalJSON(req.OldObject.Raw) == nil {
		was, _, _ := unstructured.NestedBool(old.Object, "spec", "hubAcceptsClient")
		accepting = accepting && !was
	}
	if !accepting {
		return allowed
	}
	ns, err := kube.CoreV1().Namespaces().Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && ns.DeletionTimestamp == nil) {
		return allowed
	}
	msg := fmt.Sprintf("the namespace %s is terminating, cannot accept the cluster now; retry later", obj.GetName())
	if err != nil {
		msg = "cannot read the cluster namespace: " + err.Error()
	}
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden, Message: msg,
	}}
}

func (w *terminatingNamespaceWebhook) configuration(caPEM []byte) []byte {
	return []byte(fmt.Sprintf(`
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: ocm-managedcluster-terminating-namespace
webhooks:
- name: terminating-namespace.managedclusters.hubmigrate.test
  admissionReviewVersions: ["v1"]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 5
  clientConfig:
    url: %q
    caBundle: %q
  rules:
  - apiGroups: ["cluster.open-cluster-management.io"]
    apiVersions: ["*"]
    operations: ["CREATE", "UPDATE"]
    resources: ["managedclusters"]
`, w.url, encodeBase64(caPEM)))
}

func (w *terminatingNamespaceWebhook) stop() {
	if w != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = w.server.Shutdown(ctx)
	}
}
