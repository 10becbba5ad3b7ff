package reconcile

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unseen is the world as the controller hands it to the planner when a hub
// cannot be seen: the hub's facts say why, and no cluster object is known.
func unseen(w *world, role HubRole, problem, message string) *world {
	hf := &w.f.Source
	if role == Target {
		hf = &w.f.Target
	}
	*hf = HubFacts{Problem: problem, ProblemMessage: message}
	for i := range w.f.Clusters {
		if role == Source {
			w.f.Clusters[i].Source = SourceFacts{}
		} else {
			w.f.Clusters[i].Target = TargetFacts{}
		}
	}
	if role == Source {
		w.f.PlacementDecisions = nil
	} else {
		w.f.ServiceAccount, w.f.Binding = nil, nil
	}
	return w
}

// pastValidating moves the clock past the Validating timeout from started-at,
// the controller having seen every cluster waiting since then.
func pastValidating(w *world) *world {
	start := since(w.f.Migration.Annotations[AnnStartedAt])
	w.f.Now = start.Add(defaultStageTimeout)
	w.f.Waiting = map[string]time.Time{}
	for _, c := range w.f.Clusters {
		w.f.Waiting[c.Name] = start
	}
	return w
}

func TestPlanHubProblems(t *testing.T) {
	cases := []struct {
		name    string
		world   *world
		want    []string
		phase   Phase
		reason  string // the cluster's reason, when it has one
		hubs    string // the HubsReady reason ("" when ready)
		results bool   // results are written
	}{
		{
			name:  "no kubeconfig Secret for the target: the source shows no claim, so it waits in Validating until the deadline",
			world: unseen(newWorld(), Target, "HubUnknown", "hub hub2: no Secret hubmigrate/hub2-kubeconfig"),
			phase: Validating, hubs: "HubUnknown",
		},
		{
			name:  "the source unreachable: nothing can be said, its phase is unknown",
			world: unseen(newWorld(), Source, "HubUnreachable", "hub hub1: connection refused"),
			phase: Unknown, hubs: "HubUnreachable",
		},
		{
			name:  "the target unreachable while the cluster is in flight: unknown, it waits (no timeout can roll it back without the target)",
			world: pastValidating(unseen(newWorld().registering(nil), Target, "HubUnreachable", "hub hub2: connection refused")),
			phase: Unknown, hubs: "HubUnreachable",
		},
		{
			name: "recorded while the target was unseen, the source showing no claim: results, though the target is still unseen",
			world: func() *world {
				w := pastValidating(unseen(newWorld(), Target, "HubUnknown", "no Secret"))
				w.f.Migration.Annotations[AnnUnclaimedFailures] = `{"c1":"HubUnknown"}`
				return w
			}(),
			want:  []string{"Update home managedclustermigrations move"},
			phase: Failed, reason: "HubUnknown", hubs: "HubUnknown", results: true,
		},
		{
			name:  "a kubeconfig Secret that holds no kubeconfig, past the timeout: recorded on the migration, nothing else",
			world: pastValidating(unseen(newWorld(), Source, "KubeconfigInvalid", "hub hub1: Secret hub1-kubeconfig holds no valid kubeconfig")),
			want:  []string{"Update home managedclustermigrations move"},
			phase: Failed, reason: "KubeconfigInvalid", hubs: "KubeconfigInvalid",
		},
		{
			name: "recorded while the source was unseen; still unseen: no results (a claim may hide there)",
			world: func() *world {
				w := pastValidating(unseen(newWorld(), Source, "HubUnreachable", "connection refused"))
				w.f.Migration.Annotations[AnnUnclaimedFailures] = `{"c1":"HubUnreachable"}`
				return w
			}(),
			phase: Failed, reason: "HubUnreachable", hubs: "HubUnreachable",
		},
		{
			name: "recorded while the source was unseen; back, showing no claim: results",
			world: func() *world {
				w := pastValidating(newWorld())
				w.f.Migration.Annotations[AnnUnclaimedFailures] = `{"c1":"HubUnreachable"}`
				return w
			}(),
			want:  []string{"Update home managedclustermigrations move"},
			phase: Failed, reason: "HubUnreachable", results: true,
		},
		{
			name: "recorded while the source was unseen; back, showing this migration's claim: the claim wins",
			world: func() *world {
				w := newWorld().claimed(Initializing, nil)
				w.f.Migration.Annotations[AnnUnclaimedFailures] = `{"c1":"HubUnreachable"}`
				return w
			}(),
			want:  []string{"Create target serviceaccounts hubmigrate-1234abcd"},
			phase: Initializing,
		},
		{
			name: "the source does not serve KlusterletConfig: not an ACM hub, waits",
			world: func() *world {
				w := newWorld()
				w.f.Source.ServesKlusterletConfig = false
				return w
			}(),
			phase: Validating, reason: "", hubs: "NotACMHub",
		},
		{
			name: "the target does not serve KlusterletConfig, past the timeout: failed before a claim",
			world: func() *world {
				w := pastValidating(newWorld())
				w.f.Target.ServesKlusterletConfig = false
				return w
			}(),
			want:  []string{"Update home managedclustermigrations move"},
			phase: Failed, reason: "NotACMHub", hubs: "NotACMHub",
		},
		{
			name: "no registration address for the target, past the timeout: failed before a claim",
			world: func() *world {
				w := pastValidating(newWorld())
				w.f.Target.RegistrationAddress = ""
				return w
			}(),
			want:  []string{"Update home managedclustermigrations move"},
			phase: Failed, reason: "NoRegistrationAddress", hubs: "NoRegistrationAddress",
		},
		{
			name: "deleted while the source is unseen: nothing recorded, it waits (or for abandon)",
			world: func() *world {
				w := pastValidating(unseen(newWorld(), Source, "HubUnreachable", "i/o timeout"))
				w.f.Migration.Deleting = true
				return w
			}(),
			phase: Unknown, hubs: "HubUnreachable",
		},
		{
			name: "deleted while the target is unseen, the source showing no claim: failed before a claim",
			world: func() *world {
				w := unseen(newWorld(), Target, "HubUnreachable", "i/o timeout")
				w.f.Migration.Deleting = true
				return w
			}(),
			want:  []string{"Update home managedclustermigrations move"},
			phase: Failed, reason: "MigrationDeleted", hubs: "HubUnreachable",
		},
		{
			name: "a finished migration deleted while a hub is unseen: its records cannot be seen, the finalizer stays",
			world: func() *world {
				w := unseen(completed(t), Source, "HubUnreachable", "connection refused")
				w.f.Migration.Annotations = map[string]string{AnnResults: `{"c1":"Completed"}`}
				w.f.Migration.Deleting = true
				return w
			}(),
			phase: Completed,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := PlanMigration(&tc.world.f)
			assert.Equal(t, tc.want, describe(p.Actions))
			require.Len(t, p.Clusters, 1)
			assert.Equal(t, tc.phase, p.Clusters[0].Phase)
			assert.Equal(t, tc.reason, p.Clusters[0].Reason)
			if tc.hubs == "" {
				assert.Nil(t, p.Hubs)
			} else {
				require.NotNil(t, p.Hubs)
				assert.Equal(t, tc.hubs, p.Hubs.Reason)
				assert.NotEmpty(t, p.Hubs.Message)
			}
			wroteResults := false
			for _, a := range p.Actions {
				if a.Object != nil && a.Object.GetAnnotations()[AnnResults] != "" {
					wroteResults = true
				}
				assert.NotEqual(t, ReleaseFinalizer, a.Kind)
			}
			assert.Equal(t, tc.results, wroteResults, "results")
			if (tc.phase == Unknown && !tc.world.f.Target.Reachable == false || tc.phase == Validating) && !tc.world.f.Migration.Deleting {
				assert.Positive(t, p.Requeue, "woken at the Validating deadline")
			}
			if tc.hubs != "" {
				cond := statusCondition(Status(p, nil, testNow), HubsReadyCondition)
				assert.Equal(t, "False", cond["status"])
				assert.Equal(t, tc.hubs, cond["reason"])
			}
		})
	}
}

