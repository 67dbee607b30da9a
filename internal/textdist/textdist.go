// Package textdist measures how far apart two names are, so that an error
// about an unknown field or key can suggest the one that was meant.
package textdist

import "strings"

// Levenshtein is the edit distance between a and b, in bytes. Names longer
// than 64 bytes are never typos of one another: it returns a large number
// rather than spend quadratic time on them.
func Levenshtein(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Nearest returns the candidate s was most likely meant to be, or "" when
// none is close enough to be a typo: a candidate that s starts (a name
// cut short, at least three letters), else the closest by edit distance,
// case aside, within a third of s's length (at least 2), else a candidate
// that shares most of s's beginning (an abbreviation, "readOnlyRootFs").
func Nearest(s string, candidates []string) string {
	ls := strings.ToLower(s)
	if len(s) >= 3 {
		for _, c := range candidates {
			if strings.HasPrefix(strings.ToLower(c), ls) {
				return c
			}
		}
	}
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := Levenshtein(ls, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= max(2, len(s)/3) {
		return best
	}
	best, bestL := "", 0
	for _, c := range candidates {
		if l := commonPrefix(ls, strings.ToLower(c)); l > bestL {
			best, bestL = c, l
		}
	}
	if bestL >= max(4, len(s)*3/4) {
		return best
	}
	return ""
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
