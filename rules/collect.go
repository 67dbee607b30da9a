package rules

import (
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mamori-dev/mamori/internal/textdist"
	"github.com/mamori-dev/mamori/internal/yamlsyntax"
)

// The collector reads rules files in order and applies Falco's
// definition, append and override semantics, producing the final lists,
// macros and rules that compile() then turns into a Ruleset.

type listDef struct {
	name       string
	items      []string
	pos        Position
	index      int // order of first definition among all items
	visibility int // order of the last definition or append
	used       bool
}

type macroDef struct {
	name       string
	cond       string
	pos        Position
	condPos    Position
	index      int
	visibility int
	used       bool
}

type ruleDef struct {
	name        string
	cond        string
	output      string
	desc        string
	priority    Priority
	source      string
	tags        []string
	enabled     bool
	exceptions  []*exceptionDef
	skipUnknown bool
	stateful    *statefulDef // mamori's extension; nil for a Falco rule
	pos         Position
	condPos     Position
	outputPos   Position
}

type exceptionDef struct {
	name   string
	fields *yaml.Node
	comps  *yaml.Node
	values []*yaml.Node // appended values accumulate here
	pos    Position
}

type collector struct {
	cfg       *Config
	engine    version
	lists     []*listDef
	macros    []*macroDef
	rules     []*ruleDef
	listIdx   map[string]*listDef
	macroIdx  map[string]*macroDef
	ruleIdx   map[string]*ruleDef
	seq       int
	required  version // highest required_engine_version seen
	warnings  []Warning
	plugins   []pluginRequirement
	curFile   string
	curSource string

	files []string // the names of the files, in load order
	// errs are the problems of items that could not be read; reading
	// goes on with the next item, so that one load reports them all.
	errs []error
	// broken names the rules, macros and lists whose items had a
	// problem: what refers to them later is not reported again.
	broken map[string]bool
}

// maxErrors bounds the problems one load reports; past that, the first
// ones are what a user fixes first anyway.
const maxErrors = 50

type pluginRequirement struct {
	pos          Position
	alternatives []pluginVersion // the first is the named plugin
}

type pluginVersion struct {
	name, version string
}

func newCollector(cfg *Config, engine version) *collector {
	return &collector{
		cfg:      cfg,
		engine:   engine,
		listIdx:  map[string]*listDef{},
		macroIdx: map[string]*macroDef{},
		ruleIdx:  map[string]*ruleDef{},
		broken:   map[string]bool{},
	}
}

// fail records the problem of an item named name ("" when it has none)
// and goes on; a problem of an item that refers to an earlier broken one
// ("no rule by that name already exists") is not repeated.
func (c *collector) fail(name string, err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			c.fail("", e)
		}
		if name != "" {
			c.broken[name] = true
		}
		return
	}
	if name != "" {
		if c.broken[name] {
			return
		}
		c.broken[name] = true
	}
	if len(c.errs) < maxErrors {
		c.errs = append(c.errs, err)
	}
}

