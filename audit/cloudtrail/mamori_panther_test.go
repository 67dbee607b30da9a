package cloudtrail

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
)

// pantherPair maps a built-in rule to a Panther rule looking for the same
// thing. names, when set, keeps only Panther's events of those eventNames
// (its rule spans services the mamori rule does not). want is the
// expected TP, FP, FN, TN: docs/rules.md records them.
type pantherPair struct {
	mamori, panther string
	names           []string
	want            [4]int
	// perRecord scores a stateful rule by its condition alone: Panther's
	// threshold rules label each event that counts toward the threshold,
	// and one event never reaches mamori's.
	perRecord bool
	// orRefused also counts the refused-attempt rule firing as a hit:
	// Panther's rule is about the attempt, mamori splits it in two.
	orRefused bool
}

var pantherPairs = []pantherPair{
	{"Access Key Created for Another IAM User", "AWS.IAM.Backdoor.User.Keys", nil, [4]int{3, 0, 0, 2}, false, false},
	{"Admin Managed Policy Attached to IAM Principal", "AWS.IAM.AttachAdminUserPolicy", nil, [4]int{1, 0, 0, 1}, false, false},
	{"Admin Managed Policy Attached to IAM Principal", "AWS.IAM.AttachAdminRolePolicy", nil, [4]int{1, 0, 0, 1}, false, false},
	{"CloudTrail Trail Stopped, Deleted or Narrowed", "AWS.CloudTrail.Stopped", nil, [4]int{1, 0, 0, 2}, false, false},
	{"CloudTrail Trail Stopped, Deleted or Narrowed", "AWS.CloudTrail.EventSelectorsDisabled", nil, [4]int{1, 0, 0, 2}, false, false},
	{"S3 Public Access Block Removed", "AWS.S3.DeletePublicAccessBlock", nil, [4]int{1, 0, 0, 3}, false, false},
	{"S3 Bucket Made Publicly Writable", "AWS.CloudTrail.ResourceMadePublic", []string{"PutBucketPolicy"}, [4]int{0, 0, 1, 5}, false, false},
	{"Console Sign-in Without MFA", "AWS.Console.LoginWithoutMFA", nil, [4]int{3, 1, 0, 7}, false, false},
	{"Snapshot or Image Shared Outside the Account", "AWS.CloudTrail.AMIModifiedForPublicAccess", nil, [4]int{2, 1, 0, 3}, false, false},
	{"Snapshot or Image Shared Outside the Account", "AWS.CloudTrail.SnapshotMadePublic", nil, [4]int{2, 0, 0, 2}, false, false},
	{"Snapshot or Image Shared Outside the Account", "AWS.RDS.SnapshotShared", nil, [4]int{1, 0, 0, 1}, false, false},
	{"Console Password Set for Another IAM User", "AWS.User.Login.Profile.Modified", nil, [4]int{1, 0, 0, 2}, false, false},
	{"Console Password Set for Another IAM User", "AWS.CloudTrail.LoginProfileCreatedOrModified", nil, [4]int{1, 0, 0, 1}, false, false},
	{"Security Monitoring Service Disabled", "AWS.ConfigService.DisabledDeleted", nil, [4]int{1, 0, 0, 2}, false, false},
	{"Route 53 Resolver Query Logging Deleted", "AWS.CloudTrail.DNSLogsDeleted", nil, [4]int{1, 0, 0, 0}, false, false},
	{"VPC Flow Logs Deleted", "AWS.VPCFlow.LogsDeleted", nil, [4]int{1, 0, 0, 0}, false, false},
	{"Unusual EC2 Instance Type Launched", "AWS.EC2.LaunchUnusualEC2Instances", nil, [4]int{3, 0, 0, 0}, false, true},
	{"EC2 Instance User Data Modified", "AWS.EC2.Startup.Script.Change", nil, [4]int{1, 0, 0, 0}, false, false},
	{"EC2 Instance Connect SSH Key Pushed", "AWS.EC2.MultiInstanceConnect", nil, [4]int{2, 0, 0, 2}, false, false},
	{"IAM Role Trust Granted to Another Account", "AWS.IAM.BackdoorRole", nil, [4]int{1, 0, 0, 2}, false, false},
	{"Lambda Function Code Replaced", "AWS.Lambda.UpdateFunctionCode", nil, [4]int{3, 2, 0, 1}, false, false},
	{"Lambda Function Made Invocable from Outside the Account", "AWS.Potential.Backdoor.Lambda", nil, [4]int{0, 0, 2, 1}, false, false},
	{"Secrets Manager Secrets Read in a Batch", "AWS.SecretsManager.BatchRetrieveSecrets", nil, [4]int{1, 0, 0, 0}, false, false},
	{"Secrets Manager Secrets Read in a Batch", "AWS.SecretsManager.BatchRetrieveSecretsCatchAll", nil, [4]int{1, 1, 0, 0}, false, false},
	{"Secrets Manager Secrets Read in Bulk", "AWS.SecretsManager.RetrieveSecrets", nil, [4]int{1, 0, 0, 0}, true, true},
	{"SSM Command Sent to Instances", "AWS.SSM.DistributedCommand", nil, [4]int{2, 1, 0, 1}, false, false},
	{"EC2 Password Data Requested in Bulk", "AWS.EC2.ManyPasswordReadAttempts", nil, [4]int{2, 0, 0, 1}, true, false},
	{"EC2 User Data Read in Bulk", "AWS.EC2.DownloadInstanceUserData", nil, [4]int{2, 1, 0, 0}, true, false},
	{"SSM SecureString Parameters Read in Bulk", "AWS.SSM.DecryptSSMParams", nil, [4]int{3, 0, 0, 2}, true, false},
	{"Refused Attempt at a Critical AWS Action", "AWS.CloudTrail.AttemptToLeaveOrg", nil, [4]int{1, 0, 0, 0}, false, false},
	{"S3 Objects Set to Expire Within Days", "AWS.CloudTrail.ShortLifecycle", nil, [4]int{2, 0, 0, 3}, false, false},
}

