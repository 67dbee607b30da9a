package sigma

import (
	"encoding/base64"
	"unicode/utf16"
)

// base64Cmp matches the base64 encoding of a value (optionally as UTF-16
// first), or with base64offset each of the three encodings a value has
// depending on its offset in the encoded text. Encoded text is compared
// case-sensitively: in base64, case is meaning.
func (t *ruleTranslator) base64Cmp(key string, f fieldRef, m modifiers, s string) ([]cmp, *problem) {
	p := parsePattern(s)
	if p.hasWildcards() {
		return nil, fail(ReasonModifier, "%q: a value with wildcards cannot be base64-encoded", key)
	}
	b := []byte(p.literal())
	switch m.utf16 {
	case "utf16le", "utf16be", "utf16":
		b = encodeUTF16(p.literal(), m.utf16)
	}
	op := "="
	if m.match != "" {
		op = m.match
	}
	field := t.stringField(f)
	if m.base64 == "base64" {
		return []cmp{{field: field, op: op, val: base64.StdEncoding.EncodeToString(b)}}, nil
	}
	var cs []cmp
	for _, v := range base64Offsets(b) {
		cs = append(cs, cmp{field: field, op: op, val: v})
	}
	return cs, nil
}

// base64Offsets are the parts of the base64 encoding of b that do not
// depend on what precedes or follows it, for b at offsets 0, 1 and 2 of a
// 3-byte group.
func base64Offsets(b []byte) []string {
	var out []string
	for i := 0; i < 3; i++ {
		padded := append(make([]byte, i), b...)
		enc := base64.StdEncoding.EncodeToString(padded)
		start := []int{0, 2, 3}[i]
		end := len(enc)
		switch (len(b) + i) % 3 {
		case 1:
			end -= 3
		case 2:
			end -= 2
		}
		if start < end {
			out = append(out, enc[start:end])
		}
	}
	return out
}

func encodeUTF16(s, order string) []byte {
	units := utf16.Encode([]rune(s))
	var b []byte
	if order == "utf16" {
		b = append(b, 0xff, 0xfe)
	}
	for _, u := range units {
		if order == "utf16be" {
			b = append(b, byte(u>>8), byte(u))
		} else {
			b = append(b, byte(u), byte(u>>8))
		}
	}
	return b
}
