package imagestore

import (
	"strings"
	"time"

	"github.com/mamori-dev/mamori/image/record"
	"github.com/mamori-dev/mamori/policy"
	"github.com/mamori-dev/mamori/workload"
)

// Record is one registered image.
type Record struct {
	// ID is the config digest (sha256:...), the image id podman and
	// containerd show; Digest the manifest digest, empty for a docker
	// archive.
	ID     string `json:"id"`
	Digest string `json:"digest,omitempty"`
	// Names are the normalised name:tag references that point at the
	// image ("docker.io/library/nginx:1.27").
	Names []string `json:"names"`
	// Ref is the reference it was registered by, as given.
	Ref          string `json:"ref"`
	Transport    string `json:"transport,omitempty"`
	OS           string `json:"os,omitempty"`
	Architecture string `json:"architecture,omitempty"`
	// User is the image config's USER; "" runs as root.
	User string `json:"user"`
	// Registered is when the image was first registered, Scanned when its
	// verdict was last set.
	Registered time.Time `json:"registered"`
	Scanned    time.Time `json:"scanned"`
	// Compliant is the verdict of the assurance Policies; Reasons say why
	// it is not.
	Compliant   bool            `json:"compliant"`
	Policies    []string        `json:"policies"`
	Reasons     []record.Reason `json:"reasons,omitempty"`
	Findings    Summary         `json:"findings"`
	Executables int             `json:"executables"`
}

// Summary counts a scan's findings.
type Summary struct {
	Total      int            `json:"total"`
	BySeverity map[string]int `json:"bySeverity,omitempty"`
	ByCategory map[string]int `json:"byCategory,omitempty"`
}

// Summarize counts findings by severity and category.
func Summarize(findings []record.Finding) Summary {
	s := Summary{Total: len(findings)}
	for _, f := range findings {
		if s.BySeverity == nil {
			s.BySeverity, s.ByCategory = map[string]int{}, map[string]int{}
		}
		s.BySeverity[f.Severity.String()]++
		s.ByCategory[string(f.Category)]++
	}
	return s
}

// Status is the record as the image controls see it.
func (r *Record) Status() workload.ImageStatus {
	st := workload.ImageStatus{Digest: r.Digest, Scanned: true, Compliant: r.Compliant, User: r.User}
	if st.Digest == "" {
		st.Digest = r.ID
	}
	for _, why := range r.Reasons {
		st.Reasons = append(st.Reasons, ReasonText(why))
	}
	return st
}

// ReasonText is one line saying how an image breaks a policy, with the
// policy and its rule: "no USER: the image runs as root (policy
// strict-images, requireNonRoot)".
func ReasonText(r record.Reason) string {
	return r.Message + " (policy " + r.Policy + ", " + r.Rule + ")"
}

// Key normalises a reference as a workload writes it into the key the
// store files the image under: a digest ("reg/app@sha256:..." and a bare
// image id "sha256:..." or 64 hex digits give "sha256:<hex>"), or else
// the full name and tag as Docker and podman normalise them ("nginx" gives
// "docker.io/library/nginx:latest", see policy.ParseImageRef). It returns
// "" for what names no image.
func Key(ref string) string {
	ref = strings.TrimSpace(ref)
	if !refChars(ref) {
		return ""
	}
	f := policy.ParseImageRef(ref)
	switch {
	case f.Digest != "":
		return digestKey(f.Digest)
	case f.Name == "":
		return digestKey(ref)
	case f.Tag == "":
		f.Tag = "latest"
	}
	return f.Name + ":" + f.Tag
}

// digestKey spells a digest "algorithm:hex" in lower case, for the
// algorithms OCI registers (sha256, sha512) and sha384; 64 bare hex
// digits are a sha256 image id. It returns "" for anything else.
func digestKey(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	if isHex(d) && len(d) == 64 {
		return "sha256:" + d
	}
	alg, hex, _ := strings.Cut(d, ":")
	n := 0
	switch alg {
	case "sha256":
		n = 64
	case "sha384":
		n = 96
	case "sha512":
		n = 128
	}
	if n == 0 || len(hex) != n || !isHex(hex) {
		return ""
	}
	return d
}

// refChars reports whether s holds only what an image reference may:
// letters, digits and . _ - / : @ +.
func refChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-/:@+", c) >= 0) {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return s != ""
}