// pantherDiffers are the labelled events a built-in rule answers
// differently from Panther, by design, with the reason.
var pantherDiffers = map[[2]string]string{
	{"AWS.CloudTrail.ResourceMadePublic", "S3 Made Publicly Accessible"}:                                    "public read (s3:GetBucketAcl) only; mamori's rule is about public write",
	{"AWS.Console.LoginWithoutMFA", "No MFA Login - New User"}:                                              "Panther spares users created moments before (its own state); mamori does not: a new user signing in without MFA is also an attacker's backdoor",
	{"AWS.CloudTrail.AMIModifiedForPublicAccess", "AMI Added to User"}:                                      "Panther's rule is about public AMIs; mamori's also about sharing with another account",
	{"AWS.Lambda.UpdateFunctionCode", "AssumedRole Updates Lambda Code (Normal CI/CD)"}:                     "Panther spares roles it takes for CI/CD; mamori has no such list (append to mamori_ct_lambda_change_allowed)",
	{"AWS.Lambda.UpdateFunctionCode", "AssumedRole Updates Lambda Code v2 (Normal CI/CD)"}:                  "as above",
	{"AWS.Potential.Backdoor.Lambda", "Lambda Add Permission Event"}:                                        "the record names no principal; mamori's rule is about permissions for anyone or another account",
	{"AWS.Potential.Backdoor.Lambda", "Lambda Add Permission Event v2"}:                                     "as above",
	{"AWS.SecretsManager.BatchRetrieveSecretsCatchAll", "BatchGetSecretValue Catch-All with other filters"}: "Panther fires only on a batch read with no narrowing filter; mamori on any batch read (Notice)",
	{"AWS.SSM.DistributedCommand", "Single Command Send, No Cached IDs"}:                                    "Panther counts distinct instances before it fires; mamori raises a Notice per SendCommand",
	{"AWS.EC2.DownloadInstanceUserData", "Panther Cloud Security Scanning"}:                                 "Panther spares its own scanner's role; the record counts toward mamori's threshold",
}

