package profile

import (
	"context"
	"fmt"
	"time"

	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/policy"
)

// Apply stores a policy file among the console's central policies, where
// every agent takes it from.
type Apply func(ctx context.Context, name, content string) error

// Enforce makes a profile's policy the workload's: it exports the profile
// in enforce mode, applies the file centrally (agents enforce it within
// seconds) and marks the profile Enforced. A profile still learning is
// refused: enforcement only follows a stable profile.
func Enforce(ctx context.Context, st store.Store, apply Apply, id, by string, stableAfter time.Duration, now time.Time) (*store.Profile, string, error) {
	p, err := st.Profile(ctx, id)
	if err != nil {
		return nil, "", err
	}
	doc, err := Export(p, Options{Mode: policy.Enforce, StableAfter: stableAfter, Now: now})
	if err != nil {
		return nil, "", err
	}
	file := Name(p) + ".yaml"
	if err := apply(ctx, file, string(doc)); err != nil {
		return nil, "", fmt.Errorf("apply %s: %w", file, err)
	}
	p, err = st.SetProfileState(ctx, p.ID, store.Enforced, by, now)
	return p, file, err
}
