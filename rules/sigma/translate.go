package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mamori-dev/mamori/internal/yamlsyntax"
	"github.com/mamori-dev/mamori/rules"
)

// Config says what Sigma rules are translated for.
type Config struct {
	// Catalogs are the field catalogues of the event sources the caller
	// evaluates, as given to rules.Load. A Sigma rule is translated only
	// for a log source whose Falco source has a catalogue here, and its
	// translation is loaded against that catalogue before it is returned;
	// the rules of other log sources are reported.
	Catalogs []rules.Catalog
	// Stdin is what ReadFiles reads for the path "-", named "<stdin>";
	// nil reads nothing there.
	Stdin io.Reader
}

// Translator translates Sigma files into Falco rules files. It keeps the
// names of the rules it made so that two Sigma rules with one title get
// distinct Falco names. It is not safe for concurrent use.
type Translator struct {
	cfg     Config
	sources []*logSource
	fields  map[string]map[string]rules.Field // Falco source -> field name -> field
	names   map[string]bool
	refs    map[string]*translated // rules by Sigma name and id, for correlations
}

// NewTranslator returns a Translator for cfg.
func NewTranslator(cfg Config) *Translator {
	t := &Translator{cfg: cfg, sources: logSources(), fields: map[string]map[string]rules.Field{}, names: map[string]bool{}, refs: map[string]*translated{}}
	for _, c := range cfg.Catalogs {
		m := map[string]rules.Field{}
		for _, f := range c.Fields() {
			m[f.Name] = f
		}
		t.fields[c.Source()] = m
	}
	return t
}

// Translation is a Sigma file translated.
type Translation struct {
	// File is a Falco rules file, named as the Sigma file, with a rule
	// for each Sigma rule that translated.
	File rules.File
	// Rules are the names of those Falco rules, in file order.
	Rules []string
	// Untranslated are the Sigma rules that did not translate.
	Untranslated []Untranslated
}

// falcoRule is a rule as written to a Falco rules file.
type falcoRule struct {
	Rule      string   `yaml:"rule"`
	Desc      string   `yaml:"desc"`
	Condition string   `yaml:"condition"`
	Output    string   `yaml:"output"`
	Priority  string   `yaml:"priority"`
	Source    string   `yaml:"source"`
	Tags      []string `yaml:"tags,flow"`
	// Stateful is mamori's extension, for rules about several events.
	Stateful *aggregation `yaml:"stateful,omitempty"`
}

// Translate translates the Sigma documents of f. It never fails: a
// document that does not translate, including one that is not valid YAML,
// is in the Translation's Untranslated.
func (t *Translator) Translate(f rules.File) Translation {
	tr := Translation{File: rules.File{Name: f.Name}}
	var out []falcoRule
	silenced := map[string]bool{}
	dec := yaml.NewDecoder(bytes.NewReader(f.Data))
	var global, prev *yaml.Node
	for doc := 1; ; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		untranslated := func(meta *yaml.Node, p *problem) {
			u := Untranslated{File: f.Name, Doc: doc, Reason: p.reason, Detail: p.detail}
			if meta != nil {
				u.Title, u.ID = scalarAt(meta, "title"), scalarAt(meta, "id")
			}
			tr.Untranslated = append(tr.Untranslated, u)
		}
		if err != nil {
			if se := yamlsyntax.Check(f.Data); se != nil {
				untranslated(nil, fail(ReasonInvalid, "not valid YAML at %d:%d: %s", se.Line, se.Col, se.Detail()))
			} else {
				untranslated(nil, fail(ReasonInvalid, "not valid YAML: %v", err))
			}
			break
		}
		root := resolve(&n)
		if root != nil && root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
			root = resolve(root.Content[0])
		}
		if root == nil || root.Kind == 0 || root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue // an empty document
		}
		if root.Kind != yaml.MappingNode {
			untranslated(nil, fail(ReasonInvalid, "a Sigma document is a mapping"))
			continue
		}
		switch action := scalarAt(root, "action"); action {
		case "":
		case "global":
			global = without(root, "action")
			continue
		case "reset":
			global = nil
			continue
		case "repeat":
			if prev == nil {
				untranslated(root, fail(ReasonInvalid, "action: repeat with no document before it"))
				continue
			}
			root = merge(prev, without(root, "action"), 0)
		default:
			untranslated(root, fail(ReasonInvalid, "unknown action %q", action))
			continue
		}
		if global != nil && scalarAt(root, "action") == "" {
			root = merge(global, root, 0)
		}
		prev = root
		var r falcoRule
		var p *problem
		if valueAt(root, "correlation") != nil {
			var quiet []string
			r, quiet, p = t.correlation(f.Name, root)
			for _, q := range quiet {
				silenced[q] = true
			}
		} else {
			r, p = t.rule(f.Name, root)
		}
		if p != nil {
			untranslated(root, p)
			continue
		}
		out = append(out, r)
	}
	// The rules a correlation of this file names alert only through it,
	// unless it says generate: true.
	kept := out[:0]
	for _, r := range out {
		if !silenced[r.Rule] {
			kept = append(kept, r)
			tr.Rules = append(tr.Rules, r.Rule)
		}
	}
	tr.File.Data = render(f.Name, kept)
	return tr
}