// pantherElsewhere are the built-in rules that fire on events labelled
// for Panther rules no pair maps, by Panther rule and test name: each is
// what the built-in rule is about (root and IAM users signing in without
// MFA, a 0.0.0.0/0 ingress, AdministratorAccess attached, root making a
// key for a user, a trail deleted, a Config recorder deleted, a refused
// call the rules watch for, a batch read of secrets). Anything else
// firing is an error.
var pantherElsewhere = map[string]string{
	"AWS.Console.RootLogin/Successful Root Login":                                    "Console Sign-in Without MFA",
	"AWS.Console.RootLoginFailed/Successful Login":                                   "Console Sign-in Without MFA",
	"AWS.Root.Activity/Successful Root Login":                                        "Console Sign-in Without MFA",
	"Standard.BruteForceByIP/AWS.CloudTrail - Successful Login":                      "Console Sign-in Without MFA",
	"Standard.BruteForceByUser/AWS.CloudTrail - Successful Login":                    "Console Sign-in Without MFA",
	"Standard.ImpossibleTravel.Login/CloudTrail ConsoleLogin no history":             "Console Sign-in Without MFA",
	"Standard.ImpossibleTravel.Login/CloudTrail ConsoleLogin with history":           "Console Sign-in Without MFA",
	"Standard.SignInFromRogueState/Cloudtrail - Rogue State Sign-In":                 "Console Sign-in Without MFA",
	"AWS.EC2.ManualSecurityGroupChange/Go Script Authorize Ingress":                  "Security Group Opened to the Internet",
	"AWS.IAM.CreateRole/IAM Role Not Created":                                        "Admin Managed Policy Attached to IAM Principal",
	"AWS.IAM.CreateUser/IAM User Not Created":                                        "Admin Managed Policy Attached to IAM Principal",
	"AWS.CloudTrail.RootAccessKeyCreated/Root Created Access Key For User":           "Access Key Created for Another IAM User",
	"AWS.CloudTrail.SecurityConfigurationChange/Security Configuration Changed":      "CloudTrail Trail Stopped, Deleted or Narrowed",
	"AWS.ConfigService.Created/Config Recorder Deleted":                              "Security Monitoring Service Disabled",
	"AWS.EC2.ManualSecurityGroupChange/AWS Console - Ingress SG Authorization Error": ruleRefused,
	"AWS.S3.BucketPolicyModified/S3 Bucket Policy Modified Error Response":           ruleRefused,
	"AWS.SecretsManager.RetrieveSecretsMultiRegion/BatchGetSecretValue in us-east-1": "Secrets Manager Secrets Read in a Batch",
}

// pantherScore counts one pair's outcomes.
type pantherScore struct {
	pair           pantherPair
	tp, fp, fn, tn int
}

func (s pantherScore) precision() string { return ratio(s.tp, s.tp+s.fp) }
func (s pantherScore) recall() string    { return ratio(s.tp, s.tp+s.fn) }

// ratio is a/b to two places, "—" when b is 0 (nothing fired, or nothing
// to find).
func ratio(a, b int) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

