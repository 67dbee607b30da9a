package secrets

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// rule is one kind of secret: keywords that must appear for the pattern
// to be tried (a cheap prefilter over the whole file), the pattern run on
// the text around each keyword, and a check that confirms the match and
// says how to report it.
type rule struct {
	order    int
	id       string
	title    string
	severity Severity
	keywords []string
	re       *regexp.Regexp
	check    func(f *file, m []int) (hit, bool)
}

// hit is a confirmed match.
type hit struct {
	id       string // overrides the rule's id
	secret   string // for the fingerprint; never reported
	shown    string // the redacted match
	title    string // overrides the rule's title
	severity Severity
	example  bool
	at       int // offset reported (default: the match's start)
}

// supersededBy lists, per rule, the rules whose finding on the same line
// makes it redundant.
var supersededBy = map[string][]string{
	"private-key": {"gcp-service-account"},
}

func (r *rule) finding(path string, line, col int, h hit) Finding {
	f := Finding{Path: path, Line: line, Column: col, Rule: r.id, Title: r.title, Severity: r.severity, Match: h.shown, Example: h.example}
	if h.id != "" {
		f.Rule = h.id
	}
	if h.title != "" {
		f.Title = h.title
	}
	if h.severity != "" {
		f.Severity = h.severity
	}
	if h.example {
		f.Severity = Low
		f.Title += " (a published example key)"
	}
	sum := sha256.Sum256([]byte(h.secret))
	f.Fingerprint = hex.EncodeToString(sum[:8])
	return f
}

// file is the content a check may look around in.
type file struct {
	data []byte
}

func (f *file) str(m []int, group int) string {
	if 2*group+1 >= len(m) || m[2*group] < 0 {
		return ""
	}
	return string(f.data[m[2*group]:m[2*group+1]])
}

// nearbyLines returns the offsets of the text from n lines before the
// line holding off to the end of n lines after it, at most 4 KiB each way.
func (f *file) nearbyLines(off, n int) (int, int) {
	lo, hi := max(0, off-4096), min(len(f.data), off+4096)
	start, found := off, 0
	for found <= n { // the line's own start, then n more
		j := bytes.LastIndexByte(f.data[lo:start], '\n')
		if j < 0 {
			start = lo
			break
		}
		start = lo + j
		found++
	}
	if found > n {
		start++ // past the newline before the first line wanted
	}
	end := off
	for k := 0; k <= n; k++ {
		j := bytes.IndexByte(f.data[end:hi], '\n')
		if j < 0 {
			end = hi
			break
		}
		end += j + 1
	}
	return start, end
}