// render writes rules as a Falco rules file.
func render(name string, rs []falcoRule) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Falco rules translated by mamori from the Sigma rules in %s\n", strings.ReplaceAll(name, "\n", " "))
	if len(rs) == 0 {
		b.WriteString("[]\n")
		return b.Bytes()
	}
	y, err := yaml.Marshal(rs)
	if err != nil {
		// Marshalling strings and string lists does not fail.
		panic(err)
	}
	b.Write(y)
	return b.Bytes()
}

// rule translates one Sigma rule.
func (t *Translator) rule(file string, n *yaml.Node) (falcoRule, *problem) {
	if valueAt(n, "filter") != nil && valueAt(n, "detection") == nil {
		return falcoRule{}, fail(ReasonCorrelation, "a Sigma filter amends other rules and is not a rule itself")
	}
	title := strings.TrimSpace(scalarAt(n, "title"))
	if title == "" {
		return falcoRule{}, fail(ReasonInvalid, "the rule has no title")
	}
	ls, p := t.logSource(valueAt(n, "logsource"))
	if p != nil {
		return falcoRule{}, p
	}
	det := valueAt(n, "detection")
	if det == nil {
		return falcoRule{}, fail(ReasonInvalid, "the rule has no detection")
	}
	rt := &ruleTranslator{ls: ls, fields: t.fields[ls.source]}
	e, agg, p := rt.detection(det)
	if p != nil {
		return falcoRule{}, p
	}
	prio, p := priority(scalarAt(n, "level"))
	if p != nil {
		return falcoRule{}, p
	}
	id := strings.TrimSpace(scalarAt(n, "id"))
	r := falcoRule{
		Rule:      t.name(title, id, file),
		Desc:      describe(n, title, id),
		Condition: e.falco(),
		Output:    outputText(title) + " (" + ls.output + sigmaID(id) + ")",
		Priority:  prio,
		Source:    ls.source,
		Tags:      falcoTags(ls, seqAt(n, "tags")),
		Stateful:  agg,
	}
	if p := t.tryLoad(file, ls, r); p != nil {
		return falcoRule{}, p
	}
	t.names[r.Rule] = true
	t.remember(n, id, r, ls, e)
	return r, nil
}

// tryLoad loads r alone against its source's catalogue: what is returned
// always loads, and a translation the engine refuses is reported.
func (t *Translator) tryLoad(file string, ls *logSource, r falcoRule) *problem {
	var cat rules.Catalog
	for _, c := range t.cfg.Catalogs {
		if c.Source() == ls.source {
			cat = c
		}
	}
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{cat}}, rules.File{Name: file, Data: render(file, []falcoRule{r})})
	if err != nil {
		return fail(ReasonEngine, "the translation does not load: %v (condition: %s)", err, r.Condition)
	}
	for _, lr := range rs.Rules() {
		if !lr.Active() {
			return fail(ReasonEngine, "the translation cannot run here: %s (condition: %s)", lr.Inactive, r.Condition)
		}
	}
	return nil
}

