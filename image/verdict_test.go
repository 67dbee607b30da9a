package image

import (
	"testing"

	"github.com/mamori-dev/mamori/policy"
)

// TestJudge: each policy rule refuses its findings and no others, the
// scope picks the policies, and the built-in default judges an image no
// policy covers.
func TestJudge(t *testing.T) {
	rep := &Report{Image: ImageInfo{Ref: "registry:registry.internal/shop/api:1.2", Name: "registry.internal/shop/api:1.2"}, Findings: []Finding{
		{Category: Misconfiguration, Rule: RuleRootUser, Title: "root", Layer: -1},
		{Category: Misconfiguration, Rule: RuleSetuid, Path: "/usr/bin/su", Title: "su", Layer: 0},
		{Category: Misconfiguration, Rule: RuleSetuid, Path: "/usr/bin/newgrp", Title: "newgrp", Layer: 0},
		{Category: Misconfiguration, Rule: RuleNoHealthcheck, Title: "hc", Layer: -1},
		{Category: Vulnerability, Rule: "CVE-1", Severity: High, Layer: -1},
		{Category: Vulnerability, Rule: "GHSA-2", Aliases: []string{"CVE-2"}, Severity: Critical, Layer: -1},
		{Category: Vulnerability, Rule: "CVE-3", Severity: Medium, Layer: -1},
	}}
	ps, err := policy.ParseAssurance("p.yaml", []byte(`apiVersion: mamori.dev/v1
kind: ImageAssurancePolicy
metadata: {name: internal}
spec:
  scope: {image: {registry: registry.internal}}
  rules:
    maxSeverity: medium
    ignoreVulnerabilities: [CVE-2]
    requireNonRoot: true
    forbidSetuid: true
    allowSetuid: [/usr/bin/su]
---
apiVersion: mamori.dev/v1
kind: ImageAssurancePolicy
metadata: {name: elsewhere}
spec:
  scope: {not: {image: {registry: registry.internal}}}
  rules: {requireHealthcheck: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	v := Judge(rep, ps)
	var got []string
	for _, r := range v.Reasons {
		got = append(got, r.Rule+" "+r.Finding.Rule+" "+r.Finding.Path+" "+r.Where)
	}
	want := []string{
		"requireNonRoot root-user  p.yaml:9:21",
		"forbidSetuid setuid /usr/bin/newgrp p.yaml:10:19",
		"maxSeverity CVE-1  p.yaml:7:18",
	}
	if v.Compliant || len(v.Policies) != 1 || v.Policies[0] != "internal" || !equalStrings(got, want) {
		t.Errorf("verdict %v %v\n%q\nwant %q", v.Compliant, v.Policies, got, want)
	}
	if rep.Verdict != v {
		t.Errorf("Judge did not set the report's verdict")
	}

	// No policy covers docker.io images here but "elsewhere"; with no
	// policies at all, the built-in judges: only the critical
	// vulnerability breaks it.
	rep.Image = ImageInfo{Ref: "nginx:1.27", Name: "docker.io/library/nginx:1.27"}
	if v := Judge(rep, ps); v.Compliant || len(v.Reasons) != 1 || v.Reasons[0].Rule != "requireHealthcheck" {
		t.Errorf("elsewhere: %+v", v)
	}
	if v := Judge(rep, nil); v.Compliant || v.Policies[0] != "builtin-image-assurance" || len(v.Reasons) != 1 || v.Reasons[0].Finding.Rule != "GHSA-2" {
		t.Errorf("built-in: %+v", v)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
