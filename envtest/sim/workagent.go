package sim

import (
	"context"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// syncWorkAgent plays the klusterlet's work agent for the <cluster>-klusterlet
// work on the hub its certificate is for. It reads and updates the work with
// the agent's own certificate, so it works exactly while OCM's RBAC lets it
// (the work RoleBinding survives hubAcceptsClient=false while works exist). In
// Singleton mode it runs only while the registration agent is joined.
func (s *Simulator) syncWorkAgent(ctx context.Context, c *Cluster) error {
	if c.hubCred == nil || (c.mode == Singleton && c.state != Joined) {
		return nil
	}
	h := s.byURL[c.hubCred.Server]
	cl, err := s.hubClients(h, c.hubCred)
	if err != nil {
		return err
	}
	works := cl.dyn.Resource(ManifestWorkGVR).Namespace(c.Name)
	work, err := works.Get(ctx, KlusterletWorkName(c.Name), metav1.GetOptions{})
	if err != nil {
		// Absent, or this certificate may not read it (any more): nothing to apply.
		return nil
	}
	// OCM's work agent holds every work it applies with its finalizer and
	// removes it once it has handled the deletion (the klusterlet work is
	// Orphan: nothing to remove on the cluster). Only the agent connected to
	// this hub does; one that has moved on leaves the work held here.
	if work.GetDeletionTimestamp() != nil {
		if !slices.Contains(work.GetFinalizers(), finalizerWorkCleanup) {
			return nil
		}
		work.SetFinalizers(slices.DeleteFunc(work.GetFinalizers(), func(f string) bool { return f == finalizerWorkCleanup }))
		if _, err := works.Update(ctx, work, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err) {
			return err
		}
		return nil
	}
	if !slices.Contains(work.GetFinalizers(), finalizerWorkCleanup) {
		work.SetFinalizers(append(work.GetFinalizers(), finalizerWorkCleanup))
		if work, err = works.Update(ctx, work, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsForbidden(err) {
				return nil
			}
			return err
		}
	}
	cfg, err := parseKlusterletWork(work)
	if err != nil {
		klog.V(2).InfoS("sim: work agent cannot apply the klusterlet work", "cluster", c.Name, "hub", h.Name, "err", err)
		return nil
	}
	current := klusterletConfig{Mode: c.mode, MultipleHubs: c.multipleHubs, Bootstraps: c.bootstraps}
	status, observed := condition(work, "Applied")
	upToDate := status == "True" && observed == work.GetGeneration()
	if upToDate && cfg.equal(current) {
		return nil
	}
	if !cfg.equal(current) {
		c.bootstraps, c.multipleHubs = cfg.Bootstraps, cfg.MultipleHubs
		// A changed bootstrap Secret restarts the registration agent.
		s.restart(c, "klusterlet configuration applied from "+h.Name)
	}
	if !upToDate {
		setCondition(work, "Applied", "True", "AppliedManifestWorkComplete", s.now().UTC().Format(time.RFC3339), work.GetGeneration())
		setCondition(work, "Available", "True", "ResourcesAvailable", s.now().UTC().Format(time.RFC3339), work.GetGeneration())
		if _, err := works.UpdateStatus(ctx, work, metav1.UpdateOptions{}); err != nil && !apierrors.IsForbidden(err) {
			return err
		}
	}
	return nil
}
