package detect

import (
	"slices"
	"sort"
	"strings"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/syscalls"
)

// Needs is what the sensor must capture for a ruleset's syscall rules.
type Needs struct {
	// Types are the event types the rules can match; nil with All set.
	Types []event.Type
	// All is set when some rule can match any event type.
	All bool
	// ReadPrefixes are the path prefixes under which read-only opens must
	// be reported: the sensor reports other opens only when they write.
	ReadPrefixes []string
	// Env is set when a rule reads proc.env: exec events must carry the
	// environment.
	Env bool
	// UnboundedReads names the rules that match read-only opens by a
	// condition giving no path prefix (fd.name contains ..., endswith
	// ...): they see only reads under ReadPrefixes.
	UnboundedReads []string
}

// NeedsOf works out what the enabled, active syscall rules of rs need.
func NeedsOf(rs *rules.Ruleset) Needs {
	var n Needs
	types, all := rs.EventTypes(syscalls.Source)
	n.All = all
	if !all {
		n.Types = syscalls.SensorTypes(types)
	}
	seen := map[string]bool{}
	for _, r := range rs.Rules() {
		if r.Enabled && r.Active() && r.Source == syscalls.Source && slices.Contains(r.Fields, "proc.env") {
			n.Env = true
		}
	}
	for _, r := range rs.Rules() {
		if !r.Enabled || !r.Active() || r.Source != syscalls.Source || !readsFiles(r) {
			continue
		}
		bounded := false
		for _, c := range r.Comparisons("fd.name", "fd.directory", "fd.realpath") {
			if c.Negated {
				continue
			}
			switch c.Op {
			case "=", "in", "intersects", "startswith", "pmatch":
			default:
				continue
			}
			for _, v := range c.Values {
				if i := strings.IndexAny(v, "*?["); i >= 0 {
					v = v[:i]
				}
				if c.Field == "fd.directory" && !strings.HasSuffix(v, "/") {
					v += "/"
				}
				if !strings.HasPrefix(v, "/") || len(v) > 255 {
					continue
				}
				bounded = true
				if !seen[v] {
					seen[v] = true
					n.ReadPrefixes = append(n.ReadPrefixes, v)
				}
			}
		}
		if !bounded {
			n.UnboundedReads = append(n.UnboundedReads, r.Name)
		}
	}
	sort.Strings(n.ReadPrefixes)
	return n
}

// readsFiles reports whether r can match a read-only open: it asks for
// evt.is_open_read = true, or otherwise looks at fd.name on opens without
// asking for a write.
func readsFiles(r *rules.Rule) bool {
	types, all := r.EventTypes()
	opens := all
	for _, t := range types {
		if t == "open" || t == "openat" || t == "openat2" {
			opens = true
		}
	}
	if !opens {
		return false
	}
	for _, c := range r.Comparisons("evt.is_open_read") {
		if !c.Negated && len(c.Values) == 1 && c.Values[0] == "true" {
			return true
		}
	}
	for _, c := range r.Comparisons("evt.is_open_write") {
		if !c.Negated && len(c.Values) == 1 && c.Values[0] == "true" {
			return false
		}
	}
	return !all
}