func (c *collector) warn(pos Position, format string, args ...any) {
	c.warnings = append(c.warnings, Warning{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func (c *collector) errorf(n *yaml.Node, format string, args ...any) error {
	return &Error{Pos: nodePos(c.curFile, n), Msg: fmt.Sprintf(format, args...)}
}

// addFile reads one rules file: a YAML sequence of items.
func (c *collector) addFile(f File) error {
	c.curFile = f.Name
	var doc yaml.Node
	if err := yaml.Unmarshal(f.Data, &doc); err != nil {
		if se := yamlsyntax.Check(f.Data); se != nil {
			return &Error{Pos: Position{File: f.Name, Line: se.Line, Col: se.Col}, Msg: "invalid YAML: " + se.Detail()}
		}
		return &Error{Pos: Position{File: f.Name}, Msg: "invalid YAML", Err: err}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // an empty file holds no items
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.SequenceNode {
		return c.errorf(root, "found %s, expected a sequence of rules, macros and lists", kindName(root))
	}
	for _, item := range root.Content {
		if err := c.addItem(item); err != nil {
			c.fail(itemName(item), err)
		}
	}
	return nil
}

// itemName is the name of the rule, macro or list an item defines, or "".
func itemName(n *yaml.Node) string {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "rule", "macro", "list":
			return n.Content[i+1].Value
		}
	}
	return ""
}

// Item keys: the one that says what an item is, then what each kind of
// item may hold. A key that is none of these but close to one is a typo,
// and an error (a rule with "conditon" is not silently a rule without a
// condition); one that is far from all is ignored with a warning, as
// Falco does with keys of versions it does not know.
var (
	itemKinds = []string{"rule", "macro", "list", "required_engine_version", "required_plugin_versions"}
	itemKeys  = map[string][]string{
		"rule": {"rule", "condition", "output", "desc", "priority", "source", "tags", "enabled", "exceptions",
			"skip-if-unknown-filter", "capture", "capture_duration", "warn_evttypes", "append", "override", "stateful"},
		"macro":                    {"macro", "condition", "append", "override"},
		"list":                     {"list", "items", "append", "override"},
		"required_engine_version":  {"required_engine_version"},
		"required_plugin_versions": {"required_plugin_versions"},
	}
)

// checkKeys reports the keys of an item of kind that are typos of known
// ones, all of them at once, and warns of the others it ignores.
func (c *collector) checkKeys(m *mapping, kind, what string) error {
	known := itemKeys[kind]
	var errs []error
	for _, k := range m.keys {
		if contains(known, k) {
			continue
		}
		if near := textdist.Nearest(k, known); near != "" && !m.has(near) {
			errs = append(errs, c.errorf(m.keyPos[k], "%s: unknown key %q; did you mean %q?", what, k, near))
			continue
		}
		c.warn(nodePos(c.curFile, m.keyPos[k]), "%s: unknown key %q ignored (known: %s)", what, k, strings.Join(known, ", "))
	}
	return errors.Join(errs...)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "an empty value"
	}
	return fmt.Sprintf("the scalar %q", n.Value)
}

// mapping is a YAML mapping's values by key, keeping key order.
type mapping struct {
	node   *yaml.Node
	keys   []string
	keyPos map[string]*yaml.Node
	vals   map[string]*yaml.Node
}

func (c *collector) readMapping(n *yaml.Node) (*mapping, error) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil, c.errorf(n, "found %s, expected a mapping", kindName(n))
	}
	m := &mapping{node: n, keyPos: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		if _, dup := m.vals[k.Value]; dup {
			return nil, c.errorf(k, "duplicate key %q", k.Value)
		}
		m.keys = append(m.keys, k.Value)
		m.keyPos[k.Value] = k
		m.vals[k.Value] = v
	}
	return m, nil
}

func (m *mapping) has(key string) bool { _, ok := m.vals[key]; return ok }

func (c *collector) scalar(m *mapping, key string) (string, error) {
	v := m.vals[key]
	if v.Kind != yaml.ScalarNode {
		return "", c.errorf(v, "%s: found %s, expected a string", key, kindName(v))
	}
	if v.Tag == "!!null" {
		return "", nil
	}
	return v.Value, nil
}

func (c *collector) requiredScalar(m *mapping, key, what string) (string, error) {
	if !m.has(key) {
		return "", c.errorf(m.node, "%s has no %q key", what, key)
	}
	return c.scalar(m, key)
}

func (c *collector) stringList(n *yaml.Node, key string) ([]string, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, c.errorf(n, "%s: found %s, expected a list", key, kindName(n))
	}
	out := make([]string, 0, len(n.Content))
	for _, it := range n.Content {
		if it.Kind == yaml.AliasNode {
			it = it.Alias
		}
		if it.Kind != yaml.ScalarNode {
			return nil, c.errorf(it, "%s: found %s, expected a string item", key, kindName(it))
		}
		out = append(out, it.Value)
	}
	return out, nil
}

