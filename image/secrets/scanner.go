// Package secrets finds credentials left in files: cloud keys (AWS, GCP
// service accounts, Azure storage), private keys, and service tokens
// (GitHub, Slack, Stripe, JWTs). Each finding names the file, line and
// column, and carries the match redacted: the whole secret is never in a
// finding, only a prefix and a fingerprint to correlate the same secret
// across files and images.
//
// It reads one file at a time from whoever walks a filesystem. It does not
// walk filesystems or read images (package image does), and it does not
// decide what a finding means for an image's verdict (the assurance
// policy does).
package secrets

import (
	"bytes"
	"fmt"
	"io"
	"sort"
)

// Severity ranks a finding.
type Severity string

const (
	Critical Severity = "critical" // a working credential to a service
	High     Severity = "high"     // a credential missing a part, or a webhook URL
	Medium   Severity = "medium"   // worth a look: a key ID alone, an encrypted private key, a JWT
	Low      Severity = "low"      // a published example key (AWS's documentation keys, Azurite's)
)

// Finding is one secret in one file.
type Finding struct {
	Path   string `json:"path"`
	Line   int    `json:"line"`   // 1-based; lines end at "\n" (so CRLF files count alike)
	Column int    `json:"column"` // 1-based byte offset in the line
	Rule   string `json:"rule"`   // e.g. "aws-access-key"
	Title  string `json:"title"`
	// Severity is Low for Example findings.
	Severity Severity `json:"severity"`
	// Match is the secret redacted: its well-known prefix and a few
	// characters, then "***".
	Match string `json:"match"`
	// Fingerprint is the first 16 hex digits of the secret's SHA-256.
	Fingerprint string `json:"fingerprint"`
	// Example marks a key published in documentation as an example; it
	// works nowhere but shows someone copied a template.
	Example bool `json:"example,omitempty"`
}

// Config bounds the work per file.
type Config struct {
	// MaxFileSize: larger files are skipped (default 10 MiB). Secrets
	// live in configuration, scripts and key files, which are small.
	MaxFileSize int64
}

// Scanner finds secrets. It is safe for concurrent use.
type Scanner struct {
	cfg   Config
	rules []*rule
	// keywords maps each prefilter keyword to the rules it triggers.
	keywords []keyword
}

type keyword struct {
	text  []byte
	rules []*rule
}

// New returns a Scanner with mamori's rules.
func New(cfg Config) *Scanner {
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = 10 << 20
	}
	s := &Scanner{cfg: cfg, rules: builtinRules()}
	idx := map[string]int{}
	for _, r := range s.rules {
		for _, k := range r.keywords {
			i, ok := idx[k]
			if !ok {
				i = len(s.keywords)
				idx[k] = i
				s.keywords = append(s.keywords, keyword{text: []byte(k)})
			}
			s.keywords[i].rules = append(s.keywords[i].rules, r)
		}
	}
	return s
}

// Rule describes one of the scanner's rules, for documentation and help.
type Rule struct {
	ID       string
	Title    string
	Severity Severity
}

// Rules lists the rules in the order they are tried.
func (s *Scanner) Rules() []Rule {
	var out []Rule
	for _, r := range s.rules {
		out = append(out, Rule{r.id, r.title, r.severity})
	}
	return out
}

// Result is what Scan found in one file.
type Result struct {
	Findings []Finding
	// Skipped says why the file was not looked at ("binary", "larger
	// than ..."); empty when it was.
	Skipped string
}

// sniffLen is how much of a file decides text or binary, as in git: a
// NUL byte in the first 8000 bytes makes it binary.
const sniffLen = 8000

// Scan reads one file (at most MaxFileSize+1 bytes of it) and returns its
// findings. size is the file's length, or -1 when unknown. Binary files
// (a NUL in the first 8000 bytes) and files over MaxFileSize are skipped
// and say so in Result.Skipped.
func (s *Scanner) Scan(path string, size int64, r io.Reader) (Result, error) {
	if size > s.cfg.MaxFileSize {
		return Result{Skipped: fmt.Sprintf("larger than %d bytes", s.cfg.MaxFileSize)}, nil
	}
	var buf bytes.Buffer
	if size >= 0 {
		buf.Grow(int(size) + bytes.MinRead) // ReadFrom wants room to see EOF
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, s.cfg.MaxFileSize+1)); err != nil {
		return Result{}, fmt.Errorf("secrets scan %s: %w", path, err)
	}
	return s.scanBuffer(path, buf.Bytes()), nil
}

