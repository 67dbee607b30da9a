package admission

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

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
type fixed struct{ ps []*policy.Policy }

func (f *fixed) Effective(t *policy.Target) *policy.Effective { return policy.Merge(t, f.ps) }

// DefaultPolicies returns the default admission policy: every pre-run
// check in enforce mode (see default.yaml).
func DefaultPolicies() workload.Policies {
	ps, err := policy.Parse(DefaultFile, defaultYAML)
	if err != nil {
		panic(fmt.Sprintf("the default admission policy does not load: %v", err)) // a test catches this first
	}
	return &fixed{ps}
}

// memo caches the merged controls per target for one set of policies.
// The same targets come back all the time (every pod of a ReplicaSet,
// each update of a Deployment), and merging is most of a review's CPU.
// A Set never changes, so a cached result stays right until the Source
// hands out another Set, which gets a new memo.
type memo struct {
	policies workload.Policies
	mu       sync.Mutex
	m        map[string]*policy.Effective
}

// maxMemo bounds the cache; past it the cache starts over.
const maxMemo = 4096

func newMemo(p workload.Policies) *memo {
	return &memo{policies: p, m: map[string]*policy.Effective{}}
}

func (m *memo) Effective(t *policy.Target) *policy.Effective {
	k, err := json.Marshal(t) // every fact a scope can match, maps in key order
	if err != nil {
		return m.policies.Effective(t)
	}
	m.mu.Lock()
	e, ok := m.m[string(k)]
	m.mu.Unlock()
	if ok {
		return e
	}
	e = m.policies.Effective(t)
	m.mu.Lock()
	if len(m.m) >= maxMemo {
		clear(m.m)
	}
	m.m[string(k)] = e
	m.mu.Unlock()
	return e
}

// Source gives the policies in force for each request. Current must
// return the same value until the policies change (as policy.Store does):
// the Reviewer caches merged controls per value.
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