func TestPlanEmptyPlacement(t *testing.T) {
	w := newWorld()
	w.f.Migration.Listed, w.f.Migration.PlacementRef, w.f.Clusters = nil, "prod", nil
	p := PlanMigration(&w.f)
	assert.Empty(t, p.Actions, "no decisions: it waits")
	assert.Equal(t, "Pending", Status(p, nil, testNow)["phase"])

	pastValidating(w)
	p = PlanMigration(&w.f)
	require.Len(t, p.Actions, 1)
	assert.Equal(t, `{"":"Failed:EmptyPlacement"}`, p.Actions[0].Object.GetAnnotations()[AnnResults])

	w.f.Migration.Annotations[AnnResults] = `{"":"Failed:EmptyPlacement"}`
	p = PlanMigration(&w.f)
	assert.Empty(t, p.Actions, "terminal for good")
	s := Status(p, nil, testNow)
	assert.Equal(t, "Failed", s["phase"])
	assert.Equal(t, "0/0", s["progress"])
	assert.Equal(t, "EmptyPlacement", statusCondition(s, "MigrationStarted")["reason"])
}

func statusCondition(status map[string]any, condType string) map[string]any {
	for _, c := range status["conditions"].([]any) {
		if m := c.(map[string]any); m["type"] == condType {
			return m
		}
	}
	return nil
}

// A finished migration that never claimed a cluster is released although a
// hub cannot be seen: nothing of it can be there.
func TestReleaseWithAnUnseenHubOnlyWhenNothingWasClaimed(t *testing.T) {
	w := unseen(newWorld(), Target, "HubUnknown", "no Secret")
	w.f.Migration.Annotations[AnnUnclaimedFailures] = `{"c1":"HubUnknown"}`
	w.f.Migration.Annotations[AnnResults] = `{"c1":"Failed:HubUnknown"}`
	w.f.Migration.Deleting = true
	assert.Equal(t, []string{"ReleaseFinalizer home managedclustermigrations move"}, describe(PlanMigration(&w.f).Actions))

	delete(w.f.Migration.Annotations, AnnUnclaimedFailures)
	w.f.Migration.Annotations[AnnResults] = `{"c1":"Failed:RegisteringTimeout"}`
	assert.Empty(t, PlanMigration(&w.f).Actions, "a claimed cluster's records may be on the unseen hub")
}
