package console

import (
	"context"
	"time"

	"github.com/mamori-dev/mamori/console/api"
	"github.com/mamori-dev/mamori/console/profile"
)

func (c *Console) stableAfter() time.Duration {
	if c.cfg.ProfileStableAfter > 0 {
		return c.cfg.ProfileStableAfter
	}
	return 24 * time.Hour
}

// promoteProfiles makes profiles stable once they learnt nothing new for
// the window and, with ProfileAutoEnforce, enforces those that stayed
// clean for another window. It looks a few times per window.
func (c *Console) promoteProfiles(ctx context.Context) {
	window := c.stableAfter()
	t := time.NewTicker(min(max(window/8, 250*time.Millisecond), 30*time.Second))
	defer t.Stop()
	apply := func(ctx context.Context, name, content string) error {
		_, err := c.pol.Apply(ctx, []api.PolicyFile{{Name: name, Content: content}}, nil)
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		ps, err := c.store.PromoteProfiles(ctx, now, window)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Error("profiles: promotion failed", "err", err)
			}
			continue
		}
		for _, p := range ps {
			c.log.Info("profile stable: nothing new learnt for the window", "profile", p.ID, "workload", p.Workload.Key(), "window", window)
		}
		if !c.cfg.ProfileAutoEnforce {
			continue
		}
		ids, err := c.store.CleanProfiles(ctx, now, window)
		if err != nil {
			c.log.Error("profiles: clean profiles", "err", err)
			continue
		}
		for _, id := range ids {
			p, file, err := profile.Enforce(ctx, c.store, apply, id, "console (automatic, after a clean window)", window, now)
			if err != nil {
				c.log.Error("profiles: automatic enforcement failed", "profile", id, "err", err)
				continue
			}
			c.log.Info("profile enforced automatically after a clean window", "profile", p.ID, "policy_file", file)
		}
	}
}
