package cloudtrail

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
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

// stratusRules are the built-in rules each Stratus Red Team detonation
// raises, read alone (a Detector of its own) with rule_matching all.
// docs/rules.md has this table.
var stratusRules = map[string][]string{
	"aws.credential-access.ec2-get-password-data.json":                 {"EC2 Password Data Requested in Bulk", ruleRefused},
	"aws.credential-access.ec2-steal-instance-credentials.json":        {"SSM Command Sent to Instances"},
	"aws.credential-access.secretsmanager-batch-retrieve-secrets.json": {"Secrets Manager Secrets Read in a Batch"},
	"aws.credential-access.secretsmanager-retrieve-secrets.json":       {"Secrets Manager Secrets Read in Bulk"},
	"aws.credential-access.ssm-retrieve-securestring-parameters.json":  {"SSM SecureString Parameters Read in Bulk"},
	"aws.defense-evasion.cloudtrail-delete.json":                       {ruleTrail},
	"aws.defense-evasion.cloudtrail-event-selectors.json":              {ruleTrail},
	"aws.defense-evasion.cloudtrail-stop.json":                         {ruleTrail},
	"aws.defense-evasion.dns-delete-logs.json":                         {"Route 53 Resolver Query Logging Deleted"},
	// LeaveOrganization refused: the attempt is what is left to see.
	"aws.defense-evasion.organizations-leave.json":                     {ruleRefused},
	"aws.defense-evasion.vpc-remove-flow-logs.json":                    {"VPC Flow Logs Deleted"},
	"aws.discovery.ec2-download-user-data.json":                        {"EC2 User Data Read in Bulk", ruleRefused},
	"aws.execution.ec2-launch-unusual-instances.json":                  {ruleRefused},
	"aws.execution.ec2-user-data.json":                                 {"EC2 Instance User Data Modified"},
	"aws.execution.ssm-send-command.json":                              {"SSM Command Sent to Instances"},
	"aws.execution.ssm-start-session.json":                             {"SSM Session Started on an Instance"},
	"aws.exfiltration.ec2-security-group-open-port-22-ingress.json":    {ruleIngress},
	"aws.exfiltration.ec2-share-ami.json":                              {"Snapshot or Image Shared Outside the Account"},
	"aws.exfiltration.ec2-share-ebs-snapshot.json":                     {"Snapshot or Image Shared Outside the Account"},
	"aws.exfiltration.rds-share-snapshot.json":                         {"Snapshot or Image Shared Outside the Account"},
	"aws.impact.bedrock-invoke-model.json":                             {"Bedrock Model Access Enabled", "Bedrock Model Invoked by a New Identity"},
	"aws.initial-access.console-login-without-mfa.json":                {ruleNoMFA},
	"aws.lateral-movement.ec2-instance-connect.json":                   {"EC2 Instance Connect SSH Key Pushed"},
	"aws.lateral-movement.ec2-serial-console-send-ssh-public-key.json": {"EC2 Serial Console Access"},
	"aws.persistence.iam-backdoor-role.json":                           {"IAM Role Trust Granted to Another Account"},
	"aws.persistence.iam-backdoor-user.json":                           {ruleKey},
	// CreateUser, AttachUserPolicy AdministratorAccess, CreateAccessKey
	// for the new user.
	"aws.persistence.iam-create-admin-user.json": {ruleKey, ruleManaged},
	// CreateRole trusting another account, AttachRolePolicy
	// AdministratorAccess.
	"aws.persistence.iam-create-backdoor-role.json":               {ruleManaged, "IAM Role Trust Granted to Another Account"},
	"aws.persistence.iam-create-user-login-profile.json":          {"Console Password Set for Another IAM User"},
	"aws.persistence.lambda-backdoor-function.json":               {"Lambda Function Made Invocable from Outside the Account"},
	"aws.persistence.lambda-layer-extension.json":                 {"Lambda Function Layers Changed"},
	"aws.persistence.lambda-overwrite-code.json":                  {"Lambda Function Code Replaced"},
	"aws.persistence.rolesanywhere-create-trust-anchor.json":      {"IAM Roles Anywhere Trust Anchor Created"},
	"aws.persistence.sts-federation-token.json":                   {"Federation Token Obtained by an IAM User"},
	"aws.privilege-escalation.iam-update-user-login-profile.json": {"Console Password Set for Another IAM User"},
}