// TestMamoriRulesOnPanther scores the built-in rules against the events
// Panther labelled for its own CloudTrail rules, where a built-in rule
// maps to one of theirs: precision and recall per pair, printed as the
// table docs/rules.md records. Each disagreement must be a known one, and
// each known one must still be one. Every event runs through its own
// Detector: the events are unrelated examples, not one account's history.
func TestMamoriRulesOnPanther(t *testing.T) {
	rs := loadMamori(t)
	scores := make([]pantherScore, len(pantherPairs))
	for i, p := range pantherPairs {
		scores[i].pair = p
	}
	stillDiffer := map[[2]string]bool{}
	elsewhere := map[string]int{}
	shared := NewDetector(rs, DetectorConfig{All: true})
	seenElsewhere := map[string]bool{}
	var rd Reader
	for _, tc := range pantherCases(t) {
		rd.Parse(tc.RuleID, tc.Log, func(r *Record) {
			fired := map[string]bool{}
			NewDetector(rs, DetectorConfig{All: true}).Detect(r, func(a *event.Alert) { fired[a.Rule] = true })
			mapped := false
			for i, p := range pantherPairs {
				if p.panther != tc.RuleID {
					continue
				}
				if n := eventName(r); p.names != nil && !contains(p.names, n) {
					continue
				}
				mapped = true
				hit := fired[p.mamori] || p.orRefused && fired[ruleRefused]
				if p.perRecord {
					ev := &evaluation{rec: r}
					hit = hit || rs.Rule(p.mamori).Eval(ev)
				}
				s := &scores[i]
				switch {
				case hit && tc.Expected:
					s.tp++
				case hit:
					s.fp++
				case tc.Expected:
					s.fn++
				default:
					s.tn++
				}
				key := [2]string{tc.RuleID, tc.Test}
				if hit != tc.Expected {
					if why, ok := pantherDiffers[key]; ok {
						stillDiffer[key] = true
						t.Logf("%s %q: differs as known: %s", tc.RuleID, tc.Test, why)
					} else {
						t.Errorf("%s %q: Panther expects %v, %q fired=%v", tc.RuleID, tc.Test, tc.Expected, p.mamori, hit)
					}
				}
			}
			if !mapped {
				for n := range fired {
					elsewhere[n]++
					t.Logf("%q fired on %s %q (expected=%v there)", n, tc.RuleID, tc.Test, tc.Expected)
					seenElsewhere[tc.RuleID+"/"+tc.Test] = true
					if want := pantherElsewhere[tc.RuleID+"/"+tc.Test]; want != n {
						t.Errorf("%q fired on %s %q, labelled for an unmapped Panther rule", n, tc.RuleID, tc.Test)
					}
				}
			}
			// The whole file, in order, through one Detector: one account's
			// history, for the rules that remember. Panther's PutImage
			// events push one digest again and again.
			shared.Detect(r, func(a *event.Alert) {
				if a.Rule == "ECR Image Tag Overwritten" || a.Rule == "IAM User Added to Admin Group" {
					t.Errorf("%s %q raised %q in sequence", tc.RuleID, tc.Test, a.Rule)
				}
			})
		}, func(e *Error) { t.Errorf("%s %q: %v", tc.RuleID, tc.Test, e) })
	}
	for k, rule := range pantherElsewhere {
		if !seenElsewhere[k] {
			t.Errorf("%q no longer fires on %s", rule, k)
		}
	}
	for k, why := range pantherDiffers {
		if !stillDiffer[k] {
			t.Errorf("%s %q now agrees with Panther (%s): drop it from pantherDiffers", k[0], k[1], why)
		}
	}
	var b strings.Builder
	fmt.Fprintln(&b, "| mamori rule | Panther rule | labelled events | TP | FP | FN | TN | precision | recall |")
	fmt.Fprintln(&b, "|---|---|---|---|---|---|---|---|---|")
	for _, s := range scores {
		if got := [4]int{s.tp, s.fp, s.fn, s.tn}; got != s.pair.want {
			t.Errorf("%s vs %s: TP, FP, FN, TN = %v, want %v (update docs/rules.md too)", s.pair.mamori, s.pair.panther, got, s.pair.want)
		}
		name := s.pair.panther
		if s.pair.names != nil {
			name += " (" + strings.Join(s.pair.names, ", ") + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %s | %s |\n", s.pair.mamori, name,
			s.tp+s.fp+s.fn+s.tn, s.tp, s.fp, s.fn, s.tn, s.precision(), s.recall())
	}
	t.Logf("precision and recall on Panther's labelled events:\n%s", b.String())
	names := make([]string, 0, len(elsewhere))
	for n := range elsewhere {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Logf("%q also fired on %d events labelled for unmapped Panther rules", n, elsewhere[n])
	}
}

// pantherCase is one of Panther's labelled events.
type pantherCase struct {
	RuleID   string          `json:"rule_id"`
	Test     string          `json:"test_name"`
	Expected bool            `json:"expected_result"`
	Log      json.RawMessage `json:"log"`
}

// pantherCases reads Panther's labelled CloudTrail events, in file order.
func pantherCases(t *testing.T) []pantherCase {
	t.Helper()
	f, err := os.Open(corpora(t, "cloudtrail", "panther-analysis-tests", "cloudtrail_rule_test_events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []pantherCase
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var tc pantherCase
		if err := json.Unmarshal(sc.Bytes(), &tc); err != nil {
			t.Fatalf("Panther event %d: %v", len(cases)+1, err)
		}
		cases = append(cases, tc)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
