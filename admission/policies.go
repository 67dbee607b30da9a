package admission

import (
	_ "embed"
	"fmt"
	"log/slog"

	"github.com/mamori-dev/mamori/policy"
	"github.com/mamori-dev/mamori/workload"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultFile is the name positions in the default admission policy
// carry.
const DefaultFile = "<built-in>/admission-default.yaml"

// DefaultYAML returns the text of the policy applied when no policy path
// is given.
func DefaultYAML() []byte { return defaultYAML }

// fixed is a list of parsed policies, merged per target.
type fixed []*policy.Policy

func (f fixed) Effective(t *policy.Target) *policy.Effective { return policy.Merge(t, f) }

// DefaultPolicies returns the default admission policy: every pre-run
// check in enforce mode (see default.yaml).
func DefaultPolicies() workload.Policies {
	ps, err := policy.Parse(DefaultFile, defaultYAML)
	if err != nil {
		panic(fmt.Sprintf("the default admission policy does not load: %v", err)) // a test catches this first
	}
	return fixed(ps)
}

// Source gives the policies in force for each request.
type Source interface {
	Current() workload.Policies
}

// StoreSource serves the policies of a policy.Store, which reloads them
// when their files change.
type StoreSource struct{ Store *policy.Store }

func (s StoreSource) Current() workload.Policies { return s.Store.Current() }

// staticSource always serves the same policies.
type staticSource struct{ p workload.Policies }

func (s staticSource) Current() workload.Policies { return s.p }

// OpenPolicies opens a policy.Store over paths, or with no paths the
// default admission policy. The Store is nil for the default.
func OpenPolicies(log *slog.Logger, paths ...string) (Source, *policy.Store, error) {
	if len(paths) == 0 {
		return staticSource{DefaultPolicies()}, nil, nil
	}
	st, err := policy.Open(log, paths...)
	if err != nil {
		return nil, nil, err
	}
	return StoreSource{st}, st, nil
}
