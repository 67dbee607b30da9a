package yamlsyntax

import (
	"strings"
	"testing"

	yamlv3 "gopkg.in/yaml.v3"
)

// TestPositions: the mistake itself is pointed at, where yaml.v3 names
// the line of the block around it (asserted too, so that the test says
// why this package exists).
func TestPositions(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		v3         string
		want       string
	}{
		{"key indented wrong", "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: x\n   bad: 1\n",
			"yaml: line 3: did not find expected key",
			"7:4: did not find expected key (while parsing a block mapping that starts at 4:3); check the indentation here, or quote a value that holds \": \""},
		{"unclosed quote", "- rule: x\n  condition: a\n  output: \"unterminated\n  priority: WARNING\n",
			"yaml: line 3: found unexpected end of stream",
			"5:1: found unexpected end of stream (while scanning a quoted scalar that starts at 3:11); a quote or bracket opened earlier is never closed"},
		{"unclosed flow mapping", "spec:\n  controls:\n    drift: {enabled: true\n  mode: audit\n",
			"yaml: line 2: did not find expected ',' or '}'",
			"4:7: did not find expected ',' or '}' (while parsing a flow mapping that starts at 3:12)"},
		{"colon in a plain value", "a: b: c\n", "yaml: mapping values are not allowed in this context",
			"1:5: mapping values are not allowed in this context; check the indentation here, or quote a value that holds \": \""},
		{"second document", "a: 1\n---\nb: [1, 2\nc: 3\n", "yaml: line 2: did not find expected ',' or ']'",
			"4:2: did not find expected ',' or ']' (while parsing a flow sequence that starts at 3:4)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec := yamlv3.NewDecoder(strings.NewReader(tc.text))
			var err error
			for err == nil {
				var n yamlv3.Node
				err = dec.Decode(&n)
			}
			if err.Error() != tc.v3 {
				t.Errorf("yaml.v3 says %q, want %q", err, tc.v3)
			}
			got := Check([]byte(tc.text))
			if got == nil || got.Error() != tc.want {
				t.Errorf("Check = %v\nwant   %s", got, tc.want)
			}
		})
	}
	if e := Check([]byte("kind: Pod\nspec:\n  containers: [\n")); e == nil ||
		e.Error() != "4:1: did not find expected node content; the text ends here, inside a [ ], { } or quote opened earlier and never closed" {
		t.Errorf("unclosed bracket: %v", e)
	}
	if e := Check([]byte("a: 1\n---\nb: [2]\n")); e != nil {
		t.Errorf("valid YAML: %v", e)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add([]byte("a: b: c\n"))
	f.Add([]byte("- rule: x\n  condition: \"a\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e := Check(data)
		if e != nil && (e.Line < 1 || e.Col < 1) {
			t.Errorf("error without a position: %+v", e)
		}
	})
}
