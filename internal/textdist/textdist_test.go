package textdist

import (
	"strings"
	"testing"
)

func TestLevenshtein(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"proc.name", "proc.nmae", 2}, {"kitten", "sitting", 3}, {"abc", "", 3},
		{strings.Repeat("a", 65), "a", 1 << 20},
	} {
		if got := Levenshtein(tc.a, tc.b); got != tc.want {
			t.Errorf("Levenshtein(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
