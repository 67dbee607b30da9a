package cloudtrail

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
)

// scanMamori runs every record under paths through mamori's built-in
// rules, matching all, and returns the rules raised per file base name.
func scanMamori(t *testing.T, paths ...string) (map[string][]string, []*event.Alert) {
	t.Helper()
	d := NewDetector(loadMamori(t), DetectorConfig{All: true})
	got := map[string][]string{}
	var alerts []*event.Alert
	var rd Reader
	rd.ReadPaths(paths, func(r *Record) {
		d.Detect(r, func(a *event.Alert) {
			base := filepath.Base(r.File)
			got[base] = append(got[base], a.Rule)
			alerts = append(alerts, a)
		})
	}, func(e *Error) { t.Errorf("read error: %v", e) })
	return got, alerts
}

// TestMamoriRulesOnStratus checks that each Stratus Red Team detonation
// raises exactly the built-in rules written for what it does, and that
// the other detonations (many of them failed calls) raise none.
func TestMamoriRulesOnStratus(t *testing.T) {
	got, alerts := scanMamori(t, corpora(t, "cloudtrail", "stratus-red-team"))
	want := map[string][]string{
		"aws.defense-evasion.cloudtrail-stop.json":                      {"CloudTrail Trail Stopped, Deleted or Narrowed"},
		"aws.defense-evasion.cloudtrail-delete.json":                    {"CloudTrail Trail Stopped, Deleted or Narrowed"},
		"aws.defense-evasion.cloudtrail-event-selectors.json":           {"CloudTrail Trail Stopped, Deleted or Narrowed"},
		"aws.initial-access.console-login-without-mfa.json":             {"Console Sign-in Without MFA"},
		"aws.exfiltration.ec2-security-group-open-port-22-ingress.json": {"Security Group Opened to the Internet"},
		"aws.persistence.iam-backdoor-user.json":                        {"Access Key Created for Another IAM User"},
		// CreateUser, AttachUserPolicy AdministratorAccess, CreateAccessKey
		// for the new user.
		"aws.persistence.iam-create-admin-user.json": {"Access Key Created for Another IAM User", "Admin Managed Policy Attached to IAM Principal"},
		// CreateRole, AttachRolePolicy AdministratorAccess.
		"aws.persistence.iam-create-backdoor-role.json": {"Admin Managed Policy Attached to IAM Principal"},
	}
	for f, rs := range got {
		t.Logf("%s -> %v", f, rs)
	}
	for _, a := range alerts {
		t.Logf("%s", a.Output)
		if a.Source != Source || a.Kind != "alert" || a.Action != event.Detected || a.Time.IsZero() {
			t.Errorf("alert %+v", a)
		}
		if strings.Contains(a.Output, "ct.") || strings.Contains(a.Output, "mamori.") {
			t.Errorf("output names a field instead of its value: %s", a.Output)
		}
	}
	files, _ := filepath.Glob(filepath.Join(corpora(t, "cloudtrail", "stratus-red-team"), "*.json"))
	for _, f := range files {
		base := filepath.Base(f)
		g := append([]string(nil), got[base]...)
		sort.Strings(g)
		if strings.Join(g, "|") != strings.Join(want[base], "|") {
			t.Errorf("%s raised %q, want %q", base, g, want[base])
		}
	}
}

// TestMamoriRulesIgnoreFailedCalls replays every Stratus record that
// raises a built-in rule with errorCode AccessDenied added, as CloudTrail
// logs a refused call: none may raise anything.
func TestMamoriRulesIgnoreFailedCalls(t *testing.T) {
	d := NewDetector(loadMamori(t), DetectorConfig{All: true})
	var raising []*Record
	var rd Reader
	rd.ReadPaths([]string{corpora(t, "cloudtrail", "stratus-red-team")}, func(r *Record) {
		d.Detect(r, func(*event.Alert) {
			if len(raising) == 0 || raising[len(raising)-1] != r {
				raising = append(raising, r)
			}
		})
	}, func(e *Error) { t.Error(e) })
	if len(raising) < 8 {
		t.Fatalf("only %d records raise a rule", len(raising))
	}
	denied := NewDetector(loadMamori(t), DetectorConfig{All: true})
	for _, r := range raising {
		f := make(map[string]any, len(r.Fields())+2)
		for k, v := range r.Fields() {
			f[k] = v
		}
		f["errorCode"] = "AccessDenied"
		f["errorMessage"] = "User is not authorized to perform this operation"
		text, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		refused := newRecord(text)
		refused.File, refused.Index = r.File, r.Index
		denied.Detect(refused, func(a *event.Alert) {
			t.Errorf("%s record %d refused with AccessDenied raised %q", filepath.Base(r.File), r.Index, a.Rule)
		})
	}
}

// TestMamoriRulesOnOTRF scans OTRF's S3 exfiltration dataset (an EC2
// role's stolen session listing buckets and downloading an object, amid
// a user's console browsing): none of the built-in rules is about reading
// data, and none may fire on its 103 records.
func TestMamoriRulesOnOTRF(t *testing.T) {
	got, alerts := scanMamori(t, corpora(t, "cloudtrail", "otrf-security-datasets"))
	for _, a := range alerts {
		t.Errorf("OTRF raised %s", a.Output)
	}
	var n int
	var rd Reader
	rd.ReadPaths([]string{corpora(t, "cloudtrail", "otrf-security-datasets")}, func(*Record) { n++ }, func(e *Error) { t.Error(e) })
	if n != 103 || len(got) != 0 {
		t.Errorf("%d records, alerts per file %v", n, got)
	}
}

// BenchmarkScanMamori is BenchmarkScan with the built-in rules, as
// `mamori cloudtrail scan` runs by default.
func BenchmarkScanMamori(b *testing.B) { benchScan(b, loadMamori(b)) }
