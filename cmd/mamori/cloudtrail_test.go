package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
)

// cloudtrailCorpus is a folder of ../shared/corpora/cloudtrail, read in place.
func cloudtrailCorpus(t *testing.T, name string) string {
	t.Helper()
	p, _ := filepath.Abs(filepath.Join("..", "..", "..", "shared", "corpora", "cloudtrail", name))
	if _, err := os.Stat(p); err != nil {
		t.Skipf("CloudTrail corpus not found (%v): the tests read it in place from ../shared/corpora", err)
	}
	return p
}

// scanAlerts runs `mamori cloudtrail scan` with the upstream rules alone
// and returns its alerts, its stderr and stdout combined, and its exit
// status.
func scanAlerts(t *testing.T, paths ...string) ([]event.Alert, string, int) {
	t.Helper()
	return scanWith(t, []string{"--no-builtin", "--rules", upstreamRules(t, "aws_cloudtrail_rules.yaml")}, paths...)
}

// scanWith runs `mamori cloudtrail scan --all` with flags on paths.
func scanWith(t *testing.T, flags []string, paths ...string) ([]event.Alert, string, int) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "alerts.json")
	args := append(append([]string{"cloudtrail", "scan", "--match-all", "--alerts-output", out}, flags...), paths...)
	log, code := mamori(t, args...)
	f, err := os.Open(out)
	if err != nil {
		t.Fatalf("no alerts file (exit %d):\n%s", code, log)
	}
	defer f.Close()
	var alerts []event.Alert
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var a event.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("alert line %q: %v", sc.Text(), err)
		}
		alerts = append(alerts, a)
	}
	return alerts, log, code
}

// TestCloudtrailStratusTechniques scans Stratus Red Team detonations, one
// technique at a time, and checks each raises the upstream rules written
// for what it does, and no others.
func TestCloudtrailStratusTechniques(t *testing.T) {
	dir := cloudtrailCorpus(t, "stratus-red-team")
	for technique, want := range map[string][]string{
		"aws.defense-evasion.cloudtrail-stop":          {"CloudTrail Logging Disabled"},
		"aws.initial-access.console-login-without-mfa": {"Console Login Without MFA"},
		"aws.persistence.iam-create-admin-user":        {"Create AWS user"},
		"aws.persistence.lambda-overwrite-code":        {"Update Lambda Function Code"},
		"aws.persistence.lambda-layer-extension":       {"Update Lambda Function Configuration"},
		// No upstream rule covers deleting a trail or changing its event
		// selectors; the unusual-instances detonation failed, and rules
		// require not ct.error exists.
		"aws.defense-evasion.cloudtrail-delete":          nil,
		"aws.defense-evasion.cloudtrail-event-selectors": nil,
		"aws.execution.ec2-launch-unusual-instances":     nil,
	} {
		alerts, log, code := scanAlerts(t, filepath.Join(dir, technique+".json"))
		if code != 0 {
			t.Errorf("%s: exit %d\n%s", technique, code, log)
		}
		var got []string
		for _, a := range alerts {
			got = append(got, a.Rule)
			if a.Kind != "alert" || a.Source != "aws_cloudtrail" || a.Action != "detected" ||
				a.Process != nil || a.Container != nil || a.Time.IsZero() || len(a.OutputFields) == 0 {
				t.Errorf("%s: alert %+v", technique, a)
			}
		}
		sort.Strings(got)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s raised %q, want %q", technique, got, want)
		}
	}
}

// TestCloudtrailMalformedFile scans the Stratus detonations with a folder
// where one file is not valid JSON: that file is reported and skipped, the
// rest is scanned, and the exit status says something was skipped.
func TestCloudtrailMalformedFile(t *testing.T) {
	alerts, log, code := scanAlerts(t, cloudtrailCorpus(t, "stratus-red-team"), cloudtrailCorpus(t, "zmallen-cloudtrail2sightings"))
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"aws_cloudtrail rules: 20 active, 2 disabled, 0 inactive",
		"skipped: " + filepath.Join(cloudtrailCorpus(t, "zmallen-cloudtrail2sightings"), "aws.execution.ec2-user-data.json") + ":112: invalid character",
		"322 records from 38 files, 5 alerts, 1 unreadable file or record",
		"Console Login Without MFA             Critical       1",
		"1 file or record could not be read and was skipped",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, log)
		}
	}
	if len(alerts) != 5 {
		t.Errorf("%d alerts, want 5", len(alerts))
	}
}

