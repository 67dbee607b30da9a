package rules

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/rules/condition"
)

// Config is what a caller provides to load rules.
type Config struct {
	// Catalogs supplies the fields of each event source the caller can
	// evaluate. Rules of other sources load as inactive, with a warning.
	Catalogs []Catalog
	// Plugins maps plugin names to the versions the caller provides, for
	// required_plugin_versions. A nil map skips the check.
	Plugins map[string]string
	// EngineVersion overrides the engine version rules files are checked
	// against; empty means the package's EngineVersion.
	EngineVersion string
}

// File is one rules file: a name for positions in messages and its bytes.
type File struct {
	Name string
	Data []byte
}

// ReadFiles reads rules files from disk, in order.
func ReadFiles(paths ...string) ([]File, error) {
	files := make([]File, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read rules file: %w", err)
		}
		files = append(files, File{Name: p, Data: b})
	}
	return files, nil
}

// Load reads rules files in order, later files appending to and overriding
// earlier ones, and compiles every rule against the catalogue of its
// source. A rule that needs fields the catalogue knows but does not provide
// is loaded inactive (see Rule.Inactive); syntax errors, unknown fields,
// undefined macros and failed version requirements are errors. The returned
// error, if any, joins one *Error per problem.
func Load(cfg Config, files ...File) (*Ruleset, error) {
	ev := cfg.EngineVersion
	if ev == "" {
		ev = EngineVersion
	}
	engine, err := parseVersion(ev)
	if err != nil {
		return nil, fmt.Errorf("engine version: %w", err)
	}
	c := newCollector(&cfg, engine)
	for _, f := range files {
		c.files = append(c.files, f.Name)
		if err := c.addFile(f); err != nil {
			c.fail("", err)
		}
	}
	if cfg.Plugins != nil {
		if err := c.checkPlugins(cfg.Plugins); err != nil {
			c.fail("", err)
		}
	}
	tables := map[string]*fieldTable{}
	for _, cat := range cfg.Catalogs {
		t := newFieldTable(cat)
		if _, dup := tables[t.source]; dup {
			return nil, fmt.Errorf("two catalogues for source %q", t.source)
		}
		tables[t.source] = t
	}
	b := &builder{collector: c, tables: tables}
	return b.build()
}

// builder compiles the collected definitions.
type builder struct {
	*collector
	tables   map[string]*fieldTable
	parsed   map[string]condition.Expr // macro name -> parsed condition
	resolved map[string]condition.Expr // macro name -> condition with macros expanded
	state    map[string]int            // macro resolution: 1 in progress, 2 done
	errs     []error
}

func (b *builder) build() (*Ruleset, error) {
	b.resolveLists()
	b.parseMacros()
	rs := &Ruleset{}
	for _, d := range b.rules {
		if r := b.compileRule(d); r != nil {
			rs.rules = append(rs.rules, r)
		}
	}
	for _, m := range b.macros {
		if !m.used {
			b.warn(m.pos, "macro %q is not used", m.name)
		}
	}
	for _, l := range b.lists {
		if !l.used {
			b.warn(l.pos, "list %q is not used", l.name)
		}
	}
	if errs := append(b.collector.errs, b.errs...); len(errs) > 0 {
		b.sortErrors(errs)
		return nil, errors.Join(errs...)
	}
	for _, l := range b.lists {
		rs.lists = append(rs.lists, List{Name: l.name, Items: l.items, Pos: l.pos})
	}
	for _, m := range b.macros {
		rs.macros = append(rs.macros, Macro{Name: m.name, Condition: m.cond, Pos: m.pos})
	}
	rs.warnings = b.warnings
	rs.index()
	return rs, nil
}

// sortErrors puts errors in the order of the files loaded and, within a
// file, of their positions.
func (b *builder) sortErrors(errs []error) {
	pos := func(err error) (int, int, int) {
		var e *Error
		if !errors.As(err, &e) {
			return len(b.files), 0, 0
		}
		i := slices.Index(b.files, e.Pos.File)
		if i < 0 {
			i = len(b.files)
		}
		return i, e.Pos.Line, e.Pos.Col
	}
	slices.SortStableFunc(errs, func(x, y error) int {
		xf, xl, xc := pos(x)
		yf, yl, yc := pos(y)
		return cmp.Or(cmp.Compare(xf, yf), cmp.Compare(xl, yl), cmp.Compare(xc, yc))
	})
}

// dependsOnBroken reports whether a condition names a macro or list
// whose definition had a problem (already reported).
func (b *builder) dependsOnBroken(cond string) bool {
	if len(b.broken) == 0 {
		return false
	}
	for _, w := range strings.FieldsFunc(cond, func(r rune) bool { return r < 128 && isListDelimiter(byte(r)) }) {
		if b.broken[w] {
			return true
		}
	}
	return false
}

