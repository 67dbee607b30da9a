package rules

import (
	"net/netip"
)

// A node is a compiled condition. eval must not allocate for events that
// do not match: getters return values the event already holds, matchers
// compare against constants prepared at compile time.
type node interface {
	eval(evt any) bool
}

type (
	andNode []node
	orNode  []node
	notNode struct{ x node }
	// constNode stands in for a check on a field the catalogue does not
	// provide; the rule that holds it is inactive and never evaluated.
	constNode bool
)

func (n andNode) eval(evt any) bool {
	for _, x := range n {
		if !x.eval(evt) {
			return false
		}
	}
	return true
}

func (n orNode) eval(evt any) bool {
	for _, x := range n {
		if x.eval(evt) {
			return true
		}
	}
	return false
}

func (n notNode) eval(evt any) bool { return !n.x.eval(evt) }

// anyIndexNode holds when its check holds at any index that has a value.
type anyIndexNode struct {
	present []func(any) bool
	checks  []node
}

func (n *anyIndexNode) eval(evt any) bool {
	for i, x := range n.checks {
		if !n.present[i](evt) {
			return false
		}
		if x.eval(evt) {
			return true
		}
	}
	return false
}
func (n constNode) eval(evt any) bool { return bool(n) }

// Getters bind an extractor to its argument. Transformers are getters too:
// their fn ignores the argument and reads their own inputs.
type (
	strGetter struct {
		fn  func(any, Arg) (string, bool)
		arg Arg
	}
	numGetter struct {
		fn  func(any, Arg) (int64, bool)
		arg Arg
	}
	boolGetter struct {
		fn  func(any, Arg) (bool, bool)
		arg Arg
	}
	ipGetter struct {
		fn  func(any, Arg) (netip.Addr, bool)
		arg Arg
	}
	listGetter struct {
		fn  func(any, Arg) ([]string, bool)
		arg Arg
	}
)

func (g strGetter) get(evt any) (string, bool)    { return g.fn(evt, g.arg) }
func (g numGetter) get(evt any) (int64, bool)     { return g.fn(evt, g.arg) }
func (g boolGetter) get(evt any) (bool, bool)     { return g.fn(evt, g.arg) }
func (g ipGetter) get(evt any) (netip.Addr, bool) { return g.fn(evt, g.arg) }
func (g listGetter) get(evt any) ([]string, bool) { return g.fn(evt, g.arg) }
func (n *existsNode) eval(evt any) bool           { return n.present(evt) }
func (n *strCheck) eval(evt any) bool             { s, ok := n.get.get(evt); return ok && n.m.match(s) != n.neg }
func (n *boolCheck) eval(evt any) bool            { b, ok := n.get.get(evt); return ok && (b == n.want) != n.neg }
func (n *numCheck) eval(evt any) bool             { v, ok := n.get.get(evt); return ok && n.cmp(v) }
func (n *numCheck) cmp(v int64) bool              { return compareNum(n.op, v, n.c) }
func (n *listCheck) eval(evt any) bool            { l, ok := n.get.get(evt); return ok && n.matchList(l) }
func (n *strFieldCheck) eval(evt any) bool        { return n.cmp(evt) }
func (n *numFieldCheck) eval(evt any) bool        { return n.cmp(evt) }
func (n *modifierCheck) eval(evt any) bool        { return n.cmp(evt) }
func (n *numSetCheck) eval(evt any) bool          { v, ok := n.get.get(evt); return ok && n.has(v) != n.neg }
func (n *ipCheck) eval(evt any) bool              { a, ok := n.get.get(evt); return ok && n.has(a) != n.neg }
func (n *boolSetCheck) eval(evt any) bool         { b, ok := n.get.get(evt); return ok && n.set[boolIndex(b)] }

// existsNode is "field exists".
type existsNode struct{ present func(any) bool }

// strCheck compares a string value with a matcher; neg inverts a present
// value's result (for !=) but a missing value is still false.
type strCheck struct {
	get strGetter
	m   stringMatcher
	neg bool
}