func TestCloudtrailUsage(t *testing.T) {
	if out, code := mamori(t, "cloudtrail", "scan", "--no-builtin", "x.json"); code != 2 || !strings.Contains(out, "--rules") {
		t.Errorf("scan with --no-default-rules and no --rules: exit %d\n%s", code, out)
	}
	if out, code := mamori(t, "cloudtrail", "scan", "--rules", upstreamRules(t, "aws_cloudtrail_rules.yaml")); code != 2 {
		t.Errorf("scan without paths: exit %d\n%s", code, out)
	}
	missing := filepath.Join(t.TempDir(), "absent.json")
	if out, code := mamori(t, "cloudtrail", "scan", missing); code != 1 || !strings.Contains(out, "skipped: "+missing) ||
		!strings.Contains(out, "aws_cloudtrail rules: 40 active") {
		t.Errorf("scan of a missing file with the built-in rules: exit %d\n%s", code, out)
	}
	if out, code := mamori(t, "cloudtrail", "scan", "--help"); code != 0 || !strings.Contains(out, "--no-builtin") ||
		!strings.Contains(out, "built in") {
		t.Errorf("scan --help: exit %d\n%s", code, out)
	}
}

// TestCloudtrailBuiltinRules scans the Stratus detonations with mamori's
// built-in rules alone (no --rules): each technique raises the rules
// written for it.
func TestCloudtrailBuiltinRules(t *testing.T) {
	dir := cloudtrailCorpus(t, "stratus-red-team")
	for technique, want := range map[string][]string{
		"aws.defense-evasion.cloudtrail-delete":                    {"CloudTrail Trail Stopped, Deleted or Narrowed"},
		"aws.defense-evasion.cloudtrail-event-selectors":           {"CloudTrail Trail Stopped, Deleted or Narrowed"},
		"aws.exfiltration.ec2-security-group-open-port-22-ingress": {"Security Group Opened to the Internet"},
		"aws.persistence.iam-create-admin-user":                    {"Access Key Created for Another IAM User", "Admin Managed Policy Attached to IAM Principal"},
		"aws.initial-access.console-login-without-mfa":             {"Console Sign-in Without MFA"},
		// Thirty refused GetPasswordData: the burst, and the refusal.
		"aws.credential-access.ec2-get-password-data": {"EC2 Password Data Requested in Bulk", "Refused Attempt at a Critical AWS Action"},
		"aws.defense-evasion.organizations-leave":     {"Refused Attempt at a Critical AWS Action"},
		"aws.impact.bedrock-invoke-model":             {"Bedrock Model Access Enabled", "Bedrock Model Access Enabled", "Bedrock Model Access Enabled", "Bedrock Model Invoked by a New Identity"},
	} {
		alerts, log, code := scanWith(t, nil, filepath.Join(dir, technique+".json"))
		if code != 0 || !strings.Contains(log, "aws_cloudtrail rules: 40 active, 0 disabled, 0 inactive") {
			t.Errorf("%s: exit %d\n%s", technique, code, log)
		}
		var got []string
		for _, a := range alerts {
			got = append(got, a.Rule)
			if a.Kind != "alert" || a.Source != "aws_cloudtrail" || a.Action != "detected" || a.Time.IsZero() ||
				len(a.OutputFields) == 0 || len(a.Tags) == 0 {
				t.Errorf("%s: alert %+v", technique, a)
			}
		}
		sort.Strings(got)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s raised %q, want %q", technique, got, want)
		}
	}
}

// TestCloudtrailBuiltinWithUpstream: with --rules naming Falco's file, the
// built-in rules run alongside it, and a user's file loaded after them can
// allow what they flag by replacing a mamori_ct_*_allowed macro.
func TestCloudtrailBuiltinWithUpstream(t *testing.T) {
	dir := cloudtrailCorpus(t, "stratus-red-team")
	upstream := upstreamRules(t, "aws_cloudtrail_rules.yaml")
	alerts, log, code := scanWith(t, []string{"--rules", upstream}, dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, log)
	}
	for _, want := range []string{
		"aws_cloudtrail rules: 60 active, 2 disabled, 0 inactive",
		"310 records from 35 files, 58 alerts, 0 unreadable files or records",
		"Console Login Without MFA ", "Console Sign-in Without MFA ", "Security Group Opened to the Internet ",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, log)
		}
	}
	if len(alerts) != 58 {
		t.Errorf("%d alerts, want 58", len(alerts))
	}

	allow := filepath.Join(t.TempDir(), "allow.yaml")
	if err := os.WriteFile(allow, []byte(`- macro: mamori_ct_public_ingress_allowed
  condition: json.value[/requestParameters/groupId] = sg-003dc7f1f1c686164
  override: {condition: replace}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	alerts, log, code = scanWith(t, []string{"--rules", allow}, filepath.Join(dir, "aws.exfiltration.ec2-security-group-open-port-22-ingress.json"))
	if code != 0 || len(alerts) != 0 {
		t.Errorf("allowed security group: exit %d, %d alerts\n%s", code, len(alerts), log)
	}
}