// detectFile runs the records of one file through a Detector of its
// own and returns the alerts.
func detectFile(t *testing.T, path string, all bool) []*event.Alert {
	t.Helper()
	d := NewDetector(loadMamori(t), DetectorConfig{All: all})
	var alerts []*event.Alert
	var rd Reader
	rd.ReadPaths([]string{path}, func(r *Record) {
		d.Detect(r, func(a *event.Alert) { alerts = append(alerts, a) })
	}, func(e *Error) { t.Errorf("read error: %v", e) })
	return alerts
}

// TestMamoriRulesOnStratus: each Stratus Red Team detonation, read alone,
// raises exactly the built-in rules written for what it does, and at
// least one alert of priority Notice or higher with rule_matching first,
// as `mamori cloudtrail scan` runs by default. Every technique file of
// the corpus is in the table.
func TestMamoriRulesOnStratus(t *testing.T) {
	dir := corpora(t, "cloudtrail", "stratus-red-team")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != len(stratusRules) {
		t.Errorf("%d technique files, %d in the table", len(files), len(stratusRules))
	}
	notice, _ := rules.ParsePriority("NOTICE")
	for _, f := range files {
		base := filepath.Base(f)
		want, ok := stratusRules[base]
		if !ok {
			t.Errorf("%s: a technique no rule is written for", base)
			continue
		}
		var got []string
		for _, a := range detectFile(t, f, true) {
			t.Logf("%s: %s", base, a.Output)
			if a.Source != Source || a.Kind != "alert" || a.Action != event.Detected || a.Time.IsZero() {
				t.Errorf("alert %+v", a)
			}
			if strings.Contains(a.Output, "ct.") || strings.Contains(a.Output, "mamori.") {
				t.Errorf("output names a field instead of its value: %s", a.Output)
			}
			if !contains(got, a.Rule) {
				got = append(got, a.Rule)
			}
		}
		sort.Strings(got)
		w := append([]string(nil), want...)
		sort.Strings(w)
		if strings.Join(got, "|") != strings.Join(w, "|") {
			t.Errorf("%s raised %q, want %q", base, got, w)
		}
		first := detectFile(t, f, false)
		raised := false
		for _, a := range first {
			p, err := rules.ParsePriority(a.Priority)
			raised = raised || err == nil && p <= notice
		}
		if !raised {
			t.Errorf("%s: no alert of priority Notice or higher with rule_matching first: %d alerts", base, len(first))
		}
	}
}

// TestMamoriRulesRefusedCalls replays every Stratus record that raises a
// built-in rule with errorCode AccessDenied added, as CloudTrail logs a
// refused call: none may raise the rule it raised, only the lower
// priority refused-attempt rule, once per identity and action (the bulk
// rules count attempts whatever their outcome, and may still fire).
func TestMamoriRulesRefusedCalls(t *testing.T) {
	d := NewDetector(loadMamori(t), DetectorConfig{All: true})
	type raising struct {
		r     *Record
		rules []string
	}
	var recs []raising
	var rd Reader
	rd.ReadPaths([]string{corpora(t, "cloudtrail", "stratus-red-team")}, func(r *Record) {
		var rs []string
		d.Detect(r, func(a *event.Alert) { rs = append(rs, a.Rule) })
		if len(rs) > 0 && r.Fields()["errorCode"] == nil {
			recs = append(recs, raising{r, rs})
		}
	}, func(e *Error) { t.Error(e) })
	if len(recs) < 30 {
		t.Fatalf("only %d successful records raise a rule", len(recs))
	}
	bulk := map[string]bool{"EC2 Password Data Requested in Bulk": true, "EC2 User Data Read in Bulk": true}
	denied := NewDetector(loadMamori(t), DetectorConfig{All: true})
	refusedBy := map[string]int{}
	for _, rr := range recs {
		r := rr.r
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
			switch {
			case a.Rule == ruleRefused:
				if a.Priority != "Notice" {
					t.Errorf("refused-attempt alert of priority %s", a.Priority)
				}
				refusedBy[fmt.Sprint(a.OutputFields["ct.user.arn"], " ", a.OutputFields["ct.name"])]++
			case bulk[a.Rule]:
			default:
				t.Errorf("%s record %d refused with AccessDenied raised %q (it raised %q when it succeeded)", filepath.Base(r.File), r.Index, a.Rule, rr.rules)
			}
		})
	}
	if len(refusedBy) < 20 {
		t.Errorf("refused replays raised the refused-attempt rule for %d identities and actions", len(refusedBy))
	}
	for k, n := range refusedBy {
		if n > 1 {
			t.Errorf("%s: %d refused-attempt alerts within the hour, want 1", k, n)
		}
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
