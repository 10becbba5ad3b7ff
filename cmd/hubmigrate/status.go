package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/hubmigrate/hubmigrate/reconcile"
)

// statusReport is `status -o json|yaml`: the migration as the controller
// sees it now, cluster by cluster.
type statusReport struct {
	Namespace string                     `json:"namespace"`
	Name      string                     `json:"name"`
	Phase     string                     `json:"phase"`
	From      string                     `json:"from"`
	To        string                     `json:"to"`
	Progress  string                     `json:"progress"`
	Next      []string                   `json:"next,omitempty"`
	Clusters  []reconcile.ClusterPreview `json:"clusters"`
}

func newStatusCommand() *cobra.Command {
	var (
		o      inspectFlags
		output string
		watch  bool
		every  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show each cluster of a migration: phase, since when, reason, and what happens next",
		Long: `status shows a migration cluster by cluster, as the controller sees it now:
it reads the same markers on the hubs, checks the same seals and runs the same
planner, and writes nothing. NEXT is what the controller's next reconcile does
for the cluster, or what it waits for.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "wide" {
				if err := checkDataFormat(output); err != nil {
					return err
				}
			}
			in, err := o.start(cmd.Context())
			if err != nil {
				return failed(err)
			}
			return failedIf(in.status(cmd.Context(), cmd.OutOrStdout(), args[0], output, watch, every))
		},
	}
	o.bind(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: wide (every next action), json or yaml (default: a table)")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "print again whenever something changes, until the migration is finished")
	cmd.Flags().DurationVar(&every, "interval", 2*time.Second, "how often --watch looks")
	return cmd
}

// failedIf is failed(err), or nil.
func failedIf(err error) error {
	if err == nil {
		return nil
	}
	return failed(err)
}

func (in *inspector) status(ctx context.Context, out io.Writer, name, output string, watch bool, every time.Duration) error {
	var last string
	for {
		u, err := in.home.Resource(reconcile.MigrationGVR).Namespace(in.namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && watch && last != "" {
			fmt.Fprintf(out, "managedclustermigration %s/%s is gone\n", in.namespace, name)
			return nil
		}
		if err != nil {
			return err
		}
		p, err := in.preview(ctx, u)
		if err != nil {
			return err
		}
		report := reportOf(u, p)
		var buf bytes.Buffer
		if output == "json" || output == "yaml" {
			err = printData(&buf, output, report)
		} else {
			err = printStatusTable(&buf, report, output == "wide", time.Now())
		}
		if err != nil {
			return err
		}
		// A table's SINCE column ages every second: compare without it.
		if now := withoutAges(report); now != last {
			if last != "" {
				fmt.Fprintln(out)
			}
			if _, err := out.Write(buf.Bytes()); err != nil {
				return err
			}
			last = now
		}
		if !watch || finished(report) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

func reportOf(u *unstructured.Unstructured, p *reconcile.Preview) statusReport {
	status := reconcile.Status(p.Plan, nil, p.Facts.Now)
	from, _, _ := unstructured.NestedString(u.Object, "spec", "from")
	to, _, _ := unstructured.NestedString(u.Object, "spec", "to")
	return statusReport{
		Namespace: u.GetNamespace(), Name: u.GetName(), From: from, To: to,
		Phase: fmt.Sprint(status["phase"]), Progress: fmt.Sprint(status["progress"]),
		Next: p.Next, Clusters: p.Clusters,
	}
}

// finished: every cluster is terminal and nothing is left to do.
func finished(r statusReport) bool {
	if len(r.Next) > 0 || (r.Phase != string(reconcile.Completed) && r.Phase != string(reconcile.Failed)) {
		return false
	}
	for _, c := range r.Clusters {
		if len(c.Next) > 0 {
			return false
		}
	}
	return true
}

func withoutAges(r statusReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %v\n", r.Phase, r.Progress, r.Next)
	for _, c := range r.Clusters {
		fmt.Fprintf(&b, "%s %s %v %s %s %v\n", c.Name, c.Phase, c.Since, c.Reason, c.Message, c.Next)
	}
	return b.String()
}

func printStatusTable(out io.Writer, r statusReport, wide bool, now time.Time) error {
	fmt.Fprintf(out, "managedclustermigration %s/%s: %s, %s → %s, %s completed\n", r.Namespace, r.Name, r.Phase, r.From, r.To, r.Progress)
	for _, n := range r.Next {
		fmt.Fprintf(out, "next: %s\n", n)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CLUSTER\tPHASE\tSINCE\tREASON\tNEXT")
	for _, c := range r.Clusters {
		since := "-"
		if c.Since != nil {
			since = duration.HumanDuration(now.Sub(*c.Since))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.Name, c.Phase, since, dash(c.Reason), nextOf(c, wide))
	}
	return w.Flush()
}

// nextOf is the NEXT column: the cluster's first action (all of them,
// wide), else what it waits for or what became of it.
func nextOf(c reconcile.ClusterPreview, wide bool) string {
	switch {
	case len(c.Next) == 0:
		return dash(c.Message)
	case wide || len(c.Next) == 1:
		return strings.Join(c.Next, "; ")
	}
	return fmt.Sprintf("%s (+%d more)", c.Next[0], len(c.Next)-1)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
