package secrets

import "math"

// entropy is the Shannon entropy of s in bits per byte. Random base64
// scores about 4.5 to 5 over 40 characters, hex stays under 4, and
// placeholders (XXXX, 0000, abcabc) score near 0 to 2.
func entropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	var h float64
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
