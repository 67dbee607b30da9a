package cloudtrail

import (
	"testing"

	"github.com/mamori-dev/mamori/event"
)

// TestPantherLabelledEvents runs the events Panther labelled for its own
// CloudTrail rules through the upstream Falco rules. Where a Panther rule
// looks for the same thing as a Falco rule, the Falco rule must fire on
// Panther's positives and stay quiet on its negatives; a pair whose
// labels the Falco rule cannot honour is listed with the reason. (Panther's
// AWS.S3.DeletePublicAccessBlock watches DeleteBucketPublicAccessBlock;
// Falco's rule of that name watches PutBucketPublicAccessBlock, so they are
// not paired.)
func TestPantherLabelledEvents(t *testing.T) {
	same := map[string]string{
		"AWS.CloudTrail.Stopped":            "CloudTrail Logging Disabled",
		"AWS.CloudTrail.Created":            "CloudTrail Trail Created",
		"AWS.S3.DeleteBucketEncryption":     "Delete Bucket Encryption",
		"AWS.Console.LoginWithoutMFA":       "Console Login Without MFA",
		"AWS.IAM.CreateUser":                "Create AWS user",
		"AWS.S3.BucketPolicyModified":       "Put Bucket ACL",
		"AWS.Console.RootLogin":             "",
		"AWS.CloudTrail.ResourceMadePublic": "",
	}
	// Where the labels and the Falco rule part ways by design, not by a
	// field's meaning.
	differ := map[[2]string]string{
		{"AWS.Console.LoginWithoutMFA", "MFA Login - SAML"}:        "Falco's rule does not exempt SAML federation (SamlProviderArn)",
		{"AWS.Console.LoginWithoutMFA", "No MFA Login - New User"}: "Panther exempts users created moments before; Falco keeps no state",
		{"AWS.S3.DeleteBucketEncryption", "Non-S3 Event"}:          "Falco's rule checks ct.name only, not ct.src; the event is hand-made",
	}
	d := NewDetector(loadUpstream(t), DetectorConfig{All: true})
	var rd Reader
	for _, tc := range pantherCases(t) {
		falco, ok := same[tc.RuleID]
		if !ok {
			continue
		}
		rd.Parse(tc.RuleID, tc.Log, func(r *Record) {
			var fired []string
			d.Detect(r, func(a *event.Alert) { fired = append(fired, a.Rule) })
			hit := false
			for _, n := range fired {
				hit = hit || n == falco
			}
			t.Logf("%s %q expected=%v: Falco raised %q", tc.RuleID, tc.Test, tc.Expected, fired)
			if why := differ[[2]string{tc.RuleID, tc.Test}]; why != "" {
				if hit == tc.Expected {
					t.Errorf("%s %q: now agrees with Panther; drop it from differ", tc.RuleID, tc.Test)
				}
				t.Logf("  differs as known: %s", why)
				return
			}
			if falco != "" && hit != tc.Expected {
				t.Errorf("%s %q: Panther expects %v, Falco rule %q fired=%v", tc.RuleID, tc.Test, tc.Expected, falco, hit)
			}
		}, func(e *Error) { t.Errorf("%s %q: %v", tc.RuleID, tc.Test, e) })
	}
}
