package sim

import (
	"context"
	"fmt"

	"github.com/hubmigrate/hubmigrate/envtest"
)

// StartWorld starts the test world (home, hub1, hub2) and a simulator on its
// hubs — with home as a hub named homeHub too, unless homeHub is "" — for a
// test package's TestMain. The world stops when ctx ends or on Stop.
func StartWorld(ctx context.Context, opts Options, homeHub string) (*envtest.World, *Simulator, error) {
	w, err := envtest.Start(ctx, envtest.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("starting the test world: %w", err)
	}
	hubs := Hubs(w.Hub("hub1"), w.Hub("hub2"))
	if homeHub != "" {
		home := Hubs(w.Home())[0]
		home.Name = homeHub
		hubs = append(hubs, home)
	}
	s, err := New(hubs, opts)
	if err == nil {
		err = s.Start(ctx)
	}
	if err != nil {
		w.Stop()
		return nil, nil, fmt.Errorf("starting the simulator: %w", err)
	}
	return w, s, nil
}
