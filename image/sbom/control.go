package sbom

import (
	"bytes"
	"strings"
)

// paragraph is one stanza of a Debian control file (deb-control(5)): the
// fields dpkg's status database and apk's installed database both keep,
// one "Name: value" a line, stanzas separated by blank lines.
type paragraph map[string]string

// controlParagraphs splits a control-format file into paragraphs (a field
// name ends at the first colon: "Package: x" in dpkg, "P:x" in
// apk). Continuation lines (starting with a space or tab) are folded into
// the previous field; only the first line of a field is kept, since
// nothing this package reads is multi-line.
func controlParagraphs(b []byte) []paragraph {
	var out []paragraph
	cur := paragraph{}
	for line := range bytes.Lines(b) {
		l := strings.TrimRight(string(line), "\r\n")
		if strings.TrimSpace(l) == "" {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = paragraph{}
			}
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		if _, seen := cur[k]; !seen {
			cur[k] = strings.TrimSpace(v)
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}
