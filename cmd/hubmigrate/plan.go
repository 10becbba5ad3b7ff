package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/hubmigrate/hubmigrate/reconcile"
)

// Verdicts of `plan`, per cluster.
const (
	verdictMigrates = "migrates"
	verdictRefused  = "refused"
	verdictUnknown  = "unknown" // a hub cannot be seen
	verdictDone     = "done"    // already finished by this migration
)

// planReport is `plan -o json|yaml`.
type planReport struct {
	Namespace string           `json:"namespace"`
	Name      string           `json:"name"`
	From      string           `json:"from"`
	To        string           `json:"to"`
	Exists    bool             `json:"exists"`
	Hubs      []hubReadiness   `json:"hubs"`
	Clusters  []plannedCluster `json:"clusters"`
}

// hubReadiness says whether hubmigrate can work on a hub: its problem (no
// credential, unreachable, ...) and the hub role's permissions its identity
// lacks.
type hubReadiness struct {
	Hub     string   `json:"hub"`
	Role    string   `json:"role"` // source or target
	Problem string   `json:"problem,omitempty"`
	Missing []string `json:"missing,omitempty"`
}

type plannedCluster struct {
	Name    string          `json:"name"`
	Verdict string          `json:"verdict"`
	Phase   reconcile.Phase `json:"phase"`
	Reason  string          `json:"reason,omitempty"`
	Message string          `json:"message,omitempty"`
	Next    []string        `json:"next,omitempty"`
}