func builtinRules() []*rule {
	rs := []*rule{
		{
			id: "private-key", title: "private key", severity: Critical,
			keywords: []string{"-----BEGIN "},
			re:       regexp.MustCompile(`-----BEGIN ((?:RSA |DSA |EC |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----`),
			check:    checkPrivateKey,
		},
		{
			id: "gcp-service-account", title: "GCP service account key", severity: Critical,
			keywords: []string{`"private_key"`},
			re:       regexp.MustCompile(`"private_key"\s*:\s*"-----BEGIN (?:RSA )?PRIVATE KEY-----(?:\\r)?\\n([A-Za-z0-9+/=]{40,})`),
			check:    checkGCP,
		},
		{
			id: "aws-access-key", title: "AWS access key ID with its secret access key", severity: Critical,
			keywords: []string{"AKIA", "ASIA"},
			re:       regexp.MustCompile(`\b((?:AKIA|ASIA)[A-Z2-7]{16})\b`),
			check:    checkAWSKeyID,
		},
		{
			id: "aws-secret-access-key", title: "AWS secret access key (no key ID within 5 lines)", severity: High,
			keywords: []string{"secret_access_key", "SECRET_ACCESS_KEY", "SecretAccessKey", "secretAccessKey"},
			re:       regexp.MustCompile(`(?i)secret_?access_?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})(?:$|[^A-Za-z0-9/+=])`),
			check:    checkAWSSecret,
		},
		{
			id: "azure-storage-key", title: "Azure storage account key", severity: Critical,
			keywords: []string{"AccountKey="},
			re:       regexp.MustCompile(`AccountKey=([A-Za-z0-9+/]{86}==)`),
			check:    checkAzure,
		},
		{
			id: "github-token", title: "GitHub token", severity: Critical,
			keywords: []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"},
			re:       regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b`),
			check:    checkGitHub,
		},
		{
			id: "slack-token", title: "Slack token", severity: Critical,
			keywords: []string{"xox"},
			re:       regexp.MustCompile(`\b(xox[abpr]-(?:[0-9]+-){2,3}[A-Za-z0-9]{24,64})\b`),
			check:    checkSlack,
		},
		{
			id: "slack-webhook", title: "Slack incoming webhook URL", severity: High,
			keywords: []string{"hooks.slack.com/"},
			re:       regexp.MustCompile(`https://hooks\.slack\.com/(?:services|workflows)/(T[A-Z0-9]{6,12}/[A-Z0-9]{6,14}/[A-Za-z0-9]{20,32})\b`),
			check:    checkSlackWebhook,
		},
		{
			id: "stripe-key", title: "Stripe live secret key", severity: Critical,
			keywords: []string{"sk_live_", "rk_live_"},
			re:       regexp.MustCompile(`\b((?:sk|rk)_live_[0-9A-Za-z]{24,99})\b`),
			check:    checkStripe,
		},
		{
			id: "jwt", title: "JSON Web Token", severity: Medium,
			keywords: []string{"eyJ"},
			re:       regexp.MustCompile(`\b(eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,})`),
			check:    checkJWT,
		},
	}
	for i, r := range rs {
		r.order = i
	}
	return rs
}

// redact keeps the first keep characters of s, never more than a third of
// it, and masks the rest.
func redact(s string, keep int) string {
	keep = min(keep, len(s)/3)
	return s[:keep] + "***"
}

// PEM and OpenSSH private keys.

var pemHeaderLine = regexp.MustCompile(`^[A-Za-z-]+: [^\n]*$`)

func checkPrivateKey(f *file, m []int) (hit, bool) {
	kind := f.str(m, 1)
	body, encrypted := keyBody(f.data[m[1]:min(len(f.data), m[1]+2048)])
	if len(body) < 40 {
		return hit{}, false // a header alone: code that parses keys, not a key
	}
	if strings.Contains(kind, "ENCRYPTED") {
		encrypted = true
	}
	if kind == "OPENSSH PRIVATE KEY" && opensshCipher(body) != "none" {
		encrypted = true
	}
	h := hit{secret: body, shown: "-----BEGIN " + kind + "----- " + redact(body, 4)}
	if encrypted {
		h.title, h.severity = "encrypted private key (only as safe as its passphrase)", Medium
	}
	return h, true
}

// keyBody skips line breaks (real, or escaped as \n inside a string) and
// PEM headers after a BEGIN line, and returns the first run of base64
// that follows, and whether a header said the key is encrypted.
func keyBody(b []byte) (string, bool) {
	encrypted := false
	for len(b) > 0 {
		switch {
		case b[0] == '\n' || b[0] == '\r' || b[0] == ' ' || b[0] == '\t':
			b = b[1:]
			continue
		case bytes.HasPrefix(b, []byte(`\n`)) || bytes.HasPrefix(b, []byte(`\r`)):
			b = b[2:]
			continue
		}
		line := b
		if i := bytes.IndexAny(b, "\n\\"); i >= 0 {
			line = b[:i]
		}
		if pemHeaderLine.Match(line) {
			if bytes.Contains(line, []byte("ENCRYPTED")) {
				encrypted = true
			}
			b = b[len(line):]
			continue
		}
		break
	}
	n := 0
	for n < len(b) && (isBase64(b[n])) {
		n++
	}
	return string(b[:n]), encrypted
}