// logSource finds the log source of a rule's logsource, for which the
// caller must have a catalogue.
func (t *Translator) logSource(n *yaml.Node) (*logSource, *problem) {
	if n = resolve(n); n == nil || n.Kind != yaml.MappingNode {
		return nil, fail(ReasonInvalid, "the rule has no logsource mapping")
	}
	product, service := scalarAt(n, "product"), scalarAt(n, "service")
	ls := findLogSource(t.sources, product, service)
	if ls == nil {
		var have []string
		for _, s := range t.sources {
			have = append(have, s.product+"/"+s.service)
		}
		desc := fmt.Sprintf("product %q, service %q", product, service)
		if c := scalarAt(n, "category"); c != "" {
			desc += fmt.Sprintf(", category %q", c)
		}
		return nil, fail(ReasonLogsource, "logsource %s: only %s are translated", desc, strings.Join(have, " and "))
	}
	if _, ok := t.fields[ls.source]; !ok {
		return nil, fail(ReasonLogsource, "logsource %s/%s: its events (Falco source %s) are not evaluated here", ls.product, ls.service, ls.source)
	}
	return ls, nil
}

// name is a Falco rule name for the Sigma title, made unique.
func (t *Translator) name(title, id, file string) string {
	if !t.names[title] {
		return title
	}
	if id != "" && !t.names[title+" ["+id+"]"] {
		return title + " [" + id + "]"
	}
	for i := 2; ; i++ {
		n := fmt.Sprintf("%s [%s %d]", title, file, i)
		if !t.names[n] {
			return n
		}
	}
}

func describe(n *yaml.Node, title, id string) string {
	d := strings.Join(strings.Fields(scalarAt(n, "description")), " ")
	if d == "" {
		d = title
	}
	var meta []string
	if id != "" {
		meta = append(meta, "id "+id)
	}
	if s := scalarAt(n, "status"); s != "" {
		meta = append(meta, "status "+s)
	}
	if a := scalarAt(n, "author"); a != "" {
		meta = append(meta, "by "+strings.Join(strings.Fields(a), " "))
	}
	if len(meta) == 0 {
		return d + " (Sigma rule)"
	}
	return d + " (Sigma rule " + strings.Join(meta, ", ") + ")"
}

// outputText is text for a Falco output: it may not hold a "%", which
// would start a field.
func outputText(s string) string {
	return strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "%", " percent")
}

func sigmaID(id string) string {
	if id == "" {
		return ""
	}
	return " sigma_id=" + outputText(id)
}

// priority maps a Sigma level to a Falco priority.
func priority(level string) (string, *problem) {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "informational":
		return rules.PriorityInformational.String(), nil
	case "low":
		return rules.PriorityNotice.String(), nil
	case "", "medium":
		return rules.PriorityWarning.String(), nil
	case "high":
		return rules.PriorityError.String(), nil
	case "critical":
		return rules.PriorityCritical.String(), nil
	}
	return "", fail(ReasonInvalid, "unknown level %q: expected informational, low, medium, high or critical", level)
}

var (
	techniqueTag = regexp.MustCompile(`^attack\.t(\d{4}(?:\.\d{3})?)$`)
	tacticTag    = regexp.MustCompile(`^attack\.([a-z]+(?:-[a-z]+)*)$`)
)

// falcoTags are the log source's tags, "sigma", and the Sigma tags in
// Falco's spelling: attack.t1098.001 becomes T1098.001 and
// attack.privilege-escalation mitre_privilege_escalation; others are kept.
func falcoTags(ls *logSource, sigma []string) []string {
	tags := append(append([]string{}, ls.tags...), "sigma")
	seen := map[string]bool{}
	for _, t := range tags {
		seen[t] = true
	}
	for _, s := range sigma {
		s = strings.TrimSpace(s)
		tag := s
		if m := techniqueTag.FindStringSubmatch(strings.ToLower(s)); m != nil {
			tag = "T" + m[1]
		} else if m := tacticTag.FindStringSubmatch(strings.ToLower(s)); m != nil {
			tag = "mitre_" + strings.ReplaceAll(m[1], "-", "_")
		}
		if tag != "" && !seen[tag] {
			seen[tag] = true
			tags = append(tags, tag)
		}
	}
	return tags
}