// resolveLists inlines, in each list, items naming a list defined earlier.
func (b *builder) resolveLists() {
	for _, l := range b.lists {
		var items []string
		for _, it := range l.items {
			if inner, ok := b.listIdx[it]; ok && inner.index < l.index {
				inner.used = true
				items = append(items, inner.items...)
				continue
			}
			items = append(items, it)
		}
		l.items = items
	}
}

// isListDelimiter reports whether c may border a list name in a condition.
func isListDelimiter(c byte) bool {
	return strings.IndexByte(" \t\n\r(),=", c) >= 0
}

// expandLists replaces list names in a condition by their items, as Falco
// does before parsing: a name counts where it is delimited by the start or
// end of the text or one of " \t\n\r(),=". An empty list also removes the
// comma next to it.
func (b *builder) expandLists(cond string) string {
	var out strings.Builder
	changed := false
	i := 0
	for i < len(cond) {
		if isListDelimiter(cond[i]) {
			out.WriteByte(cond[i])
			i++
			continue
		}
		j := i
		for j < len(cond) && !isListDelimiter(cond[j]) {
			j++
		}
		word := cond[i:j]
		l, ok := b.listIdx[word]
		if !ok {
			out.WriteString(word)
			i = j
			continue
		}
		l.used = true
		changed = true
		if len(l.items) == 0 {
			// Drop the following comma, or else the preceding one.
			k := j
			for k < len(cond) && (cond[k] == ' ' || cond[k] == '\t') {
				k++
			}
			if k < len(cond) && cond[k] == ',' {
				j = k + 1
			} else {
				s := strings.TrimRight(out.String(), " \t")
				if strings.HasSuffix(s, ",") {
					out.Reset()
					out.WriteString(s[:len(s)-1])
				}
			}
			i = j
			continue
		}
		for k, it := range l.items {
			if k > 0 {
				out.WriteString(", ")
			}
			out.WriteString(quoteListItem(it))
		}
		i = j
	}
	if !changed {
		return cond
	}
	return out.String()
}

// quoteListItem wraps an item with a blank in double quotes unless it is
// already quoted, as Falco does when expanding lists.
func quoteListItem(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s
	}
	if strings.ContainsAny(s, " \t") {
		return condition.Quote(s)
	}
	return s
}

// conditionError positions a condition error at the YAML node of the
// condition and, inside it, at the line and column the parser reported.
func conditionError(pos Position, what string, err error) error {
	return &Error{Pos: pos, Msg: what + ": condition", Err: err}
}

// parseCondition parses a condition, reporting syntax errors against the
// text as written (before list expansion) when that text is itself invalid.
func (b *builder) parseCondition(text string) (condition.Expr, error) {
	expanded := b.expandLists(text)
	e, err := condition.Parse(expanded)
	if err == nil {
		return e, nil
	}
	if expanded == text {
		return nil, err
	}
	if _, err2 := condition.Parse(text); err2 != nil {
		return nil, err2
	}
	return nil, fmt.Errorf("after expanding lists: %w", err)
}

func (b *builder) parseMacros() {
	b.parsed = map[string]condition.Expr{}
	b.resolved = map[string]condition.Expr{}
	b.state = map[string]int{}
	for _, m := range b.macros {
		e, err := b.parseCondition(m.cond)
		if err != nil {
			if !b.dependsOnBroken(m.cond) {
				b.errs = append(b.errs, conditionError(m.condPos, fmt.Sprintf("macro %q", m.name), err))
			}
			b.broken[m.name] = true
			continue
		}
		b.parsed[m.name] = e
	}
}

// resolveMacros replaces macro references in e. from is the macro whose
// condition e is, nil for a rule: a macro only sees macros first defined
// before its own last definition, a rule sees all of them.
func (b *builder) resolveMacros(e condition.Expr, from *macroDef) (condition.Expr, error) {
	switch x := e.(type) {
	case *condition.MacroRef:
		m, ok := b.macroIdx[x.Name]
		if !ok || (from != nil && m.index >= from.visibility) {
			return nil, errorAt(x.Pos, "undefined macro %q used in filter", x.Name)
		}
		m.used = true
		return b.resolvedMacro(m, x.Pos)
	case *condition.AndExpr:
		terms, err := b.resolveTerms(x.Terms, from)
		if err != nil {
			return nil, err
		}
		return &condition.AndExpr{Pos: x.Pos, Terms: terms}, nil
	case *condition.OrExpr:
		terms, err := b.resolveTerms(x.Terms, from)
		if err != nil {
			return nil, err
		}
		return &condition.OrExpr{Pos: x.Pos, Terms: terms}, nil
	case *condition.NotExpr:
		inner, err := b.resolveMacros(x.X, from)
		if err != nil {
			return nil, err
		}
		return &condition.NotExpr{Pos: x.Pos, X: inner}, nil
	}
	return e, nil
}