// ScanBytes is Scan over content already in memory.
func (s *Scanner) ScanBytes(path string, data []byte) Result {
	return s.scanBuffer(path, data)
}

func (s *Scanner) scanBuffer(path string, data []byte) Result {
	if int64(len(data)) > s.cfg.MaxFileSize {
		return Result{Skipped: fmt.Sprintf("larger than %d bytes", s.cfg.MaxFileSize)}
	}
	if bytes.IndexByte(data[:min(len(data), sniffLen)], 0) >= 0 {
		return Result{Skipped: "binary"}
	}
	return Result{Findings: s.find(path, data)}
}

// candidate is a place a keyword was seen: the rule to try, and the
// window of the line around it the rule's pattern runs on.
type candidate struct {
	r          *rule
	start, end int // window in data
	lineStart  int
}

// windowBefore and windowAfter bound the text a pattern runs on around a keyword, so that a
// megabyte-long minified line costs no more than a short one.
const (
	windowBefore = 128
	windowAfter  = 2048
)

func (s *Scanner) find(path string, data []byte) []Finding {
	var cands []candidate
	for _, kw := range s.keywords {
		for off := 0; ; {
			i := bytes.Index(data[off:], kw.text)
			if i < 0 {
				break
			}
			at := off + i
			off = at + len(kw.text)
			ls := bytes.LastIndexByte(data[:at], '\n') + 1
			le := bytes.IndexByte(data[at:], '\n')
			if le < 0 {
				le = len(data)
			} else {
				le += at
			}
			start, end := tokenBounds(data, max(ls, at-windowBefore), min(le, at+windowAfter), ls, le)
			for _, r := range kw.rules {
				cands = append(cands, candidate{r: r, start: start, end: end, lineStart: ls})
			}
		}
	}
	if len(cands) == 0 {
		return nil
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].start != cands[j].start {
			return cands[i].start < cands[j].start
		}
		return cands[i].r.order < cands[j].r.order
	})

	f := &file{data: data}
	var out []Finding
	seen := map[[2]int]bool{} // (rule, match start): windows overlap
	line, lineAt := 1, 0      // line number of offset lineAt
	for _, c := range cands {
		for _, m := range c.r.re.FindAllSubmatchIndex(data[c.start:c.end], -1) {
			for k := range m {
				if m[k] >= 0 {
					m[k] += c.start
				}
			}
			key := [2]int{c.r.order, m[0]}
			if seen[key] {
				continue
			}
			seen[key] = true
			h, ok := c.r.check(f, m)
			if !ok {
				continue
			}
			at := m[0]
			if h.at > 0 {
				at = h.at
			}
			ls := bytes.LastIndexByte(data[:at], '\n') + 1
			if ls >= lineAt {
				line += bytes.Count(data[lineAt:ls], []byte{'\n'})
			} else {
				line -= bytes.Count(data[ls:lineAt], []byte{'\n'})
			}
			lineAt = ls
			out = append(out, c.r.finding(path, line, at-ls+1, h))
		}
	}
	return supersede(out)
}

// supersede drops findings that a more specific rule explains on the same
// line (a GCP service account's private key is also a PEM private key),
// and orders findings by position.
func supersede(fs []Finding) []Finding {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Line != fs[j].Line {
			return fs[i].Line < fs[j].Line
		}
		return fs[i].Column < fs[j].Column
	})
	by := map[int]map[string]bool{}
	for _, f := range fs {
		if by[f.Line] == nil {
			by[f.Line] = map[string]bool{}
		}
		by[f.Line][f.Rule] = true
	}
	out := fs[:0]
	for _, f := range fs {
		drop := false
		for _, over := range supersededBy[f.Rule] {
			if by[f.Line][over] {
				drop = true
			}
		}
		if !drop {
			out = append(out, f)
		}
	}
	return out
}

// tokenBounds widens a window so that it does not cut a token in two: a
// pattern ending in \b would otherwise match the cut-off front of a
// longer string. It gives up (keeps the cut) past 4 KiB of token.
func tokenBounds(data []byte, start, end, ls, le int) (int, int) {
	for n := 0; start > ls && n < 4096 && isTokenByte(data[start-1]); n++ {
		start--
	}
	for n := 0; end < le && n < 4096 && isTokenByte(data[end]); n++ {
		end++
	}
	return start, end
}

func isTokenByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '-' || c == '+' || c == '/' || c == '=' || c == '.'
}
