package reconcile

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Where the target has no OCM bootstrap ClusterRole, the migration makes its
// own with the same rules, binds its ServiceAccount to it, and deletes it
// with the ServiceAccount once the last cluster is terminal.
func TestPlanOwnedBootstrapClusterRole(t *testing.T) {
	w := newWorld().claimed(Initializing, nil)
	w.f.Target.BootstrapClusterRole = false
	w.f.ServiceAccount = newWorld().scaffolding().f.ServiceAccount

	p := PlanMigration(&w.f)
	require.Equal(t, []string{"Create target clusterroles hubmigrate-1234abcd"}, describe(p.Actions))
	role := p.Actions[0].Object
	assert.Equal(t, string(testOwner.UID), role.GetLabels()[LabelMigrationUID], "scaffolding: labelled, swept, deleted")
	rules, _ := role.Object["rules"].([]any)
	assert.Len(t, rules, 2)

	w.f.ClusterRole = &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "hubmigrate-1234abcd", UID: "role-uid"}}
	p = PlanMigration(&w.f)
	require.Equal(t, []string{"Create target clusterrolebindings hubmigrate-1234abcd"}, describe(p.Actions))
	assert.Equal(t, "hubmigrate-1234abcd", p.Actions[0].Object.Object["roleRef"].(map[string]any)["name"])

	withOCM := newWorld().claimed(Initializing, nil)
	withOCM.f.ServiceAccount = w.f.ServiceAccount
	p = PlanMigration(&withOCM.f)
	require.Equal(t, []string{"Create target clusterrolebindings hubmigrate-1234abcd"}, describe(p.Actions))
	assert.Equal(t, "open-cluster-management:bootstrap", p.Actions[0].Object.Object["roleRef"].(map[string]any)["name"])

	done := completed(t)
	done.f.ServiceAccount, done.f.Binding = nil, nil
	done.f.ClusterRole = w.f.ClusterRole
	assert.Equal(t, []string{"Delete target clusterroles hubmigrate-1234abcd"}, describe(PlanMigration(&done.f).Actions), "gone before results")
}
