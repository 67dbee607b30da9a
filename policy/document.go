package policy

import (
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mamori-dev/mamori/internal/yamlsyntax"
)

// The identity every policy document declares.
const (
	APIVersion = "mamori.dev/v1"
	Kind       = "RuntimePolicy"
)

// Policy is one RuntimePolicy document: which targets it applies to
// (Spec.Scope), in which mode (Spec.Mode), and which controls it sets.
type Policy struct {
	APIVersion string   `yaml:"apiVersion" json:"apiVersion"`
	Kind       string   `yaml:"kind" json:"kind"`
	Metadata   Metadata `yaml:"metadata" json:"metadata"`
	Spec       Spec     `yaml:"spec" json:"spec"`

	// Source is where the document starts.
	Source Position `yaml:"-" json:"source"`

	pos     map[string]Position // dotted YAML path → position
	builtin bool                // the embedded default: a baseline, see Merge
}

// Metadata names a policy, as in a Kubernetes object.
type Metadata struct {
	Name        string            `yaml:"name" json:"name"`
	Labels      map[string]string `yaml:"labels" json:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations" json:"annotations,omitempty"`
}

// Spec is what a policy asks for.
type Spec struct {
	Mode     Mode     `yaml:"mode" json:"mode"`
	Scope    *Scope   `yaml:"scope" json:"scope"`
	Controls Controls `yaml:"controls" json:"controls"`
}

// Name is the policy's metadata.name.
func (p *Policy) Name() string { return p.Metadata.Name }

// Mode is the policy's mode; audit when the document leaves it out.
func (p *Policy) Mode() Mode {
	if p.Spec.Mode == "" {
		return Audit
	}
	return p.Spec.Mode
}

// Builtin reports whether p is the embedded default policy.
func (p *Policy) Builtin() bool { return p.builtin }

// At returns the position of a dotted YAML path in the document, such as
// "spec.controls.forkGuard.maxProcesses" or "spec.scope.all[1]"; for a path
// the document does not spell out, the position of its nearest ancestor.
func (p *Policy) At(path string) Position {
	for path != "" {
		if pos, ok := p.pos[path]; ok {
			return pos
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return p.Source
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse decodes and validates every document in one YAML file; documents
// are separated by "---" and empty ones are skipped. The error, if any,
// joins one *Error per problem, each with file:line:col. File paths the
// policies name (IP lists, registered images) are resolved relative to
// the file's directory but not read: Load does that.
func Parse(file string, data []byte) ([]*Policy, error) {
	var errs errorList
	var out []*Policy
	documents(file, data, &errs, AssuranceKind, func(n *yaml.Node) {
		if p := decodePolicy(file, n, &errs); p != nil {
			out = append(out, p)
		}
	})
	if err := errs.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// documents calls fn with each non-empty document of a YAML file, but
// those of kind other: a directory of policies may hold runtime and image
// assurance policies side by side, each loader taking its own.
func documents(file string, data []byte, errs *errorList, other string, fn func(*yaml.Node)) {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			errs.add(yamlError(file, data, err))
			return
		}
		if len(doc.Content) == 0 || isNull(doc.Content[0]) || docKind(doc.Content[0]) == other {
			continue
		}
		fn(doc.Content[0])
	}
}

// docKind is the kind a document says it is, or "".
func docKind(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "kind" {
			return n.Content[i+1].Value
		}
	}
	return ""
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// yamlError turns a yaml.v3 syntax error, which names the line of the
// block around the mistake and no column, into an *Error at the mistake
// itself (see yamlsyntax), or, failing that, at column 1 of yaml.v3's
// line.
func yamlError(file string, data []byte, err error) *Error {
	if se := yamlsyntax.Check(data); se != nil {
		return errorf(Position{File: file, Line: se.Line, Col: se.Col}, "invalid YAML: %s", se.Detail())
	}
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return errorf(Position{File: file, Line: line, Col: 1}, "invalid YAML: %s; fix the syntax (indentation, quoting) there", m[2])
	}
	return errorf(Position{File: file, Line: 1, Col: 1}, "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

func decodePolicy(file string, n *yaml.Node, errs *errorList) *Policy {
	p := &Policy{Source: nodePos(file, n), pos: map[string]Position{}}
	d := &decoder{file: file, errs: errs, pos: p.pos, budget: maxNodes}
	before := len(*errs)
	d.decode(n, reflectValue(p), "", 0)
	if len(*errs) > before {
		return nil // validation would only restate decoding problems
	}
	p.validate(errs)
	if len(*errs) > before {
		return nil
	}
	return p
}