func (b *builder) resolveTerms(terms []condition.Expr, from *macroDef) ([]condition.Expr, error) {
	out := make([]condition.Expr, len(terms))
	for i, t := range terms {
		r, err := b.resolveMacros(t, from)
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

func (b *builder) resolvedMacro(m *macroDef, at condition.Pos) (condition.Expr, error) {
	if e, ok := b.resolved[m.name]; ok {
		return e, nil
	}
	if b.state[m.name] == 1 {
		return nil, errorAt(at, "reference loop in macro %q", m.name)
	}
	e, ok := b.parsed[m.name]
	if !ok {
		return nil, errorAt(at, "macro %q has an invalid condition", m.name)
	}
	b.state[m.name] = 1
	r, err := b.resolveMacros(e, m)
	b.state[m.name] = 0
	if err != nil {
		return nil, fmt.Errorf("in macro %q (%s): %w", m.name, m.condPos, err)
	}
	b.resolved[m.name] = r
	return r, nil
}

func (b *builder) compileRule(d *ruleDef) *Rule {
	what := fmt.Sprintf("rule %q", d.name)
	// A block scalar (output: >) ends in a newline that is no part of the
	// message; Falco trims it too.
	d.output = strings.TrimSpace(d.output)
	r := &Rule{
		Name:     d.name,
		Desc:     d.desc,
		Output:   d.output,
		Priority: d.priority,
		Source:   d.source,
		Tags:     d.tags,
		Enabled:  d.enabled,
		Pos:      d.pos,
	}
	if strings.Contains(r.Output, "%container.info") {
		r.Output = strings.ReplaceAll(r.Output, "%container.info", "")
		d.output = r.Output
		b.warn(d.outputPos, "%s: %%container.info is deprecated and was removed from the output", what)
	}
	exc, err := exceptionCondition(d)
	if err != nil {
		b.errs = append(b.errs, err)
		return nil
	}
	r.Condition = d.cond
	if exc != "" {
		r.Condition = "(" + d.cond + ")" + exc
	}
	table := b.tables[d.source]
	if table == nil {
		r.Inactive = fmt.Sprintf("source %q is not loaded", d.source)
		b.warn(d.pos, "%s skipped: its source %q is not loaded", what, d.source)
		return r
	}
	e, err := b.parseCondition(r.Condition)
	if err == nil {
		e, err = b.resolveMacros(e, nil)
	}
	var n node
	comp := &compiler{fields: table}
	if err == nil {
		n, err = comp.compileExpr(e)
	}
	if err == nil && d.stateful != nil {
		// Before the output: its fields are the condition's, needed to run.
		r.Stateful, err = b.compileStateful(d.stateful, what, comp)
	}
	var out *format
	condMissing := 0
	if err == nil {
		condMissing = len(comp.missing)
		out, err = compileFormat(d.output, comp)
		if err != nil {
			err = &Error{Pos: d.outputPos, Msg: what + ": output", Err: err}
		}
	}
	if err != nil {
		var ce *compileError
		if d.skipUnknown && errors.As(err, &ce) && strings.Contains(ce.Msg, "unknown field") {
			r.Inactive = "unknown field: " + ce.Msg
			b.warn(d.pos, "%s skipped (skip-if-unknown-filter): %v", what, err)
			return r
		}
		if b.dependsOnBroken(r.Condition) {
			return nil // the problem is reported where the macro or list is
		}
		var le *Error
		if !errors.As(err, &le) {
			err = conditionError(d.condPos, what, err)
		}
		b.errs = append(b.errs, err)
		return nil
	}
	for _, w := range comp.warnings {
		b.warn(d.condPos, "%s: %s", what, w)
	}
	r.prog, r.output, r.expr = n, out, e
	r.types = eventTypes(e)
	r.Fields = comp.used
	r.MissingFields = comp.missing[:condMissing:condMissing]
	r.MissingOutputFields = comp.missing[condMissing:]
	var reasons []string
	if len(r.MissingFields) > 0 {
		reasons = append(reasons, "fields not provided: "+strings.Join(r.MissingFields, ", "))
	}
	if r.Stateful != nil && !table.stateful {
		reasons = append(reasons, fmt.Sprintf("stateful rules are not evaluated for source %q (only for the audit logs)", d.source))
	}
	if table.evtTypes != nil && !r.types.neg {
		var have []string
		for _, t := range r.types.list() {
			if table.evtTypes[t] {
				have = append(have, t)
			} else {
				r.MissingEventTypes = append(r.MissingEventTypes, t)
			}
		}
		if len(have) == 0 {
			reasons = append(reasons, "event types not captured: "+strings.Join(r.MissingEventTypes, ", "))
		}
	}
	r.Inactive = strings.Join(reasons, "; ")
	return r
}