func isBase64(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '='
}

// opensshCipher reads the cipher name of an openssh-key-v1 blob from the
// start of its base64 body ("none" for a key without passphrase).
func opensshCipher(body string) string {
	raw, err := base64.StdEncoding.DecodeString(body[:min(len(body), 64)/4*4])
	if err != nil {
		return ""
	}
	const magic = "openssh-key-v1\x00"
	if !bytes.HasPrefix(raw, []byte(magic)) || len(raw) < len(magic)+4 {
		return ""
	}
	n := int(binary.BigEndian.Uint32(raw[len(magic):]))
	rest := raw[len(magic)+4:]
	if n > len(rest) {
		return ""
	}
	return string(rest[:n])
}

// GCP service account keys: JSON with "type": "service_account" and a
// PEM private_key (its line breaks escaped).

var gcpEmail = regexp.MustCompile(`"client_email"\s*:\s*"([^"]{1,200})"`)

func checkGCP(f *file, m []int) (hit, bool) {
	if !bytes.Contains(f.data, []byte(`"service_account"`)) {
		return hit{}, false // another JSON private key: the private-key rule reports it
	}
	body := f.str(m, 1)
	h := hit{secret: body, shown: `"private_key": "-----BEGIN PRIVATE KEY-----\n` + redact(body, 4) + `"`}
	if e := gcpEmail.FindSubmatch(f.data); e != nil {
		h.title = "GCP service account key (" + string(e[1]) + ")"
	}
	return h, true
}

// AWS access keys: a key ID (AKIA long-term, ASIA temporary), with the
// 40-character secret key when one is within 5 lines.

// awsSecret is a 40-character base64 run standing on its own.
var awsSecret = regexp.MustCompile(`(?:^|[^A-Za-z0-9/+])([A-Za-z0-9/+]{40})(?:$|[^A-Za-z0-9/+=])`)
var awsKeyID = regexp.MustCompile(`\b(?:AKIA|ASIA)[A-Z2-7]{16}\b`)

func checkAWSKeyID(f *file, m []int) (hit, bool) {
	id := f.str(m, 1)
	if entropy(id[4:]) < 2.5 {
		return hit{}, false // AKIAXXXXXXXXXXXXXXXX and other placeholders
	}
	h := hit{secret: id, shown: redact(id, 8), example: strings.Contains(id, "EXAMPLE")}
	start, end := f.nearbyLines(m[0], 5)
	for _, sm := range awsSecret.FindAllSubmatchIndex(f.data[start:end], -1) {
		s := string(f.data[start+sm[2] : start+sm[3]])
		if !likelyAWSSecret(s) {
			continue
		}
		h.secret += ":" + s
		h.shown += " with secret " + redact(s, 4)
		h.example = h.example || strings.Contains(s, "EXAMPLE")
		return h, true
	}
	h.id, h.title, h.severity = "aws-access-key-id", "AWS access key ID (no secret key within 5 lines)", Medium
	return h, true
}

// likelyAWSSecret: mixed case, a digit or a / or +, and the entropy of
// random base64 (at least 4 bits a character: a 40-digit hex string such
// as a git commit never reaches it).
func likelyAWSSecret(s string) bool {
	return strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyz") && strings.ContainsAny(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") &&
		strings.ContainsAny(s, "0123456789/+") && entropy(s) >= 4.0
}

func checkAWSSecret(f *file, m []int) (hit, bool) {
	s := f.str(m, 1)
	if !likelyAWSSecret(s) {
		return hit{}, false
	}
	start, end := f.nearbyLines(m[0], 5)
	if awsKeyID.Match(f.data[start:end]) {
		return hit{}, false // reported with its key ID
	}
	return hit{secret: s, shown: redact(s, 4), example: strings.Contains(s, "EXAMPLE"), at: m[2]}, true
}

