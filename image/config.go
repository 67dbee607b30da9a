package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/mamori-dev/mamori/policy"
)

// The misconfiguration rules; a policy's rules name what they refuse in
// these terms (docs/images.md lists each with its severity).
const (
	RuleRootUser          = "root-user"
	RuleLatestTag         = "latest-tag"
	RuleNoDigest          = "no-digest"
	RuleSetuid            = "setuid"
	RuleSetgid            = "setgid"
	RuleWorldWritablePath = "world-writable-path"
	RulePackageManager    = "package-manager"
	RuleEnvSecret         = "env-secret"
	RuleNoHealthcheck     = "no-healthcheck"
)

// maxConfigSize bounds an image config: real ones are kilobytes; a
// history of thousands of steps stays well below this.
const maxConfigSize = 8 << 20

// ParseConfig reads an image config (the OCI image configuration, or
// docker's, which adds Healthcheck). It is strict about the shape of the
// document and lenient about missing fields: an image without a config
// section is still an image.
func ParseConfig(data []byte) (*v1.ConfigFile, error) {
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("image config is %d bytes, more than %d", len(data), maxConfigSize)
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("image config is not a JSON object")
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	return &cfg, nil
}

// configFindings checks the config's own settings: the user, secrets in
// the environment, the health check. passwd is /etc/passwd from the image,
// if it has one, to tell what uid a user name has.
func configFindings(cfg *v1.ConfigFile, passwd []byte) []Finding {
	var out []Finding
	c := &cfg.Config
	if f, ok := rootUser(c.User, passwd); ok {
		out = append(out, f)
	}
	for _, kv := range c.Env {
		if f, ok := envSecret(kv); ok {
			out = append(out, f)
		}
	}
	if hc := c.Healthcheck; hc == nil || len(hc.Test) == 0 || strings.EqualFold(hc.Test[0], "NONE") {
		out = append(out, misconfig(RuleNoHealthcheck, Low, "no HEALTHCHECK",
			"nothing tells the runtime whether the service inside is healthy; add a HEALTHCHECK (docker format: `podman build --format docker`; the OCI format has no such field) or probes in Kubernetes"))
	}
	return out
}

func misconfig(rule string, sev Severity, title, detail string) Finding {
	return Finding{Category: Misconfiguration, Rule: rule, Severity: sev, Title: title, Detail: detail, Layer: -1, Analyzer: "config"}
}

// rootUser reports an image that runs as root: no USER, USER root or 0,
// or a name /etc/passwd gives uid 0.
func rootUser(user string, passwd []byte) (Finding, bool) {
	name, _, _ := strings.Cut(user, ":")
	switch {
	case name == "":
		return misconfig(RuleRootUser, Medium, "no USER: the image runs as root",
			"set USER to an unprivileged user (e.g. USER 65532) so that a compromised process is not root in the container"), true
	case name == "root" || name == "0":
		return misconfig(RuleRootUser, Medium, "USER "+user+" runs as root",
			"set USER to an unprivileged user (e.g. USER 65532)"), true
	}
	if uid, ok := passwdUID(passwd, name); ok && uid == 0 {
		return misconfig(RuleRootUser, Medium, "USER "+user+" has uid 0 in /etc/passwd",
			"the user's name is not root but its uid is; give it a non-zero uid"), true
	}
	return Finding{}, false
}

func passwdUID(passwd []byte, name string) (int, bool) {
	for _, line := range strings.Split(string(passwd), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == name {
			uid, err := strconv.Atoi(f[2])
			return uid, err == nil
		}
	}
	return 0, false
}

// Names of environment variables that hold secrets, and values that are
// secrets whatever the name.
var (
	secretEnvName = regexp.MustCompile(`(?i)(^|_)(SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|SECRET_?KEY|CREDENTIALS?|AUTH)($|_)`)
	// Names that point at a secret rather than hold one.
	secretEnvRef    = regexp.MustCompile(`(?i)(_FILE|_PATH|_DIR|_URL|_ENDPOINT|_LENGTH|_TTL|_TIMEOUT|_TYPE|_NAME|_ID)$`)
	secretEnvValues = []struct {
		what string
		re   *regexp.Regexp
	}{
		{"an AWS access key id", regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)},
		{"a private key", regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`)},
		{"a GitHub token", regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})\b`)},
		{"a GitLab token", regexp.MustCompile(`\bglpat-[A-Za-z0-9_-]{20}\b`)},
		{"a Slack token", regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}\b`)},
		{"a Stripe secret key", regexp.MustCompile(`\b[sr]k_live_[A-Za-z0-9]{16,}\b`)},
	}
)

// envSecret reports an ENV entry whose value is a secret. The value never
// appears in the finding: it would leak into reports and CI logs.
func envSecret(kv string) (Finding, bool) {
	name, value, _ := strings.Cut(kv, "=")
	value = strings.TrimSpace(value)
	if value == "" {
		return Finding{}, false
	}
	for _, v := range secretEnvValues {
		if v.re.MatchString(value) {
			return misconfig(RuleEnvSecret, High, fmt.Sprintf("ENV %s holds %s", name, v.what),
				fmt.Sprintf("the image config carries it to everyone who can pull the image (%s); pass secrets at run time (a mounted secret, the orchestrator's secret store) and rotate this one", mask(value))), true
		}
	}
	if secretEnvName.MatchString(name) && !secretEnvRef.MatchString(name) && !strings.HasPrefix(value, "/") && !placeholder(value) {
		return misconfig(RuleEnvSecret, High, fmt.Sprintf("ENV %s looks like a secret", name),
			fmt.Sprintf("its name says it is a secret and it has a value (%s); the image config carries it to everyone who can pull the image: pass secrets at run time and rotate this one", mask(value))), true
	}
	return Finding{}, false
}

// placeholder reports values that are plainly not secrets.
func placeholder(v string) bool {
	switch strings.ToLower(v) {
	case "true", "false", "yes", "no", "0", "1", "none", "null", "changeme", "-":
		return true
	}
	return strings.HasPrefix(v, "$")
}

// mask describes a secret without revealing it.
func mask(v string) string {
	n := len([]rune(v))
	return fmt.Sprintf("%d characters", n)
}

// refFindings checks the reference an image was named by: the latest tag
// (or none, which means latest) and a tag without a digest can point at a
// different image tomorrow. References to files and image ids are
// immutable and pass.
func refFindings(ref Ref) []Finding {
	switch ref.Transport {
	case OCI, Archive:
		return nil
	}
	name := ref.Name
	if strings.HasPrefix(name, "sha256:") || isHex(name) && len(name) >= 12 {
		return nil
	}
	f := policy.ParseImageRef(name)
	if f.Name == "" || f.Digest != "" {
		return nil
	}
	var out []Finding
	ref1 := func(rule string, sev Severity, title, detail string) Finding {
		f := misconfig(rule, sev, title, detail)
		f.Analyzer = "reference"
		return f
	}
	if f.Tag == "" || f.Tag == "latest" {
		out = append(out, ref1(RuleLatestTag, Medium, "referenced by the latest tag: "+name,
			"latest moves with every push: what was scanned may not be what runs; reference a version tag with its digest (name:tag@sha256:...)"))
	}
	out = append(out, ref1(RuleNoDigest, Low, "referenced by tag without a digest: "+name,
		"a tag can be moved to another image; pin the digest (name:tag@sha256:...) so that what runs is what was scanned"))
	return out
}
