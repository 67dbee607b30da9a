package sigma

import "strings"

// maxDepth bounds the nesting of a condition's parentheses and nots.
const maxDepth = 100

// condParser parses a Sigma condition:
//
//	condition := or
//	or        := and ("or" and)*
//	and       := not ("and" not)*
//	not       := "not" not | primary
//	primary   := "(" or ")" | quantity "of" target | identifier
//	quantity  := "1" | "any" | "all"
//	target    := "them" | identifier, with * and ? as wildcards
//
// Keywords ignore case. A "|" starts an aggregation, which the caller
// splits off before parsing (see ruleTranslator.pipe).
// Each identifier is resolved to the translation of its detection as it
// is met, so only the detections a condition uses must translate.
type condParser struct {
	toks  []string
	pos   int
	depth int
	names []string                           // the detections, in document order
	sel   func(name string) (expr, *problem) // a detection's translation
}

// lexCondition splits a condition into words and parentheses.
func lexCondition(s string) []string {
	var toks []string
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == '|':
			toks = append(toks, s[i:i+1])
			i++
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()|", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks
}

func (p *condParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *condParser) keyword(w string) bool {
	if strings.EqualFold(p.peek(), w) {
		p.pos++
		return true
	}
	return false
}

// parse parses the whole condition.
func (p *condParser) parse(cond string) (expr, *problem) {
	p.toks = lexCondition(cond)
	for _, t := range p.toks {
		if t == "|" {
			return nil, fail(ReasonAggregation, "condition %q has a second aggregation (%s)",
				cond, strings.TrimSpace(cond[strings.IndexByte(cond, '|')+1:]))
		}
	}
	if len(p.toks) == 0 {
		return nil, fail(ReasonInvalid, "the condition is empty")
	}
	e, pr := p.or()
	if pr != nil {
		return nil, pr
	}
	if p.pos < len(p.toks) {
		return nil, fail(ReasonInvalid, "condition %q: unexpected %q", cond, p.peek())
	}
	return e, nil
}

func (p *condParser) or() (expr, *problem) {
	e, pr := p.and()
	if pr != nil {
		return nil, pr
	}
	es := []expr{e}
	for p.keyword("or") {
		e, pr := p.and()
		if pr != nil {
			return nil, pr
		}
		es = append(es, e)
	}
	return or(es...), nil
}

func (p *condParser) and() (expr, *problem) {
	e, pr := p.not()
	if pr != nil {
		return nil, pr
	}
	es := []expr{e}
	for p.keyword("and") {
		e, pr := p.not()
		if pr != nil {
			return nil, pr
		}
		es = append(es, e)
	}
	return and(es...), nil
}

func (p *condParser) not() (expr, *problem) {
	if p.depth++; p.depth > maxDepth {
		return nil, fail(ReasonInvalid, "the condition nests deeper than %d", maxDepth)
	}
	defer func() { p.depth-- }()
	if p.keyword("not") {
		e, pr := p.not()
		if pr != nil {
			return nil, pr
		}
		return not(e), nil
	}
	return p.primary()
}

func (p *condParser) primary() (expr, *problem) {
	t := p.peek()
	switch {
	case t == "":
		return nil, fail(ReasonInvalid, "the condition ends early")
	case t == "(":
		p.pos++
		e, pr := p.or()
		if pr != nil {
			return nil, pr
		}
		if !p.keyword(")") {
			return nil, fail(ReasonInvalid, "the condition lacks a \")\"")
		}
		return e, nil
	case t == ")":
		return nil, fail(ReasonInvalid, "the condition has an unexpected \")\"")
	case isKeyword(t):
		return nil, fail(ReasonInvalid, "the condition has %q where a detection was expected", t)
	}
	p.pos++
	if strings.EqualFold(p.peek(), "of") {
		p.pos++
		return p.quantified(t, p.next())
	}
	return p.sel(t)
}

func (p *condParser) next() string {
	t := p.peek()
	if t != "" {
		p.pos++
	}
	return t
}

// quantified is "1 of x", "any of x" or "all of x".
func (p *condParser) quantified(quantity, target string) (expr, *problem) {
	var all bool
	switch {
	case quantity == "1" || strings.EqualFold(quantity, "any"):
	case strings.EqualFold(quantity, "all"):
		all = true
	default:
		return nil, fail(ReasonInvalid, "%q of: only 1 of, any of and all of exist", quantity)
	}
	if target == "" || target == "(" || target == ")" {
		return nil, fail(ReasonInvalid, "%s of: a detection name or them must follow", quantity)
	}
	var names []string
	if strings.EqualFold(target, "them") {
		for _, n := range p.names {
			if !strings.HasPrefix(n, "_") {
				names = append(names, n)
			}
		}
	} else {
		for _, n := range p.names {
			if wildcardMatch(target, n) {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		return nil, fail(ReasonInvalid, "%s of %s: no detection matches", quantity, target)
	}
	var es []expr
	for _, n := range names {
		e, pr := p.sel(n)
		if pr != nil {
			return nil, pr
		}
		es = append(es, e)
	}
	if all {
		return and(es...), nil
	}
	return or(es...), nil
}

func isKeyword(t string) bool {
	switch strings.ToLower(t) {
	case "and", "or", "not", "of":
		return true
	}
	return false
}

// wildcardMatch matches name against a pattern where "*" is any run of
// characters and "?" one character.
func wildcardMatch(pat, name string) bool {
	px, nx := 0, 0
	starPx, starNx := -1, 0 // where to resume after the last "*"
	for px < len(pat) || nx < len(name) {
		if px < len(pat) {
			switch c := pat[px]; {
			case c == '*':
				starPx, starNx = px, nx
				px++
				continue
			case nx < len(name) && (c == '?' || c == name[nx]):
				px++
				nx++
				continue
			}
		}
		if starPx >= 0 && starNx < len(name) {
			starNx++
			px, nx = starPx+1, starNx
			continue
		}
		return false
	}
	return true
}