// Azure storage account keys, alone or in a connection string.

// Azurite's development storage key is published in Microsoft's
// documentation and works only against the local emulator. Kept as a
// digest so that this repository does not itself trip secret scanners.
const azuriteKeySHA256 = "0011cc25eb4320717494d2703e8cba85743e71b500283c21c8b88147992f9059"

var azureAccount = regexp.MustCompile(`AccountName=([A-Za-z0-9]{3,24})`)

func checkAzure(f *file, m []int) (hit, bool) {
	key := f.str(m, 1)
	if entropy(key) < 4.0 {
		return hit{}, false
	}
	sum := sha256.Sum256([]byte(key))
	h := hit{secret: key, shown: "AccountKey=" + redact(key, 4), example: hex.EncodeToString(sum[:]) == azuriteKeySHA256, at: m[0]}
	ls := bytes.LastIndexByte(f.data[:m[0]], '\n') + 1
	if a := azureAccount.FindSubmatch(f.data[max(ls, m[0]-512):m[0]]); a != nil {
		h.title = "Azure storage connection string (account " + string(a[1]) + ")"
	}
	return h, true
}

// Service tokens.

var githubKinds = map[string]string{
	"ghp_": "GitHub personal access token",
	"gho_": "GitHub OAuth access token",
	"ghu_": "GitHub App user-to-server token",
	"ghs_": "GitHub App installation token",
	"ghr_": "GitHub refresh token",
	"gith": "GitHub fine-grained personal access token",
}

func checkGitHub(f *file, m []int) (hit, bool) {
	t := f.str(m, 1)
	tail := t[strings.IndexByte(t, '_')+1:]
	if entropy(tail) < 3.0 {
		return hit{}, false
	}
	keep := 8
	if strings.HasPrefix(t, "github_pat_") {
		keep = 15
	}
	return hit{secret: t, shown: redact(t, keep), title: githubKinds[t[:4]]}, true
}

func checkSlack(f *file, m []int) (hit, bool) {
	t := f.str(m, 1)
	if entropy(t[strings.LastIndexByte(t, '-')+1:]) < 3.0 {
		return hit{}, false
	}
	return hit{secret: t, shown: redact(t, 9)}, true
}

func checkSlackWebhook(f *file, m []int) (hit, bool) {
	path := f.str(m, 1)
	if entropy(path[strings.LastIndexByte(path, '/')+1:]) < 3.0 {
		return hit{}, false
	}
	return hit{secret: path, shown: "https://hooks.slack.com/.../" + redact(path, 4)}, true
}

func checkStripe(f *file, m []int) (hit, bool) {
	t := f.str(m, 1)
	if entropy(t[8:]) < 3.0 {
		return hit{}, false
	}
	h := hit{secret: t, shown: redact(t, 12)}
	if strings.HasPrefix(t, "rk_") {
		h.title, h.severity = "Stripe live restricted key", High
	}
	return h, true
}

// checkJWT decodes the header and payload: both must be JSON objects and
// the header must name an algorithm. jwt.io's sample token (John Doe,
// subject 1234567890) is an example.
func checkJWT(f *file, m []int) (hit, bool) {
	t := f.str(m, 1)
	parts := strings.SplitN(t, ".", 3)
	var header struct {
		Alg string `json:"alg"`
	}
	var payload map[string]any
	if !decodeSegment(parts[0], &header) || header.Alg == "" || !decodeSegment(parts[1], &payload) {
		return hit{}, false
	}
	h := hit{secret: t, shown: redact(t, 12), title: fmt.Sprintf("JSON Web Token (%s)", header.Alg)}
	if payload["name"] == "John Doe" && payload["sub"] == "1234567890" {
		h.example = true
	}
	return h, true
}

func decodeSegment(s string, v any) bool {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	return err == nil && json.Unmarshal(raw, v) == nil
}
