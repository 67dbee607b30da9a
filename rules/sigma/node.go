package sigma

import "gopkg.in/yaml.v3"

// The helpers below read YAML nodes as Sigma documents use them, aliases
// followed.

// resolve follows aliases; it returns nil for a loop.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > 100 {
			return nil
		}
		n = n.Alias
	}
	return n
}

// valueAt is the value of key in mapping n, or nil.
func valueAt(n *yaml.Node, key string) *yaml.Node {
	if n = resolve(n); n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolve(n.Content[i]); k != nil && k.Kind == yaml.ScalarNode && k.Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return nil
}

// scalarAt is the text of key in mapping n, or "".
func scalarAt(n *yaml.Node, key string) string {
	v := valueAt(n, key)
	if v == nil || v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		return ""
	}
	return v.Value
}

// seqAt is the text items of the list at key in mapping n.
func seqAt(n *yaml.Node, key string) []string {
	v := valueAt(n, key)
	if v == nil || v.Kind != yaml.SequenceNode {
		return nil
	}
	var out []string
	for _, c := range v.Content {
		if c = resolve(c); c != nil && c.Kind == yaml.ScalarNode {
			out = append(out, c.Value)
		}
	}
	return out
}

// without is mapping n less key.
func without(n *yaml.Node, key string) *yaml.Node {
	out := *n
	out.Content = nil
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolve(n.Content[i]); k != nil && k.Value == key {
			continue
		}
		out.Content = append(out.Content, n.Content[i], n.Content[i+1])
	}
	return &out
}

// merge is mapping a with the keys of mapping b added or replacing a's,
// mappings merged key by key, as Sigma rule collections combine a global
// document with the rules after it.
// Below depth 10, far deeper than any rule, b replaces a whole.
func merge(a, b *yaml.Node, depth int) *yaml.Node {
	a, b = resolve(a), resolve(b)
	if a == nil || b == nil || a.Kind != yaml.MappingNode || b.Kind != yaml.MappingNode || depth > 10 {
		return b
	}
	out := *a
	out.Content = append([]*yaml.Node{}, a.Content...)
	for i := 0; i+1 < len(b.Content); i += 2 {
		k := resolve(b.Content[i])
		replaced := false
		for j := 0; j+1 < len(out.Content); j += 2 {
			if ok := resolve(out.Content[j]); k != nil && ok != nil && ok.Value == k.Value {
				out.Content[j+1] = merge(out.Content[j+1], b.Content[i+1], depth+1)
				replaced = true
				break
			}
		}
		if !replaced {
			out.Content = append(out.Content, b.Content[i], b.Content[i+1])
		}
	}
	return &out
}
