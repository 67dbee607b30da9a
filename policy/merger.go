package policy

import (
	"slices"
	"strconv"
)

// Origin says which policy set an effective setting, in which mode, and
// where in which file.
type Origin struct {
	Policy string   `json:"policy"`
	Mode   Mode     `json:"mode"`
	Pos    Position `json:"pos"`
}

func (o Origin) String() string { return o.Policy + " (" + o.Pos.String() + ")" }

// Provenance maps a setting's path (relative to spec.controls, such as
// "forkGuard.maxProcesses", or "executableBlocklist.names[nc]" for one
// element of a list) to the policies that decided its effective value.
type Provenance map[string][]Origin

// merger folds the controls of one policy after another into an effective
// set and records the provenance of every setting it decides.
type merger struct {
	cur  *Policy
	prov Provenance
	seen map[string]bool // allow lists that some policy has already set
}

func (m *merger) origin(path string) Origin {
	return Origin{Policy: m.cur.Name(), Mode: m.cur.Mode(), Pos: m.cur.At("spec.controls." + path)}
}

func (m *merger) set(path string, o ...Origin) { m.prov[path] = o }

func (m *merger) add(path string, o Origin) {
	if !slices.Contains(m.prov[path], o) {
		m.prov[path] = append(m.prov[path], o)
	}
}

// minInt keeps the smaller of two limits; 0 means unset.
func (m *merger) minInt(path string, dst *int, src int) {
	switch {
	case src == 0:
	case *dst == 0 || src < *dst:
		*dst = src
		m.set(path, m.origin(path))
	case src == *dst:
		m.add(path, m.origin(path))
	}
}

// maxInt keeps the larger of two numbers; 0 means unset.
func (m *merger) maxInt(path string, dst *int, src int) {
	switch {
	case src == 0:
	case src > *dst:
		*dst = src
		m.set(path, m.origin(path))
	case src == *dst:
		m.add(path, m.origin(path))
	}
}

func (m *merger) minDuration(path string, dst *Duration, src Duration) {
	d, s := int(*dst), int(src)
	m.minInt(path, &d, s)
	*dst = Duration(d)
}

func (m *merger) maxDuration(path string, dst *Duration, src Duration) {
	d, s := int(*dst), int(src)
	m.maxInt(path, &d, s)
	*dst = Duration(d)
}

// or merges a setting where true is stricter (a thing is refused).
func (m *merger) or(path string, dst *bool, src bool) {
	switch {
	case !src:
	case !*dst:
		*dst = true
		m.set(path, m.origin(path))
	default:
		m.add(path, m.origin(path))
	}
}

// and merges a setting where false is stricter (a thing is allowed only if
// every policy allows it). A policy that leaves it out counts as false.
func (m *merger) and(path string, dst *bool, src bool) {
	switch {
	case !m.seen[path]:
		m.seen[path] = true
		*dst = src
		m.set(path, m.origin(path))
	case src == *dst:
		m.add(path, m.origin(path))
	case !src:
		*dst = false
		m.set(path, m.origin(path))
	}
}

func elemKey(path, elem string) string { return path + "[" + elem + "]" }

// elemOrigin is the origin of src[i], pointing at the list element.
func (m *merger) elemOrigin(path string, i int) Origin {
	return m.origin(path + "[" + strconv.Itoa(i) + "]")
}

// union merges a block list: every element any policy lists.
func (m *merger) union(path string, dst *[]string, src []string) {
	have := make(map[string]bool, len(*dst)+len(src))
	for _, e := range *dst {
		have[e] = true
	}
	for i, e := range src {
		if !have[e] {
			have[e] = true
			*dst = append(*dst, e)
		}
		m.add(elemKey(path, e), m.elemOrigin(path, i))
	}
	if len(src) > 0 {
		m.add(path, m.origin(path))
	}
}

// intersect merges an allow list: only what every policy allows. meet
// returns the narrower of two elements that overlap. A nil src is a
// policy that sets no list: with unsetIsAll it allows everything and
// changes nothing, otherwise it allows nothing.
func (m *merger) intersect(path string, dst *[]string, src []string, unsetIsAll bool, meet meeter) {
	if src == nil && unsetIsAll {
		return
	}
	if !m.seen[path] {
		m.seen[path] = true
		*dst = []string{}
		m.set(path, m.origin(path))
		for i, e := range src {
			if !slices.Contains(*dst, e) {
				*dst = append(*dst, e)
			}
			m.add(elemKey(path, e), m.elemOrigin(path, i))
		}
		return
	}
	m.add(path, m.origin(path))
	out := []string{}
	prov := map[string][]Origin{}
	meetAt := meet(*dst, src)
	for ai, a := range *dst {
		for i := range src {
			c, ok := meetAt(ai, i)
			if !ok {
				continue
			}
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
			for _, o := range append(slices.Clone(m.prov[elemKey(path, a)]), m.elemOrigin(path, i)) {
				if !slices.Contains(prov[c], o) {
					prov[c] = append(prov[c], o)
				}
			}
		}
	}
	for _, a := range *dst {
		delete(m.prov, elemKey(path, a))
	}
	for c, o := range prov {
		m.prov[elemKey(path, c)] = o
	}
	*dst = out
}

// meeter prepares two lists for meeting element by element: the function
// it returns gives the narrower of a[i] and b[j] when they overlap.
type meeter func(a, b []string) func(i, j int) (string, bool)

func equal(a, b []string) func(i, j int) (string, bool) {
	return func(i, j int) (string, bool) { return a[i], a[i] == b[j] }
}

// unionPatterns and intersectPatterns are union and intersect for glob
// lists; intersecting two different globs keeps neither (see narrower).
func (m *merger) unionPatterns(path string, dst *Patterns, src Patterns) {
	s := slices.Clone(dst.src)
	m.union(path, &s, src.src)
	*dst = reuse(s, *dst, src)
}

// reuse builds Patterns for globs that come from a or b without compiling
// them again: effective controls are merged per container.
func reuse(globs []string, a, b Patterns) Patterns {
	compiled := make(map[string]Pattern, a.Len()+b.Len())
	for _, ps := range []Patterns{a, b} {
		for i, s := range ps.src {
			compiled[s] = ps.pat[i]
		}
	}
	out := Patterns{src: globs, pat: make([]Pattern, len(globs))}
	for i, g := range globs {
		p, ok := compiled[g]
		if !ok {
			p = MustPattern(g)
		}
		out.pat[i] = p
	}
	return out
}

func (m *merger) intersectPatterns(path string, dst *Patterns, src Patterns, unsetIsAll bool) {
	s := dst.src
	if m.seen[path] && s == nil {
		s = []string{}
	}
	m.intersect(path, &s, src.src, unsetIsAll, meetPatterns)
	if s == nil {
		return
	}
	*dst = reuse(s, *dst, src) // s is not nil: an allow list that allows nothing is set
}
