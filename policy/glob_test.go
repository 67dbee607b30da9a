package policy

import (
	"strings"
	"testing"
)

func TestPattern(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"web", "web", true},
		{"web", "web-1", false},
		{"web-*", "web-1", true},
		{"web-*", "web-", true},
		{"web-*", "web-1/x", false},
		{"/usr/**", "/usr/local/bin/x", true},
		{"/usr/*/x", "/usr/local/bin/x", false},
		{"/usr/**/x", "/usr/local/bin/x", true},
		{"a?c", "abc", true},
		{"a?c", "a/c", false},
		{"[abc]x", "bx", true},
		{"[a-c]x", "dx", false},
		{"[!a-c]x", "dx", true},
		{"[]]x", "]x", true},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{"a.b", "axb", false}, // '.' is literal
		{"(a|b)", "(a|b)", true},
		{"**", "", true},
	}
	for _, tt := range tests {
		p, err := CompilePattern(tt.pattern)
		if err != nil {
			t.Errorf("CompilePattern(%q): %v", tt.pattern, err)
			continue
		}
		if got := p.Match(tt.s); got != tt.want {
			t.Errorf("%q matches %q: %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
	for _, bad := range []struct{ pattern, want string }{
		{"", "empty pattern"},
		{"web-[", "without a closing ']'"},
		{`a\`, "lone '\\'"},
		{"[z-a]", "invalid character class range"},
	} {
		if _, err := CompilePattern(bad.pattern); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("CompilePattern(%q): %v, want %q", bad.pattern, err, bad.want)
		}
	}
}

func TestNarrower(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"/app/bin/*", "/app/bin/*", "/app/bin/*"},
		{"/app/bin/*", "/app/bin/tool", "/app/bin/tool"},
		{"/app/bin/tool", "/app/**", "/app/bin/tool"},
		{"/app/bin/*", "/app/**", ""}, // two globs: not compared
		{"/app/x", "/app/y", ""},
	}
	for _, tt := range tests {
		got, ok := narrower(tt.a, tt.b)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("narrower(%q, %q) = %q, %v; want %q", tt.a, tt.b, got, ok, tt.want)
		}
	}
}
