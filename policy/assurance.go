package policy

import (
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// AssuranceKind is the kind of an image assurance policy: what an image
// must satisfy before it may run, judged by the image scanner (`mamori
// image scan`) and, through the registered images, at admission and at
// container start.
const AssuranceKind = "ImageAssurancePolicy"

// AssurancePolicy is one ImageAssurancePolicy document:
//
//	apiVersion: mamori.dev/v1
//	kind: ImageAssurancePolicy
//	metadata: {name: production-images}
//	spec:
//	  scope: {image: {registry: registry.internal}}
//	  rules:
//	    maxSeverity: medium
//	    blockMalware: true
//	    requireNonRoot: true
//
// It shares the runtime policies' metadata, scope selectors and strict
// decoding; its scope selects images only.
type AssurancePolicy struct {
	APIVersion string        `yaml:"apiVersion" json:"apiVersion"`
	Kind       string        `yaml:"kind" json:"kind"`
	Metadata   Metadata      `yaml:"metadata" json:"metadata"`
	Spec       AssuranceSpec `yaml:"spec" json:"spec"`
	Source     Position      `yaml:"-" json:"source"`
	pos        map[string]Position
	builtin    bool
}

// AssuranceSpec says which images the policy covers and what it requires.
type AssuranceSpec struct {
	Scope *Scope         `yaml:"scope" json:"scope"`
	Rules AssuranceRules `yaml:"rules" json:"rules"`
}

// AssuranceRules are what an image must satisfy. A rule left out (false,
// empty) requires nothing.
type AssuranceRules struct {
	// MaxSeverity is the highest vulnerability severity allowed: "none"
	// allows no vulnerability, "critical" allows all; unset judges no
	// vulnerabilities. One of Severities.
	MaxSeverity string `yaml:"maxSeverity" json:"maxSeverity,omitempty"`
	// IgnoreVulnerabilities lists advisory ids (CVE-..., GHSA-...) that
	// MaxSeverity does not count, for ones judged not to apply.
	IgnoreVulnerabilities []string `yaml:"ignoreVulnerabilities" json:"ignoreVulnerabilities,omitempty"`
	// BlockMalware refuses an image with any malware finding.
	BlockMalware bool `yaml:"blockMalware" json:"blockMalware,omitempty"`
	// BlockSecrets refuses an image with a secret in a file or in ENV.
	BlockSecrets bool `yaml:"blockSecrets" json:"blockSecrets,omitempty"`
	// RequireNonRoot refuses an image that runs as root (no USER, USER
	// root or 0).
	RequireNonRoot bool `yaml:"requireNonRoot" json:"requireNonRoot,omitempty"`
	// RequireDigest refuses an image referenced by tag without a digest;
	// BlockLatestTag one referenced by the latest tag or no tag.
	RequireDigest  bool `yaml:"requireDigest" json:"requireDigest,omitempty"`
	BlockLatestTag bool `yaml:"blockLatestTag" json:"blockLatestTag,omitempty"`
	// ForbidSetuid refuses setuid and setgid files except those
	// AllowSetuid lists (path globs).
	ForbidSetuid bool     `yaml:"forbidSetuid" json:"forbidSetuid,omitempty"`
	AllowSetuid  Patterns `yaml:"allowSetuid" json:"allowSetuid,omitzero"`
	// RequireHealthcheck refuses an image without a HEALTHCHECK.
	RequireHealthcheck bool `yaml:"requireHealthcheck" json:"requireHealthcheck,omitempty"`
	// BlockPackageManagers refuses an image with apt, apk, dnf, pip... in it.
	BlockPackageManagers bool `yaml:"blockPackageManagers" json:"blockPackageManagers,omitempty"`
	// BlockWorldWritablePath refuses an image with a world-writable
	// directory on PATH.
	BlockWorldWritablePath bool `yaml:"blockWorldWritablePath" json:"blockWorldWritablePath,omitempty"`
}

// Severities are MaxSeverity's values, lowest first; "none" allows no
// vulnerability at all.
var Severities = []string{"none", "unknown", "low", "medium", "high", "critical"}

// Name is the policy's metadata.name.
func (p *AssurancePolicy) Name() string { return p.Metadata.Name }

// Builtin reports whether p is the built-in default.
func (p *AssurancePolicy) Builtin() bool { return p.builtin }

// At returns the position of a dotted YAML path in the document, or of
// its nearest ancestor the document spells out.
func (p *AssurancePolicy) At(path string) Position { return p.shell().At(path) }

// Matches reports whether the policy's scope covers the image.
func (p *AssurancePolicy) Matches(img ImageFacts) bool {
	return p.Spec.Scope == nil || p.Spec.Scope.Match(&Target{Image: img})
}

// shell is a RuntimePolicy carrying this document's positions, so that
// the runtime policies' validator and scope checks report into them.
func (p *AssurancePolicy) shell() *Policy {
	return &Policy{Source: p.Source, pos: p.pos, Metadata: p.Metadata}
}

// builtinAssurance is the built-in default image assurance policy: what
// every image is judged by when no policy given covers it. It refuses what
// is plainly dangerous and only reports the rest.
const builtinAssurance = `apiVersion: mamori.dev/v1
kind: ImageAssurancePolicy
metadata:
  name: builtin-image-assurance
spec:
  scope: {image: {}}
  rules:
    maxSeverity: high
    blockMalware: true
    blockSecrets: true
    blockWorldWritablePath: true
`

// BuiltinAssuranceFile is the name positions in the built-in default
// image assurance policy carry.
const BuiltinAssuranceFile = "<built-in>/image-assurance.yaml"

// BuiltinAssurance returns the built-in default image assurance policy.
func BuiltinAssurance() *AssurancePolicy {
	ps, err := ParseAssurance(BuiltinAssuranceFile, []byte(builtinAssurance))
	if err != nil || len(ps) != 1 {
		panic(fmt.Sprintf("the built-in image assurance policy does not load: %v", err)) // a test catches this first
	}
	ps[0].builtin = true
	return ps[0]
}

// BuiltinAssuranceYAML returns the text of the built-in default.
func BuiltinAssuranceYAML() []byte { return []byte(builtinAssurance) }

// LoadAssurance reads image assurance policies from files and directories
// (a directory's *.yaml and *.yml files, as Load reads them). Every
// problem is reported with its file:line:col; on any, none are returned.
func LoadAssurance(paths ...string) ([]*AssurancePolicy, error) {
	return LoadAssuranceFrom(nil, paths...)
}

// LoadAssuranceFrom is LoadAssurance where the path "-" reads stdin.
func LoadAssuranceFrom(stdin io.Reader, paths ...string) ([]*AssurancePolicy, error) {
	src := &files{stdin: stdin}
	out, err := loadAssurance(paths, src)
	if err != nil {
		return nil, err
	}
	err = requireKind(paths, src, AssuranceKind, func(file string) bool {
		return slices.ContainsFunc(out, func(p *AssurancePolicy) bool { return p.Source.File == file })
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// loadAssurance is LoadAssurance without the check that every path holds
// an image assurance policy.
func loadAssurance(paths []string, src *files) ([]*AssurancePolicy, error) {
	var errs errorList
	var out []*AssurancePolicy
	names := map[string]Position{}
	for _, p := range paths {
		list, err := src.list(p)
		if err != nil {
			errs.addf(Position{File: p}, "%v", err)
			continue
		}
		for _, f := range list {
			data, err := src.read(f)
			if err != nil {
				errs.addf(Position{File: f}, "read: %v", unwrapPath(err))
				continue
			}
			ps, err := ParseAssurance(f, data)
			for _, e := range Errors(err) {
				errs.add(e)
			}
			for _, ap := range ps {
				if prev, dup := names[ap.Name()]; dup {
					errs.addf(ap.At("metadata.name"), "policy name %q already used at %s; names must be unique", ap.Name(), prev)
					continue
				}
				names[ap.Name()] = ap.At("metadata.name")
				out = append(out, ap)
			}
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseAssurance decodes and validates every image assurance policy in one
// YAML file. Runtime policies in the same file or directory are left to
// `mamori agent`, which loads them.
func ParseAssurance(file string, data []byte) ([]*AssurancePolicy, error) {
	var errs errorList
	var out []*AssurancePolicy
	documents(file, data, &errs, Kind, func(n *yaml.Node) {
		if p := decodeAssurance(file, n, &errs); p != nil {
			out = append(out, p)
		}
	})
	if err := errs.err(); err != nil {
		return nil, err
	}
	return out, nil
}

func decodeAssurance(file string, n *yaml.Node, errs *errorList) *AssurancePolicy {
	p := &AssurancePolicy{Source: nodePos(file, n), pos: map[string]Position{}}
	d := &decoder{file: file, errs: errs, pos: p.pos, budget: maxNodes}
	before := len(*errs)
	d.decodeRoot(n, reflect.ValueOf(p).Elem(), "an "+AssuranceKind)
	if len(*errs) > before {
		return nil
	}
	p.validate(errs)
	if len(*errs) > before {
		return nil
	}
	return p
}

// decodeRoot decodes a document's top-level mapping into v, naming what
// it is ("an ImageAssurancePolicy") in its complaints.
func (d *decoder) decodeRoot(n *yaml.Node, v reflect.Value, what string) {
	n = d.resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping of keys to values, found %s", what, kindName(n))
		return
	}
	fs := fieldsOf(v.Type())
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := d.resolve(n.Content[i]), n.Content[i+1]
		j := slices.IndexFunc(fs, func(f field) bool { return k.Kind == yaml.ScalarNode && f.name == k.Value })
		switch {
		case j < 0:
			d.errorf(k, "unknown key %q in %s; %s", k.Value, what, didYouMean(k.Value, keyNames(fs)))
			continue
		case seen[k.Value] != nil:
			d.errorf(k, "key %q repeated (first at line %d); keep one", k.Value, seen[k.Value].Line)
			continue
		}
		seen[k.Value] = k
		d.pos[k.Value] = d.at(k)
		d.decode(val, v.FieldByIndex(fs[j].index), k.Value, 1)
	}
}

func (p *AssurancePolicy) validate(errs *errorList) {
	v := &validator{p: p.shell(), errs: errs}
	v.header(p.APIVersion, p.Kind, AssuranceKind, "an image assurance policy", p.Metadata.Name)
	if !v.set("spec") {
		v.errorf("", "spec is missing; an image assurance policy needs spec.scope and spec.rules")
		return
	}
	if p.Spec.Scope == nil {
		v.errorf("spec", "spec.scope is missing; write `scope: {image: {}}` to apply to every image")
	} else {
		p.Spec.Scope.validate(v, "spec.scope")
		imageScopeOnly(v, p.Spec.Scope, "spec.scope")
	}
	if !v.set("spec.rules") {
		v.errorf("spec", "spec.rules is missing; name what images must satisfy, e.g. `rules: {maxSeverity: high, blockMalware: true}`")
		return
	}
	r := &p.Spec.Rules
	if v.set("spec.rules.maxSeverity") && !slices.Contains(Severities, r.MaxSeverity) {
		v.errorf("spec.rules.maxSeverity", "unknown severity %q; %s", r.MaxSeverity, didYouMean(r.MaxSeverity, Severities))
	}
	for i, id := range r.IgnoreVulnerabilities {
		v.checkf(strings.TrimSpace(id) == "", "spec.rules.ignoreVulnerabilities["+itoa(i)+"]", "empty advisory id; give one like CVE-2024-3094 or remove the entry")
	}
	v.checkf(r.IgnoreVulnerabilities != nil && r.MaxSeverity == "", "spec.rules.ignoreVulnerabilities", "ignoreVulnerabilities without maxSeverity ignores nothing; set maxSeverity")
	v.checkf(!r.AllowSetuid.IsZero() && !r.ForbidSetuid, "spec.rules.allowSetuid", "allowSetuid without forbidSetuid: true allows what is not forbidden; set forbidSetuid")
}

// imageScopeOnly refuses container, kubernetes and host selectors: an
// image is judged before any container runs it.
func imageScopeOnly(v *validator, s *Scope, path string) {
	if s == nil {
		return
	}
	for _, sel := range []struct {
		key string
		set bool
	}{{"container", s.Container != nil}, {"kubernetes", s.Kubernetes != nil}, {"host", s.Host != nil}} {
		v.checkf(sel.set, path+"."+sel.key, "an image assurance policy's scope selects images; %s selectors do not apply (use image: {registry, repository, tag, labels, ...})", sel.key)
	}
	for i, c := range s.All {
		imageScopeOnly(v, c, path+".all["+itoa(i)+"]")
	}
	for i, c := range s.Any {
		imageScopeOnly(v, c, path+".any["+itoa(i)+"]")
	}
	imageScopeOnly(v, s.Not, path+".not")
}
