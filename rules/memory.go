package rules

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Memory is what the stateful rules of one evaluator remember: per rule,
// per group, the records of the current window (or, for first_seen, when
// the group was last seen). It is kept in the records' own time, so a
// scan of old logs counts as the live stream did. It marshals to JSON,
// for an evaluator to persist it with whatever marks its progress (a
// checkpoint), so that a restart neither forgets a window nor raises an
// alert again. It is not safe for concurrent use.
type Memory struct {
	rules map[string]*ruleMemory
	// MaxGroups bounds the groups kept per rule: past it, the least
	// recently seen are forgotten. 0 means DefaultMaxGroups.
	MaxGroups int
}

// DefaultMaxGroups is the groups a Memory keeps per rule unless told.
const DefaultMaxGroups = 100_000

type ruleMemory struct {
	Spec   string                 `json:"spec"`
	Groups map[string]*groupState `json:"groups"`
}

// groupState is one group's window. Times are Unix nanoseconds.
type groupState struct {
	Times  []int64          `json:"t,omitempty"` // count: the matching records' times
	Values map[string]int64 `json:"v,omitempty"` // distinct: value -> last time
	Parts  []int64          `json:"p,omitempty"` // all_of: last time each condition matched; 0 never
	Last   int64            `json:"l"`           // the group's latest record
	Quiet  int64            `json:"q,omitempty"` // after an alert: records before this are absorbed
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{rules: map[string]*ruleMemory{}} }

// Aggregate says why a stateful rule fired.
type Aggregate struct {
	Count int       // records, distinct values or conditions met in the window; 1 for first_seen
	Since time.Time // the earliest of them
	Group map[string]any
}

// Admit records that evt, which happened at t, matched r's condition, and
// reports whether r raises an alert for it. A rule that is not stateful
// always does.
func (m *Memory) Admit(r *Rule, evt any, t time.Time) (Aggregate, bool) {
	s := r.Stateful
	if s == nil {
		return Aggregate{}, true
	}
	rm := m.rules[r.Name]
	if rm == nil || rm.Spec != s.Spec() {
		rm = &ruleMemory{Spec: s.Spec(), Groups: map[string]*groupState{}}
		m.rules[r.Name] = rm
	}
	var distinct string
	var parts uint64
	switch {
	case s.Distinct != "":
		v, ok := s.DistinctValue(evt)
		if !ok {
			return Aggregate{}, false
		}
		distinct = v
	case s.AllOf != nil:
		if parts = s.Parts(evt); parts == 0 {
			return Aggregate{}, false
		}
	}
	key := s.Group(evt)
	// A record with no time (zero) counts at the epoch, not at the
	// overflowed UnixNano of year 1.
	var now int64
	if !t.IsZero() {
		now = t.UnixNano()
	}
	g := rm.Groups[key]
	if g == nil {
		if s.FirstSeen {
			m.trim(rm)
			rm.Groups[key] = &groupState{Last: now}
			return Aggregate{Count: 1, Since: t, Group: s.GroupFields(evt)}, true
		}
		m.trim(rm)
		g = &groupState{}
		rm.Groups[key] = g
	}
	defer func() {
		if now > g.Last {
			g.Last = now
		}
	}()
	win := int64(s.Within)
	if s.FirstSeen {
		// Seen before; forgotten when it was not seen for a window.
		fire := win > 0 && now-g.Last > win
		if fire {
			return Aggregate{Count: 1, Since: t, Group: s.GroupFields(evt)}, true
		}
		return Aggregate{}, false
	}
	if now < g.Quiet {
		return Aggregate{}, false
	}
	g.Quiet = 0
	from := now - win
	var n int
	since := now
	switch {
	case s.Distinct != "":
		if g.Values == nil {
			g.Values = map[string]int64{}
		}
		for v, at := range g.Values {
			if at < from {
				delete(g.Values, v)
			}
		}
		if at, ok := g.Values[distinct]; !ok || now > at {
			g.Values[distinct] = now
		}
		n = len(g.Values)
		for _, at := range g.Values {
			since = min(since, at)
		}
	case s.AllOf != nil:
		if len(g.Parts) != len(s.AllOf) {
			g.Parts = make([]int64, len(s.AllOf))
		}
		for i := range g.Parts {
			if parts&(1<<i) != 0 {
				g.Parts[i] = now
			}
			if g.Parts[i] != 0 && g.Parts[i] >= from {
				n++
				since = min(since, g.Parts[i])
			}
		}
		if n < len(s.AllOf) {
			return Aggregate{}, false
		}
	default:
		kept := g.Times[:0]
		for _, at := range g.Times {
			if at >= from {
				kept = append(kept, at)
			}
		}
		g.Times = append(kept, now)
		if len(g.Times) > s.Count {
			g.Times = g.Times[len(g.Times)-s.Count:]
		}
		n = len(g.Times)
		for _, at := range g.Times {
			since = min(since, at)
		}
	}
	if n < s.Count && s.AllOf == nil {
		return Aggregate{}, false
	}
	g.Times, g.Values, g.Parts = nil, nil, nil
	g.Quiet = now + win
	return Aggregate{Count: n, Since: time.Unix(0, since).UTC(), Group: s.GroupFields(evt)}, true
}

// trim makes room for one more group in rm: past the bound, the least
// recently seen tenth is forgotten.
func (m *Memory) trim(rm *ruleMemory) {
	max := m.MaxGroups
	if max <= 0 {
		max = DefaultMaxGroups
	}
	if len(rm.Groups) < max {
		return
	}
	type aged struct {
		key  string
		last int64
	}
	all := make([]aged, 0, len(rm.Groups))
	for k, g := range rm.Groups {
		all = append(all, aged{k, g.Last})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].last < all[j].last })
	for _, a := range all[:len(all)-max*9/10] {
		delete(rm.Groups, a.key)
	}
}

// Forget drops what is remembered for rules not in keep, such as rules
// removed from the rules files since the state was saved.
func (m *Memory) Forget(keep func(rule string) bool) {
	for name := range m.rules {
		if !keep(name) {
			delete(m.rules, name)
		}
	}
}

// memoryVersion is the version of the JSON a Memory marshals to.
const memoryVersion = 1

type memoryJSON struct {
	Version int                    `json:"version"`
	Rules   map[string]*ruleMemory `json:"rules"`
}

// MarshalJSON writes what m remembers.
func (m *Memory) MarshalJSON() ([]byte, error) {
	return json.Marshal(memoryJSON{Version: memoryVersion, Rules: m.rules})
}

// UnmarshalJSON replaces what m remembers with what data says. A rule
// whose stateful key changed since is started afresh when next admitted.
func (m *Memory) UnmarshalJSON(data []byte) error {
	var j memoryJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	if j.Version != memoryVersion {
		return fmt.Errorf("stateful rules' memory of version %d, this mamori reads version %d", j.Version, memoryVersion)
	}
	m.rules = j.Rules
	if m.rules == nil {
		m.rules = map[string]*ruleMemory{}
	}
	for name, rm := range m.rules {
		if rm == nil || rm.Groups == nil {
			delete(m.rules, name)
			continue
		}
		for k, g := range rm.Groups {
			if g == nil {
				delete(rm.Groups, k)
			}
		}
	}
	return nil
}
