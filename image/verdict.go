package image

import (
	"fmt"
	"slices"

	"github.com/mamori-dev/mamori/image/record"
	"github.com/mamori-dev/mamori/policy"
)

// Scanned is what the image store files of the report.
func (r *Report) Scanned() *record.Scanned {
	f := r.Facts()
	return &record.Scanned{Ref: r.Image.Ref, Transport: r.Image.Transport, ID: r.Image.ID, Digest: r.Image.Digest,
		OS: r.Image.OS, Architecture: r.Image.Architecture, User: r.Image.User, Name: f.Name, Tag: f.Tag, NamedDigest: f.Digest,
		Verdict: r.Verdict, Findings: r.Findings, Executables: r.Executables, Baseline: r.Baseline}
}

// Facts describes the scanned image the way policy scopes see it.
func (r *Report) Facts() policy.ImageFacts {
	name := r.Image.Name
	if name == "" && r.Ref.Transport != OCI && r.Ref.Transport != Archive {
		name = r.Ref.Name
	}
	f := policy.ParseImageRef(name)
	if f.Name != "" && f.Tag == "" && f.Digest == "" {
		f.Tag = "latest"
	}
	f.Ref = r.Image.Ref
	if r.Image.Digest != "" {
		f.Digest = r.Image.Digest
	}
	f.Labels, f.OS, f.Architecture = r.Image.Labels, r.Image.OS, r.Image.Architecture
	return f
}

// Judge sets and returns the report's verdict against the policies whose
// scope covers the image; when none does, the built-in default judges it.
func Judge(r *Report, policies []*policy.AssurancePolicy) *Verdict {
	facts := r.Facts()
	var apply []*policy.AssurancePolicy
	for _, p := range policies {
		if p.Matches(facts) {
			apply = append(apply, p)
		}
	}
	if len(apply) == 0 {
		apply = []*policy.AssurancePolicy{policy.BuiltinAssurance()}
	}
	v := &Verdict{Policies: []string{}}
	for _, p := range apply {
		v.Policies = append(v.Policies, p.Name())
		for _, f := range r.Findings {
			if rule, msg := breaks(&p.Spec.Rules, f); rule != "" {
				v.Reasons = append(v.Reasons, Reason{Policy: p.Name(), Rule: rule, Where: p.At("spec.rules." + rule).String(), Message: msg, Finding: f})
			}
		}
	}
	v.Compliant = len(v.Reasons) == 0
	r.Verdict = v
	return v
}

// breaks returns the rule a finding breaks, if any, and why.
func breaks(rules *policy.AssuranceRules, f Finding) (string, string) {
	switch f.Category {
	case Vulnerability:
		if rules.MaxSeverity == "" || ignored(rules.IgnoreVulnerabilities, f) {
			return "", ""
		}
		max, any := maxAllowed(rules.MaxSeverity)
		if !any || f.Severity > max {
			return "maxSeverity", fmt.Sprintf("%s vulnerability %s in %s %s is above maxSeverity %s", f.Severity, f.Rule, f.Package, f.Version, rules.MaxSeverity)
		}
	case Malware:
		if rules.BlockMalware {
			return "blockMalware", "malware: " + f.Title
		}
	case Secret:
		if rules.BlockSecrets {
			return "blockSecrets", "secret: " + f.Title
		}
	case Misconfiguration:
		return breaksMisconfig(rules, f)
	}
	return "", ""
}

// misconfigRules maps each misconfiguration to the policy rule that
// refuses it.
var misconfigRules = map[string]struct {
	rule string
	on   func(*policy.AssuranceRules) bool
}{
	RuleEnvSecret:         {"blockSecrets", func(r *policy.AssuranceRules) bool { return r.BlockSecrets }},
	RuleRootUser:          {"requireNonRoot", func(r *policy.AssuranceRules) bool { return r.RequireNonRoot }},
	RuleNoDigest:          {"requireDigest", func(r *policy.AssuranceRules) bool { return r.RequireDigest }},
	RuleLatestTag:         {"blockLatestTag", func(r *policy.AssuranceRules) bool { return r.BlockLatestTag }},
	RuleSetuid:            {"forbidSetuid", func(r *policy.AssuranceRules) bool { return r.ForbidSetuid }},
	RuleSetgid:            {"forbidSetuid", func(r *policy.AssuranceRules) bool { return r.ForbidSetuid }},
	RuleNoHealthcheck:     {"requireHealthcheck", func(r *policy.AssuranceRules) bool { return r.RequireHealthcheck }},
	RulePackageManager:    {"blockPackageManagers", func(r *policy.AssuranceRules) bool { return r.BlockPackageManagers }},
	RuleWorldWritablePath: {"blockWorldWritablePath", func(r *policy.AssuranceRules) bool { return r.BlockWorldWritablePath }},
}

func breaksMisconfig(rules *policy.AssuranceRules, f Finding) (string, string) {
	m, ok := misconfigRules[f.Rule]
	if !ok || !m.on(rules) {
		return "", ""
	}
	if (f.Rule == RuleSetuid || f.Rule == RuleSetgid) && rules.AllowSetuid.Match(f.Path) {
		return "", ""
	}
	return m.rule, f.Title
}

func ignored(ids []string, f Finding) bool {
	return slices.Contains(ids, f.Rule) || slices.ContainsFunc(f.Aliases, func(a string) bool { return slices.Contains(ids, a) })
}

// maxAllowed maps maxSeverity to the highest Severity allowed; any is
// false when no vulnerability is allowed ("none").
func maxAllowed(s string) (max Severity, any bool) {
	if s == "none" {
		return Unknown, false
	}
	sev, err := ParseSeverity(s)
	return sev, err == nil
}