func newPlanCommand() *cobra.Command {
	var (
		o      inspectFlags
		file   string
		output string
	)
	cmd := &cobra.Command{
		Use:   "plan (-f FILE | NAME)",
		Short: "Say, before anything is claimed, which clusters a migration would move and which would be refused, and why",
		Long: `plan runs the controller's own planner over what the hubs show now, with the
controller's credentials and seal key, and writes nothing (a file is checked by
the API server with a dry-run create). It adds what only the actions would find:
the hub role's permissions each hub grants hubmigrate (SelfSubjectAccessReviews)
and objects already at the names of the copies on the target. The exit code is
1 when any cluster would be refused or cannot be seen.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if (file == "") == (len(args) == 0) || len(args) > 1 {
				return errors.New("give a migration file (-f) or the name of a migration, not both")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkDataFormat(output); err != nil {
				return err
			}
			in, err := o.start(cmd.Context())
			if err != nil {
				return failed(err)
			}
			var u *unstructured.Unstructured
			exists := true
			if file != "" {
				u, exists, err = in.fromFile(cmd.Context(), file)
			} else {
				u, err = in.home.Resource(reconcile.MigrationGVR).Namespace(in.namespace).Get(cmd.Context(), args[0], metav1.GetOptions{})
			}
			if err != nil {
				return failed(err)
			}
			report, err := in.plan(cmd.Context(), u, exists)
			if err != nil {
				return failed(err)
			}
			if output != "" {
				err = printData(cmd.OutOrStdout(), output, report)
			} else {
				err = printPlanTable(cmd.OutOrStdout(), report)
			}
			if err != nil {
				return failed(err)
			}
			for _, c := range report.Clusters {
				if c.Verdict == verdictRefused || c.Verdict == verdictUnknown {
					return &exitCode{code: 1}
				}
			}
			return nil
		},
	}
	o.bind(cmd.Flags())
	cmd.Flags().StringVarP(&file, "filename", "f", "", "a ManagedClusterMigration to plan before it is created (- for stdin)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: a table)")
	return cmd
}

// fromFile reads a migration and has the API server check it (a dry-run
// create: the schema, the CEL rules, admission). One that exists already is
// planned as it is.
func (in *inspector) fromFile(ctx context.Context, path string) (*unstructured.Unstructured, bool, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, false, err
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &u.Object); err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	gvk := u.GroupVersionKind()
	if gvk.Group != reconcile.MigrationGVR.Group || gvk.Kind != "ManagedClusterMigration" {
		return nil, false, fmt.Errorf("%s: a %s, not a ManagedClusterMigration (%s)", path, gvk.Kind, reconcile.MigrationGVR.GroupVersion())
	}
	if u.GetNamespace() == "" {
		u.SetNamespace(in.namespace)
	}
	migrations := in.home.Resource(reconcile.MigrationGVR).Namespace(u.GetNamespace())
	checked, err := migrations.Create(ctx, u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if apierrors.IsAlreadyExists(err) {
		live, err := migrations.Get(ctx, u.GetName(), metav1.GetOptions{})
		return live, true, err
	}
	if err != nil {
		return nil, false, err
	}
	// As the controller's first reconcile leaves it: its clock started.
	if checked.GetUID() == "" {
		checked.SetUID(uuid.NewUUID())
	}
	anns := checked.GetAnnotations()
	if anns == nil {
		anns = map[string]string{}
	}
	anns[reconcile.AnnStartedAt] = time.Now().UTC().Format(time.RFC3339)
	checked.SetAnnotations(anns)
	checked.SetFinalizers(append(checked.GetFinalizers(), reconcile.Finalizer))
	return checked, false, nil
}

func (in *inspector) plan(ctx context.Context, u *unstructured.Unstructured, exists bool) (*planReport, error) {
	p, err := in.previewAhead(ctx, u)
	if err != nil {
		return nil, err
	}
	m := p.Facts.Migration
	report := &planReport{Namespace: u.GetNamespace(), Name: u.GetName(), From: m.From, To: m.To, Exists: exists}
	forbidden := []string{}
	var target dynamic.Interface
	for _, hub := range []struct {
		name, role string
		facts      reconcile.HubFacts
	}{{m.From, "source", p.Facts.Source}, {m.To, "target", p.Facts.Target}} {
		r := hubReadiness{Hub: hub.name, Role: hub.role}
		if !hub.facts.Reachable {
			r.Problem = hub.facts.Problem + ": " + hub.facts.ProblemMessage
			report.Hubs = append(report.Hubs, r)
			continue
		}
		h, err := in.registry.Hub(hub.name)
		if err != nil {
			return nil, err
		}
		kube, err := kubernetes.NewForConfig(h.Config)
		if err != nil {
			return nil, err
		}
		perms, err := reviewHubRole(ctx, kube)
		if err != nil {
			return nil, fmt.Errorf("hub %s: %w", hub.name, err)
		}
		for _, perm := range perms {
			if !perm.Allowed {
				r.Missing = append(r.Missing, perm.String())
				forbidden = append(forbidden, hub.name+": "+perm.String())
			}
		}
		if hub.role == "target" {
			if target, err = dynamic.NewForConfig(h.Config); err != nil {
				return nil, err
			}
		}
		report.Hubs = append(report.Hubs, r)
	}
	for _, c := range p.Clusters {
		pc := plannedCluster{Name: c.Name, Phase: c.Phase, Reason: c.Reason, Message: c.Message, Next: c.Next}
		switch {
		case c.Phase == reconcile.Completed:
			pc.Verdict = verdictDone
		case c.Phase == reconcile.Unknown:
			pc.Verdict = verdictUnknown
		case c.Reason != "":
			pc.Verdict = verdictRefused
		default:
			pc.Verdict = verdictMigrates
		}
		if pc.Verdict == verdictMigrates && len(forbidden) > 0 {
			pc.Verdict, pc.Reason, pc.Message = verdictRefused, "Forbidden", "hubmigrate may not "+strings.Join(forbidden, "; ")
		}
		if pc.Verdict == verdictMigrates && target != nil {
			collision, err := collisionOf(ctx, target, p.CopyRefs(c.Name), m.Owner.String())
			if err != nil {
				return nil, err
			}
			if collision != "" {
				pc.Verdict, pc.Reason, pc.Message = verdictRefused, "CopyCollision", collision
			}
		}
		report.Clusters = append(report.Clusters, pc)
	}
	return report, nil
}

// collisionOf names the first object at a copy's name on the target that
// is not the migration's (owner), as the copy's create would find it.
func collisionOf(ctx context.Context, target dynamic.Interface, refs []reconcile.Ref, owner string) (string, error) {
	for _, ref := range refs {
		obj, err := target.Resource(ref.GVR).Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return "", err
		}
		if obj.GetAnnotations()[reconcile.AnnOwner] != owner {
			return fmt.Sprintf("%s is on the target and not this migration's", ref), nil
		}
	}
	return "", nil
}

func printPlanTable(out io.Writer, r *planReport) error {
	state := "not created yet"
	if r.Exists {
		state = "exists"
	}
	counts := map[string]int{}
	for _, c := range r.Clusters {
		counts[c.Verdict]++
	}
	fmt.Fprintf(out, "managedclustermigration %s/%s (%s): %s → %s, %d clusters: %d would migrate, %d refused",
		r.Namespace, r.Name, state, r.From, r.To, len(r.Clusters), counts[verdictMigrates], counts[verdictRefused])
	if n := counts[verdictUnknown]; n > 0 {
		fmt.Fprintf(out, ", %d unknown", n)
	}
	if n := counts[verdictDone]; n > 0 {
		fmt.Fprintf(out, ", %d done", n)
	}
	fmt.Fprintln(out)
	for _, h := range r.Hubs {
		switch {
		case h.Problem != "":
			fmt.Fprintf(out, "%s hub %s: %s\n", h.Role, h.Hub, h.Problem)
		case len(h.Missing) > 0:
			fmt.Fprintf(out, "%s hub %s: hubmigrate may not %s\n", h.Role, h.Hub, strings.Join(h.Missing, ", "))
		}
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CLUSTER\tVERDICT\tREASON\tDETAIL")
	for _, c := range r.Clusters {
		detail := c.Message
		if c.Verdict == verdictMigrates && len(c.Next) > 0 {
			detail = "first: " + c.Next[0]
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.Name, c.Verdict, dash(c.Reason), dash(detail))
	}
	return w.Flush()
}