func (c *collector) boolean(m *mapping, key string) (bool, error) {
	v := m.vals[key]
	var b bool
	if v.Kind != yaml.ScalarNode || v.Decode(&b) != nil {
		return false, c.errorf(v, "%s: found %s, expected true or false", key, kindName(v))
	}
	return b, nil
}

func (c *collector) addItem(n *yaml.Node) error {
	m, err := c.readMapping(n)
	if err != nil {
		return err
	}
	c.seq++
	for _, kind := range itemKinds {
		if m.has(kind) {
			what := kind
			if kind == "rule" || kind == "macro" || kind == "list" {
				what = fmt.Sprintf("%s %q", kind, m.vals[kind].Value)
			}
			if err := c.checkKeys(m, kind, what); err != nil {
				return err
			}
			break
		}
	}
	switch {
	case m.has("required_engine_version"):
		return c.addEngineVersion(m)
	case m.has("required_plugin_versions"):
		return c.addPluginVersions(m)
	case m.has("list"):
		return c.addList(m)
	case m.has("macro"):
		return c.addMacro(m)
	case m.has("rule"):
		return c.addRule(m)
	}
	key := ""
	if len(m.keys) > 0 {
		key = m.keys[0]
	}
	for _, k := range m.keys {
		if near := textdist.Nearest(k, itemKinds); near != "" {
			return c.errorf(m.keyPos[k], "unknown item key %q; did you mean %q?", k, near)
		}
	}
	c.warn(nodePos(c.curFile, n), "unknown top level item %q ignored, expected rule, macro, list, required_engine_version or required_plugin_versions", key)
	return nil
}

func (c *collector) addEngineVersion(m *mapping) error {
	s, err := c.scalar(m, "required_engine_version")
	if err != nil {
		return err
	}
	req, err := requiredEngineVersion(s, c.engine)
	if err != nil {
		return c.errorf(m.vals["required_engine_version"], "required_engine_version: %v", err)
	}
	if !c.engine.compatible(req) {
		return c.errorf(m.vals["required_engine_version"], "rules require engine version %s, but this engine is %s", req, c.engine)
	}
	if c.required.less(req) {
		c.required = req
	}
	return nil
}

func (c *collector) addPluginVersions(m *mapping) error {
	seq := m.vals["required_plugin_versions"]
	if seq.Kind != yaml.SequenceNode {
		return c.errorf(seq, "required_plugin_versions: found %s, expected a list", kindName(seq))
	}
	for _, it := range seq.Content {
		req, err := c.pluginRequirement(it, true)
		if err != nil {
			return err
		}
		c.plugins = append(c.plugins, req)
	}
	return nil
}

func (c *collector) pluginRequirement(n *yaml.Node, allowAlternatives bool) (pluginRequirement, error) {
	req := pluginRequirement{pos: nodePos(c.curFile, n)}
	m, err := c.readMapping(n)
	if err != nil {
		return req, err
	}
	name, err := c.requiredScalar(m, "name", "plugin requirement")
	if err != nil {
		return req, err
	}
	ver, err := c.requiredScalar(m, "version", "plugin requirement")
	if err != nil {
		return req, err
	}
	if _, err := parseVersion(ver); err != nil {
		return req, c.errorf(m.vals["version"], "plugin %s: %v", name, err)
	}
	req.alternatives = append(req.alternatives, pluginVersion{name, ver})
	if alts, ok := m.vals["alternatives"]; ok && allowAlternatives {
		if alts.Kind != yaml.SequenceNode {
			return req, c.errorf(alts, "alternatives: found %s, expected a list", kindName(alts))
		}
		for _, a := range alts.Content {
			alt, err := c.pluginRequirement(a, false)
			if err != nil {
				return req, err
			}
			req.alternatives = append(req.alternatives, alt.alternatives...)
		}
	}
	return req, nil
}

