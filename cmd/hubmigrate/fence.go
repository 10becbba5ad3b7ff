package main

import (
	"context"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/hubmigrate/hubmigrate/manifests"
)

// applyFence installs manifests/base/hub-fence.yaml for hubmigrate's
// identity on a hub (SPEC "Trust boundaries" rule 6): what RBAC grants it
// is usable only as hubmigrate uses it. It returns the policy's name.
func applyFence(ctx context.Context, hub kubernetes.Interface, identity, bootstrapNamespace string) (string, error) {
	doc, err := manifests.HubFence(identity, bootstrapNamespace)
	if err != nil {
		return "", err
	}
	parts := strings.Split(string(doc), "\n---\n")
	if len(parts) != 2 {
		return "", fmt.Errorf("hub-fence.yaml: want a policy and its binding, got %d documents", len(parts))
	}
	var policy admissionregistrationv1.ValidatingAdmissionPolicy
	var binding admissionregistrationv1.ValidatingAdmissionPolicyBinding
	if err := yaml.UnmarshalStrict([]byte(parts[0]), &policy); err != nil {
		return "", err
	}
	if err := yaml.UnmarshalStrict([]byte(parts[1]), &binding); err != nil {
		return "", err
	}
	policies := hub.AdmissionregistrationV1().ValidatingAdmissionPolicies()
	if err := upsert(ctx, "ValidatingAdmissionPolicy "+policy.Name, func() error {
		_, err := policies.Create(ctx, &policy, metav1.CreateOptions{})
		return err
	}, func() error {
		live, err := policies.Get(ctx, policy.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		live.Spec = policy.Spec
		_, err = policies.Update(ctx, live, metav1.UpdateOptions{})
		return err
	}); err != nil {
		return "", err
	}
	bindings := hub.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings()
	if err := upsert(ctx, "ValidatingAdmissionPolicyBinding "+binding.Name, func() error {
		_, err := bindings.Create(ctx, &binding, metav1.CreateOptions{})
		return err
	}, func() error {
		live, err := bindings.Get(ctx, binding.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		live.Spec = binding.Spec
		_, err = bindings.Update(ctx, live, metav1.UpdateOptions{})
		return err
	}); err != nil {
		return "", err
	}
	return policy.Name, nil
}
