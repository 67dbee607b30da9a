package admission

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mamori-dev/mamori/internal/yamlsyntax"
)

// Manifest is one object read from a manifest file, with the YAML nodes
// it came from so that a field path can be turned into a line.
type Manifest struct {
	File string
	// Line is where the object starts.
	Line   int
	Object *Object
	root   *yaml.Node
}

// ManifestError is a problem in a manifest file, at a line and, when
// known, a column.
type ManifestError struct {
	File string
	Line int
	Col  int
	Msg  string
}

func (e *ManifestError) Error() string {
	switch {
	case e.Line == 0:
		return e.File + ": " + e.Msg
	case e.Col == 0:
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Col) + ": " + e.Msg
}

// Manifests is what ParseManifests found in one file.
type Manifests struct {
	// Objects are the workloads, in file order (a List's items in place).
	Objects []*Manifest
	// Skipped counts objects of kinds that hold no pod.
	Skipped int
	// Errors are documents that could not be read; the others still are.
	Errors []*ManifestError
}

// Limits on one file: manifests are configuration, not data sets.
const (
	maxDocuments = 10000
	maxListDepth = 4
)

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ParseManifests reads Kubernetes objects from YAML or JSON: several
// documents separated by "---" (as kubectl and `helm template` write
// them), and List kinds (v1 List, DeploymentList, ...) whose items are
// read in place. Documents that are empty, or hold only comments, are
// skipped.
func ParseManifests(file string, data []byte) *Manifests {
	out := &Manifests{}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	for n := 0; ; n++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			e := &ManifestError{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
			if se := yamlsyntax.Check(data); se != nil {
				e.Line, e.Col, e.Msg = se.Line, se.Col, "invalid YAML: "+se.Detail()
			} else if m := yamlLineErr.FindStringSubmatch(err.Error()); m != nil {
				e.Line, _ = strconv.Atoi(m[1])
				e.Msg = m[2]
			}
			out.Errors = append(out.Errors, e)
			break // the decoder cannot resynchronise after a syntax error
		}
		if n >= maxDocuments {
			out.Errors = append(out.Errors, &ManifestError{File: file, Line: doc.Line, Msg: fmt.Sprintf("more than %d documents; split the file", maxDocuments)})
			break
		}
		if len(doc.Content) == 0 {
			continue
		}
		out.object(file, doc.Content[0], 0)
	}
	return out
}

// object reads one object node, descending into a List's items.
func (out *Manifests) object(file string, n *yaml.Node, depth int) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		out.Errors = append(out.Errors, &ManifestError{File: file, Line: n.Line, Msg: "not a Kubernetes object: expected a mapping with apiVersion and kind"})
		return
	}
	kind := scalar(lookupKey(n, "kind"))
	if kind == "" {
		out.Errors = append(out.Errors, &ManifestError{File: file, Line: n.Line, Msg: "the object has no kind"})
		return
	}
	if items := lookupKey(n, "items"); strings.HasSuffix(kind, "List") && items != nil {
		if items.Kind != yaml.SequenceNode {
			out.Errors = append(out.Errors, &ManifestError{File: file, Line: items.Line, Msg: kind + " items is not a list"})
			return
		}
		if depth >= maxListDepth {
			out.Errors = append(out.Errors, &ManifestError{File: file, Line: n.Line, Msg: "Lists nested too deep"})
			return
		}
		for _, it := range items.Content {
			out.object(file, it, depth+1)
		}
		return
	}
	var v any
	if err := n.Decode(&v); err != nil {
		out.Errors = append(out.Errors, &ManifestError{File: file, Line: n.Line,
			Msg: fmt.Sprintf("%s: %s (an unrendered template? run helm template first)", kind, strings.TrimPrefix(err.Error(), "yaml: "))})
		return
	}
	raw, err := json.Marshal(v)
	if err != nil {
		out.Errors = append(out.Errors, &ManifestError{File: file, Line: n.Line, Msg: fmt.Sprintf("%s: not representable as JSON (a mapping key that is not a string?): %v", kind, err)})
		return
	}
	obj, ok, unknown, err := DecodeStrict(kind, raw)
	name := scalar(lookupKey(lookupKey(n, "metadata"), "name"))
	switch {
	case !ok:
		out.Skipped++
	case err != nil:
		out.Errors = append(out.Errors, &ManifestError{File: file, Line: n.Line, Msg: fmt.Sprintf("%s %s: %v", kind, name, err)})
	case len(unknown) > 0:
		// kubectl apply refuses such an object (strict field validation);
		// checking it would judge what was not meant.
		root := &Manifest{root: n}
		slices.SortStableFunc(unknown, func(a, b string) int {
			al, ac := root.Position(a)
			bl, bc := root.Position(b)
			return cmp.Or(cmp.Compare(al, bl), cmp.Compare(ac, bc))
		})
		for _, path := range unknown {
			field, parent, meant := unknownField(kind, path)
			line, col := root.Position(path)
			where := " in " + parent
			if parent == "" {
				where = ""
			}
			hint := "remove it or fix its name (kubectl apply refuses the object)"
			if meant != "" {
				hint = fmt.Sprintf("did you mean %q?", meant)
			}
			out.Errors = append(out.Errors, &ManifestError{File: file, Line: line, Col: col,
				Msg: fmt.Sprintf("%s %s: unknown field %q%s; %s", kind, name, field, where, hint)})
		}
	default:
		out.Objects = append(out.Objects, &Manifest{File: file, Line: n.Line, Object: obj, root: n})
	}
}

// Position returns the line and column of a field path
// ("spec.template.spec.containers[0].image") in the object; for a field
// the object leaves out, the position of its nearest ancestor.
func (m *Manifest) Position(path string) (line, col int) {
	n, key := m.root, (*yaml.Node)(nil)
	for _, seg := range splitPath(path) {
		next, nextKey := child(n, seg)
		if next == nil {
			break
		}
		n, key = next, nextKey
	}
	if key != nil {
		return key.Line, key.Column
	}
	return n.Line, n.Column
}

// splitPath splits "a.b[2].c" into "a", "b", "[2]", "c".
func splitPath(path string) []string {
	var out []string
	for _, part := range strings.Split(path, ".") {
		for part != "" {
			i := strings.IndexByte(part, '[')
			switch {
			case i < 0:
				out = append(out, part)
				part = ""
			case i > 0:
				out = append(out, part[:i])
				part = part[i:]
			default:
				j := strings.IndexByte(part, ']')
				if j < 0 {
					return out
				}
				out = append(out, part[:j+1])
				part = part[j+1:]
			}
		}
	}
	return out
}

// child follows one path segment; for a mapping it also returns the key
// node, whose line is the field's.
func child(n *yaml.Node, seg string) (*yaml.Node, *yaml.Node) {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil {
		return nil, nil
	}
	if strings.HasPrefix(seg, "[") {
		i, err := strconv.Atoi(strings.Trim(seg, "[]"))
		if n.Kind != yaml.SequenceNode || err != nil || i < 0 || i >= len(n.Content) {
			return nil, nil
		}
		return n.Content[i], n.Content[i]
	}
	if n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == seg {
			return n.Content[i+1], n.Content[i]
		}
	}
	return nil, nil
}

func lookupKey(n *yaml.Node, key string) *yaml.Node {
	v, _ := child(n, key)
	return v
}

func scalar(n *yaml.Node) string {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}