// overrides reads the override key: for each key, "append" or "replace".
func (c *collector) overrides(m *mapping, what string, appendable, replaceable []string) (map[string]string, error) {
	ov, ok := m.vals["override"]
	if !ok {
		return nil, nil
	}
	om, err := c.readMapping(ov)
	if err != nil {
		return nil, err
	}
	if m.has("append") {
		return nil, c.errorf(m.keyPos["append"], "%s uses both append and override; use only override", what)
	}
	out := map[string]string{}
	for _, k := range om.keys {
		op := om.vals[k].Value
		allowed := appendable
		if op == "replace" {
			allowed = replaceable
		} else if op != "append" {
			return nil, c.errorf(om.vals[k], "override of %q: found %q, expected append or replace", k, op)
		}
		if !contains(allowed, k) {
			return nil, c.errorf(om.keyPos[k], "key %q cannot be overridden with %s, expected one of %s", k, op, strings.Join(allowed, ", "))
		}
		if !m.has(k) {
			return nil, c.errorf(om.keyPos[k], "override names %q but the %s has no %q key", k, what, k)
		}
		out[k] = op
	}
	for _, k := range m.keys {
		switch k {
		case "override", "rule", "macro", "list":
			continue
		}
		if _, ok := out[k]; !ok {
			return nil, c.errorf(m.keyPos[k], "unexpected key %q: there is no corresponding entry under 'override'", k)
		}
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// legacyAppend reads "append: true".
func (c *collector) legacyAppend(m *mapping) (bool, error) {
	if !m.has("append") {
		return false, nil
	}
	return c.boolean(m, "append")
}

func (c *collector) addList(m *mapping) error {
	name, err := c.scalar(m, "list")
	if err != nil {
		return err
	}
	pos := nodePos(c.curFile, m.node)
	if !m.has("items") {
		return c.errorf(m.node, "list %q has no \"items\" key", name)
	}
	items, err := c.stringList(m.vals["items"], "items")
	if err != nil {
		return err
	}
	ov, err := c.overrides(m, "list", []string{"items"}, []string{"items"})
	if err != nil {
		return err
	}
	app, err := c.legacyAppend(m)
	if err != nil {
		return err
	}
	prev := c.listIdx[name]
	op := ov["items"]
	if app {
		op = "append"
	}
	if op != "" && prev == nil {
		return c.errorf(m.node, "list %q has 'append' key or an append override but no list by that name already exists", name)
	}
	switch op {
	case "append":
		prev.items = append(prev.items, items...)
		prev.visibility = c.seq
	case "replace":
		prev.items = items
		prev.visibility = c.seq
	default:
		if prev != nil {
			prev.items, prev.visibility = items, c.seq
			return nil
		}
		l := &listDef{name: name, items: items, pos: pos, index: c.seq, visibility: c.seq}
		c.lists = append(c.lists, l)
		c.listIdx[name] = l
	}
	return nil
}

func (c *collector) addMacro(m *mapping) error {
	name, err := c.scalar(m, "macro")
	if err != nil {
		return err
	}
	if !m.has("condition") {
		return c.errorf(m.node, "macro %q has no \"condition\" key", name)
	}
	cond, err := c.scalar(m, "condition")
	if err != nil {
		return err
	}
	condPos := nodePos(c.curFile, m.vals["condition"])
	ov, err := c.overrides(m, "macro", []string{"condition"}, []string{"condition"})
	if err != nil {
		return err
	}
	app, err := c.legacyAppend(m)
	if err != nil {
		return err
	}
	prev := c.macroIdx[name]
	op := ov["condition"]
	if app {
		op = "append"
	}
	if op != "" && prev == nil {
		return c.errorf(m.node, "macro %q has 'append' key or an append override but no macro by that name already exists", name)
	}
	switch op {
	case "append":
		prev.cond += " " + cond
		prev.visibility = c.seq
	case "replace":
		prev.cond, prev.condPos, prev.visibility = cond, condPos, c.seq
	default:
		if prev != nil {
			prev.cond, prev.condPos, prev.visibility = cond, condPos, c.seq
			return nil
		}
		d := &macroDef{name: name, cond: cond, pos: nodePos(c.curFile, m.node), condPos: condPos, index: c.seq, visibility: c.seq}
		c.macros = append(c.macros, d)
		c.macroIdx[name] = d
	}
	return nil
}

var (
	ruleAppendable  = []string{"condition", "output", "desc", "tags", "exceptions"}
	ruleReplaceable = []string{"condition", "output", "desc", "priority", "capture", "capture_duration", "tags", "exceptions", "enabled", "warn_evttypes", "skip-if-unknown-filter", "stateful"}
)

func (c *collector) addRule(m *mapping) error {
	name, err := c.scalar(m, "rule")
	if err != nil {
		return err
	}
	if name == "" {
		return c.errorf(m.vals["rule"], "found an empty rule name, expected a name")
	}
	what := fmt.Sprintf("rule %q", name)
	ov, err := c.overrides(m, what, ruleAppendable, ruleReplaceable)
	if err != nil {
		return err
	}
	app, err := c.legacyAppend(m)
	if err != nil {
		return err
	}
	prev := c.ruleIdx[name]
	switch {
	case ov != nil:
		if prev == nil {
			return c.errorf(m.node, "%s has an override but no rule by that name already exists", what)
		}
		for _, k := range m.keys {
			if op, ok := ov[k]; ok {
				if err := c.applyRuleKey(prev, m, k, op == "append"); err != nil {
					return err
				}
			}
		}
		return nil
	case app:
		if prev == nil {
			return c.errorf(m.node, "%s has 'append' key but no rule by that name already exists", what)
		}
		c.warn(nodePos(c.curFile, m.keyPos["append"]), "%s: 'append' is deprecated, use 'override'", what)
		for _, k := range m.keys {
			switch k {
			case "rule", "append":
			case "condition", "exceptions", "output", "desc", "tags":
				if err := c.applyRuleKey(prev, m, k, true); err != nil {
					return err
				}
			default:
				return c.errorf(m.keyPos[k], "%s: key %q cannot be appended, expected condition or exceptions", what, k)
			}
		}
		return nil
	}
	if m.has("enabled") && !m.has("condition") && !m.has("output") && !m.has("desc") && !m.has("priority") {
		if prev == nil {
			return c.errorf(m.node, "%s has only an 'enabled' key but no rule by that name already exists", what)
		}
		c.warn(nodePos(c.curFile, m.node), "%s: an item with only 'enabled' is deprecated, use 'override: {enabled: replace}'", what)
		return c.applyRuleKey(prev, m, "enabled", false)
	}
	r := &ruleDef{name: name, source: "syscall", enabled: true, pos: nodePos(c.curFile, m.node)}
	for _, k := range []string{"condition", "output", "desc", "priority"} {
		if !m.has(k) {
			return c.errorf(m.node, "%s has no %q key", what, k)
		}
	}
	if m.has("source") {
		if r.source, err = c.scalar(m, "source"); err != nil {
			return err
		}
		if prev != nil && prev.source != r.source {
			return c.errorf(m.vals["source"], "%s redefined with source %q, but it has source %q", what, r.source, prev.source)
		}
	}
	for _, k := range m.keys {
		switch k {
		case "rule", "source":
		case "capture", "capture_duration", "warn_evttypes":
			// Accepted for compatibility; they concern Falco's outputs.
		default:
			if err := c.applyRuleKey(r, m, k, false); err != nil {
				return err
			}
		}
	}
	if prev != nil {
		r.pos = prev.pos
		*prev = *r
		return nil
	}
	c.rules = append(c.rules, r)
	c.ruleIdx[name] = r
	return nil
}

// applyRuleKey sets, or with appendOp appends to, one key of a rule.
func (c *collector) applyRuleKey(r *ruleDef, m *mapping, key string, appendOp bool) error {
	v := m.vals[key]
	join := func(old, s string) string {
		if appendOp {
			return old + " " + s
		}
		return s
	}
	switch key {
	case "condition", "output", "desc":
		s, err := c.scalar(m, key)
		if err != nil {
			return err
		}
		switch key {
		case "condition":
			r.cond = join(r.cond, s)
			if !appendOp {
				r.condPos = nodePos(c.curFile, v)
			}
		case "output":
			r.output = join(r.output, s)
			r.outputPos = nodePos(c.curFile, v)
		case "desc":
			r.desc = join(r.desc, s)
		}
	case "priority":
		s, err := c.scalar(m, key)
		if err != nil {
			return err
		}
		p, err := ParsePriority(s)
		if err != nil {
			return c.errorf(v, "%v", err)
		}
		r.priority = p
	case "tags":
		tags, err := c.stringList(v, key)
		if err != nil {
			return err
		}
		if !appendOp {
			r.tags = nil
		}
		for _, t := range tags {
			if !contains(r.tags, t) {
				r.tags = append(r.tags, t)
			}
		}
	case "enabled":
		b, err := c.boolean(m, key)
		if err != nil {
			return err
		}
		r.enabled = b
	case "skip-if-unknown-filter":
		b, err := c.boolean(m, key)
		if err != nil {
			return err
		}
		r.skipUnknown = b
	case "exceptions":
		return c.applyExceptions(r, v, appendOp)
	case "stateful":
		d, err := c.readStateful(v, r.name)
		if err != nil {
			return err
		}
		r.stateful = d
	case "capture", "capture_duration", "warn_evttypes", "append", "override", "rule", "source":
	default:
		c.warn(nodePos(c.curFile, m.keyPos[key]), "rule %q: unknown key %q ignored", r.name, key)
	}
	return nil
}

func (c *collector) applyExceptions(r *ruleDef, v *yaml.Node, appendOp bool) error {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		if !appendOp {
			r.exceptions = nil
		}
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		return c.errorf(v, "exceptions: found %s, expected a list", kindName(v))
	}
	if !appendOp {
		r.exceptions = nil
	}
	for _, n := range v.Content {
		m, err := c.readMapping(n)
		if err != nil {
			return err
		}
		name, err := c.requiredScalar(m, "name", "exception")
		if err != nil {
			return err
		}
		var prev *exceptionDef
		for _, e := range r.exceptions {
			if e.name == name {
				prev = e
			}
		}
		if appendOp && prev != nil {
			if m.has("fields") || m.has("comps") {
				return c.errorf(n, "exception %q of rule %q: an append may only add values, found fields or comps", name, r.name)
			}
			if vals, ok := m.vals["values"]; ok {
				prev.values = append(prev.values, vals)
			}
			continue
		}
		if prev != nil {
			return c.errorf(n, "rule %q has two exceptions named %q", r.name, name)
		}
		if !m.has("fields") {
			return c.errorf(n, "exception %q of rule %q has no \"fields\" key", name, r.name)
		}
		e := &exceptionDef{name: name, fields: m.vals["fields"], comps: m.vals["comps"], pos: nodePos(c.curFile, n)}
		if vals, ok := m.vals["values"]; ok {
			e.values = append(e.values, vals)
		} else if appendOp {
			return c.errorf(n, "exception %q appended to rule %q has no \"values\" key", name, r.name)
		}
		r.exceptions = append(r.exceptions, e)
	}
	return nil
}

// checkPlugins verifies every required_plugin_versions entry against the
// plugins the caller provides.
func (c *collector) checkPlugins(provided map[string]string) error {
	var errs []error
	for _, req := range c.plugins {
		ok := false
		var have []string
		for _, alt := range req.alternatives {
			v, found := provided[alt.name]
			if !found {
				continue
			}
			have = append(have, alt.name+" "+v)
			pv, err1 := parseVersion(v)
			rv, err2 := parseVersion(alt.version)
			if err1 == nil && err2 == nil && pv.compatible(rv) {
				ok = true
				break
			}
		}
		if ok {
			continue
		}
		var wants []string
		for _, alt := range req.alternatives {
			wants = append(wants, alt.name+" >= "+alt.version)
		}
		found := "no such plugin"
		if len(have) > 0 {
			found = strings.Join(have, ", ")
		}
		errs = append(errs, &Error{Pos: req.pos, Msg: fmt.Sprintf("plugin requirement not satisfied: found %s, expected %s", found, strings.Join(wants, " or "))})
	}
	return errors.Join(errs...)
}