type boolCheck struct {
	get  boolGetter
	want bool
	neg  bool
}

type boolSetCheck struct {
	get boolGetter
	set [2]bool
}

type numCheck struct {
	get numGetter
	op  string
	c   int64
}

type numSetCheck struct {
	get numGetter
	set []int64
	neg bool
}

func (n *numSetCheck) has(v int64) bool {
	for _, c := range n.set {
		if c == v {
			return true
		}
	}
	return false
}

// ipCheck matches an address against addresses and networks: "=" and "in"
// are equality with an address and containment in a network.
type ipCheck struct {
	get      ipGetter
	addrs    []netip.Addr
	prefixes []netip.Prefix
	neg      bool
}

func (n *ipCheck) has(a netip.Addr) bool {
	a = a.Unmap()
	for _, c := range n.addrs {
		if c == a {
			return true
		}
	}
	for _, p := range n.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func compareNum(op string, a, b int64) bool {
	switch op {
	case "=":
		return a == b
	case "!=":
		return a != b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	}
	return false
}

// listCheck is "in" or "intersects" on a list field: every value (in) or
// some value (intersects) must be in the set.
type listCheck struct {
	get   listGetter
	set   *setMatcher
	every bool
}

func (n *listCheck) matchList(l []string) bool {
	if n.every {
		for _, s := range l {
			if !n.set.match(s) {
				return false
			}
		}
		return true
	}
	for _, s := range l {
		if n.set.match(s) {
			return true
		}
	}
	return false
}

// strFieldCheck compares two string values, the right one from val() or a
// transformer.
type strFieldCheck struct {
	left, right strGetter
	op          string
}

func (n *strFieldCheck) cmp(evt any) bool {
	a, ok := n.left.get(evt)
	if !ok {
		return false
	}
	b, ok := n.right.get(evt)
	if !ok {
		return false
	}
	return compareStrings(n.op, a, b)
}

// compareStrings applies a string operator to two runtime values.
func compareStrings(op, a, b string) bool {
	switch op {
	case "=":
		return a == b
	case "!=":
		return a != b
	case "contains":
		return containsMatcher{b}.match(a)
	case "icontains":
		return containsFoldBoth(a, b)
	case "startswith":
		return prefixMatcher{b}.match(a)
	case "endswith":
		return suffixMatcher{b}.match(a)
	case "glob":
		return globMatch(b, a, false)
	case "iglob":
		return globMatch(b, a, true)
	case "in", "intersects":
		return a == b
	}
	return orderMatcher{op, b}.match(a)
}

func containsFoldBoth(s, sub string) bool {
	for i := 0; i < len(sub); i++ {
		if c := sub[i]; 'A' <= c && c <= 'Z' || c >= 0x80 {
			return containsFoldSlow(s, sub)
		}
	}
	return containsFold(s, sub)
}

func containsFoldSlow(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if eqFoldASCII(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

func eqFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		if lowerByte(a[i]) != lowerByte(b[i]) {
			return false
		}
	}
	return true
}

type numFieldCheck struct {
	left, right numGetter
	op          string
}

func (n *numFieldCheck) cmp(evt any) bool {
	a, ok := n.left.get(evt)
	if !ok {
		return false
	}
	b, ok := n.right.get(evt)
	return ok && compareNum(n.op, a, b)
}

// modifierCheck is "field <op> oneof|anyof|allof (v1, v2, ...)".
type modifierCheck struct {
	get  strGetter
	ms   []stringMatcher
	neg  bool // for !=: each element compares with "not equal"
	mode string
}

func (n *modifierCheck) cmp(evt any) bool {
	s, ok := n.get.get(evt)
	if !ok {
		return false
	}
	count := 0
	for _, m := range n.ms {
		if m.match(s) != n.neg {
			count++
		}
	}
	switch n.mode {
	case "oneof":
		return count == 1
	case "anyof":
		return count >= 1
	}
	return count == len(n.ms)
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}
