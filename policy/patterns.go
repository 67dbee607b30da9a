package policy

import (
	"encoding/json"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Patterns is a list of globs (see Pattern) that matches a string when any
// of them does. In YAML it is one string or a list of strings; each is
// checked when the document is decoded.
type Patterns struct {
	src []string
	pat []Pattern
}

// NewPatterns compiles globs; it is how code (and tests) build what YAML
// would.
func NewPatterns(globs ...string) (Patterns, error) {
	var ps Patterns
	for _, g := range globs {
		p, err := CompilePattern(g)
		if err != nil {
			return Patterns{}, err
		}
		ps.src = append(ps.src, g)
		ps.pat = append(ps.pat, p)
	}
	return ps, nil
}

func (ps *Patterns) decodeNode(d *decoder, n *yaml.Node, path string) bool {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
		if len(items) == 0 {
			d.errorf(n, "%s is an empty list; list at least one pattern or remove the key", lastKey(path))
			return false
		}
		if len(items) > maxList {
			d.errorf(n, "%s has %d entries, more than %d; put long lists in a list file", lastKey(path), len(items), maxList)
			return false
		}
	}
	ok := true
	for i, it := range items {
		it = d.resolve(it)
		p := path
		if n.Kind == yaml.SequenceNode {
			p = path + "[" + strconv.Itoa(i) + "]"
			d.pos[p] = d.at(it)
		}
		if it.Kind != yaml.ScalarNode || it.Tag == "!!null" {
			d.errorf(it, "%s must be a string or a list of strings, found %s", lastKey(path), kindName(it))
			ok = false
			continue
		}
		pat, err := CompilePattern(it.Value)
		if err != nil {
			d.errorf(it, "%s: %v", lastKey(path), err)
			ok = false
			continue
		}
		ps.src = append(ps.src, it.Value)
		ps.pat = append(ps.pat, pat)
	}
	return ok
}

// Match reports whether any pattern matches s.
func (ps Patterns) Match(s string) bool {
	for _, p := range ps.pat {
		if p.Match(s) {
			return true
		}
	}
	return false
}

// MatchAny reports whether any pattern matches any of ss.
func (ps Patterns) MatchAny(ss []string) bool {
	for _, s := range ss {
		if ps.Match(s) {
			return true
		}
	}
	return false
}

// Strings returns the globs as written.
func (ps Patterns) Strings() []string { return ps.src }

// Len is the number of patterns.
func (ps Patterns) Len() int { return len(ps.src) }

func (ps Patterns) MarshalJSON() ([]byte, error) {
	if ps.src == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(ps.src)
}

func (ps Patterns) MarshalYAML() (any, error) { return ps.src, nil }

// IsZero reports whether the list is unset (as opposed to set and empty).
func (ps Patterns) IsZero() bool { return ps.src == nil }
