package sbom

import "bytes"

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
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if len(bytes.TrimSpace(line)) > 0 {
				continue // a continuation line
			}
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = paragraph{}
			}
			continue
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		if _, seen := cur[string(k)]; !seen {
			cur[string(k)] = string(bytes.TrimSpace(v))
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}
