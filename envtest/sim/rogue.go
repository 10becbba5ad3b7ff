package sim

import (
	"context"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// rogueApprover is a third party acting on a cluster's CSR behind hubmigrate's
// back: armed by RogueOnNextCSR, it approves or denies the next pending CSR of
// the cluster on the hub, once.
func (s *Simulator) rogueApprover(ctx context.Context, h *hub, cluster string, _ *unstructured.Unstructured) error {
	c := s.cluster(cluster)
	if c == nil {
		return nil
	}
	c.mu.Lock()
	approve, armed := c.rogue[h.Name]
	c.mu.Unlock()
	if !armed {
		return nil
	}
	for _, obj := range h.csrs.List() {
		csr := obj.(*certificatesv1.CertificateSigningRequest)
		if csr.Labels[LabelClusterName] != cluster || finished(csr) {
			continue
		}
		csr = csr.DeepCopy()
		cond := certificatesv1.CertificateSigningRequestCondition{
			Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "RogueDenied", Message: "denied by the simulator's rogue approver",
		}
		if approve {
			cond.Type, cond.Reason, cond.Message = certificatesv1.CertificateApproved, "RogueApproved", "approved by the simulator's rogue approver"
		}
		csr.Status.Conditions = append(csr.Status.Conditions, cond)
		if _, err := h.kube.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return err
		}
		c.mu.Lock()
		delete(c.rogue, h.Name)
		c.mu.Unlock()
		return nil
	}
	return nil
}
