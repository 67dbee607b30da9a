package cloudtrail

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/mamori-dev/mamori/event"
)

// An edit turns one record of a detonation into its benign counterpart:
// it changes the record in place, or returns false to leave it out.
type edit func(rec map[string]any) bool

// params returns the record's requestParameters, made if absent.
func params(rec map[string]any) map[string]any {
	p, _ := rec["requestParameters"].(map[string]any)
	if p == nil {
		p = map[string]any{}
		rec["requestParameters"] = p
	}
	return p
}

func named(rec map[string]any, names ...string) bool {
	for _, n := range names {
		if rec["eventName"] == n {
			return true
		}
	}
	return false
}

// rename makes a call into a harmless one of the same service.
func rename(from, to string) edit {
	return func(rec map[string]any) bool {
		if named(rec, from) {
			rec["eventName"] = to
		}
		return true
	}
}

// drop leaves out the calls named.
func drop(names ...string) edit {
	return func(rec map[string]any) bool { return !named(rec, names...) }
}

// keepFirst keeps the first n calls named, of any outcome.
func keepFirst(n int, name string) edit {
	seen := 0
	return func(rec map[string]any) bool {
		if !named(rec, name) {
			return true
		}
		seen++
		return seen <= n
	}
}

// setParam sets a request parameter of the calls named.
func setParam(name, key string, v any) edit {
	return func(rec map[string]any) bool {
		if named(rec, name) {
			params(rec)[key] = v
		}
		return true
	}
}

// own is the record's own account, for shares and trusts kept inside it.
func own(rec map[string]any) string {
	s, _ := rec["recipientAccountId"].(string)
	return s
}

func caller(rec map[string]any) string {
	ui, _ := rec["userIdentity"].(map[string]any)
	s, _ := ui["userName"].(string)
	return s
}

// benign are the benign counterparts of the Stratus detonations: the same
// records with what makes them an attack taken out (a share kept inside
// the account, a key for oneself, too few reads to be a sweep, a normal
// instance type) or, where the call itself is what the rule is about, the
// call replaced by a harmless one of the same service. Each must raise
// nothing with the built-in rules.
var benign = map[string][]edit{
	// Four requests, two of them successful: below the bulk threshold,
	// and a refusal of a call no rule watches.
	"aws.credential-access.ec2-get-password-data.json":                 {keepFirst(4, "GetPasswordData"), rename("GetPasswordData", "DescribeInstances")},
	"aws.credential-access.ec2-steal-instance-credentials.json":        {rename("SendCommand", "ListCommands")},
	"aws.credential-access.secretsmanager-batch-retrieve-secrets.json": {rename("BatchGetSecretValue", "ListSecrets")},
	// Four secrets read: what an application does at start-up.
	"aws.credential-access.secretsmanager-retrieve-secrets.json": {keepFirst(4, "GetSecretValue")},
	// Parameters read without decryption.
	"aws.credential-access.ssm-retrieve-securestring-parameters.json": {setParam("GetParameters", "withDecryption", false)},
	"aws.defense-evasion.cloudtrail-delete.json":                      {rename("DeleteTrail", "CreateTrail")},
	// Selectors that log every management event.
	"aws.defense-evasion.cloudtrail-event-selectors.json": {setParam("PutEventSelectors", "eventSelectors",
		[]any{map[string]any{"includeManagementEvents": true, "readWriteType": "All", "dataResources": []any{}, "excludeManagementEventSources": []any{}}})},
	"aws.defense-evasion.cloudtrail-stop.json":      {rename("StopLogging", "StartLogging")},
	"aws.defense-evasion.dns-delete-logs.json":      {rename("DeleteResolverQueryLogConfig", "CreateResolverQueryLogConfig")},
	"aws.defense-evasion.organizations-leave.json":  {rename("LeaveOrganization", "DescribeOrganization")},
	"aws.defense-evasion.vpc-remove-flow-logs.json": {rename("DeleteFlowLogs", "CreateFlowLogs")},
	// Another attribute than user data, refused.
	"aws.discovery.ec2-download-user-data.json": {setParam("DescribeInstanceAttribute", "attribute", "instanceType")},
	// A refused launch of an ordinary instance type.
	"aws.execution.ec2-launch-unusual-instances.json": {setParam("RunInstances", "instanceType", "t3.micro")},
	"aws.execution.ec2-user-data.json": {func(rec map[string]any) bool {
		if named(rec, "ModifyInstanceAttribute") {
			p := params(rec)
			delete(p, "userData")
			p["instanceType"] = map[string]any{"value": "t3.large"}
		}
		return true
	}},
	"aws.execution.ssm-send-command.json":  {rename("SendCommand", "ListCommands")},
	"aws.execution.ssm-start-session.json": {rename("StartSession", "DescribeSessions")},
	// Opened to a private network, in the request and in the rule set
	// the response reports.
	"aws.exfiltration.ec2-security-group-open-port-22-ingress.json": {setParam("AuthorizeSecurityGroupIngress", "cidrIp", "10.0.0.0/8"),
		func(rec map[string]any) bool {
			resp, _ := rec["responseElements"].(map[string]any)
			set, _ := resp["securityGroupRuleSet"].(map[string]any)
			items, _ := set["items"].([]any)
			for _, it := range items {
				it.(map[string]any)["cidrIpv4"] = "10.0.0.0/8"
			}
			return true
		}},
	// Shares with the account itself.
	"aws.exfiltration.ec2-share-ami.json": {func(rec map[string]any) bool {
		params(rec)["launchPermission"] = map[string]any{"add": map[string]any{"items": []any{map[string]any{"userId": own(rec)}}}}
		return true
	}},
	"aws.exfiltration.ec2-share-ebs-snapshot.json": {func(rec map[string]any) bool {
		params(rec)["createVolumePermission"] = map[string]any{"add": map[string]any{"items": []any{map[string]any{"userId": own(rec)}}}}
		return true
	}},
	"aws.exfiltration.rds-share-snapshot.json": {func(rec map[string]any) bool {
		params(rec)["valuesToAdd"] = []any{own(rec)}
		return true
	}},
	// Model availability looked up, no access asked for, no model run.
	"aws.impact.bedrock-invoke-model.json": {drop("PutUseCaseForModelAccess", "CreateFoundationModelAgreement", "PutFoundationModelEntitlement", "InvokeModel")},
	"aws.initial-access.console-login-without-mfa.json": {func(rec map[string]any) bool {
		ad, _ := rec["additionalEventData"].(map[string]any)
		ad["MFAUsed"] = "Yes"
		return true
	}},
	"aws.lateral-movement.ec2-instance-connect.json": {rename("SendSSHPublicKey", "DescribeInstanceConnectEndpoints")},
	"aws.lateral-movement.ec2-serial-console-send-ssh-public-key.json": {rename("EnableSerialConsoleAccess", "GetSerialConsoleAccessStatus"),
		drop("SendSerialConsoleSSHPublicKey")},
	// A trust kept inside the account.
	"aws.persistence.iam-backdoor-role.json": {func(rec map[string]any) bool {
		params(rec)["policyDocument"] = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + own(rec) + `:root"},"Action":"sts:AssumeRole"}]}`
		return true
	}},
	// A key for oneself.
	"aws.persistence.iam-backdoor-user.json": {func(rec map[string]any) bool {
		params(rec)["userName"] = caller(rec)
		return true
	}},
	// A read-only user, without keys.
	"aws.persistence.iam-create-admin-user.json": {setParam("AttachUserPolicy", "policyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess"), drop("CreateAccessKey")},
	"aws.persistence.iam-create-backdoor-role.json": {setParam("AttachRolePolicy", "policyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
		setParam("CreateRole", "assumeRolePolicyDocument", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)},
	// One's own password.
	"aws.persistence.iam-create-user-login-profile.json": {func(rec map[string]any) bool {
		if named(rec, "CreateLoginProfile") {
			params(rec)["userName"] = caller(rec)
		}
		return true
	}},
	// A service of AWS may invoke the function.
	"aws.persistence.lambda-backdoor-function.json": {setParam("AddPermission20150331v2", "principal", "s3.amazonaws.com")},
	// A configuration change that sets no layers.
	"aws.persistence.lambda-layer-extension.json": {func(rec map[string]any) bool {
		delete(params(rec), "layers")
		params(rec)["timeout"] = 30
		return true
	}},
	"aws.persistence.lambda-overwrite-code.json":             {rename("UpdateFunctionCode20150331v2", "GetFunction20150331v2")},
	"aws.persistence.rolesanywhere-create-trust-anchor.json": {rename("CreateTrustAnchor", "ListTrustAnchors")},
	"aws.persistence.sts-federation-token.json":              {rename("GetFederationToken", "GetSessionToken")},
	"aws.privilege-escalation.iam-update-user-login-profile.json": {func(rec map[string]any) bool {
		params(rec)["userName"] = caller(rec)
		return true
	}},
}

// TestMamoriRulesBenignCounterparts: the benign counterpart of every
// Stratus detonation raises nothing, with rule_matching all.
func TestMamoriRulesBenignCounterparts(t *testing.T) {
	dir := corpora(t, "cloudtrail", "stratus-red-team")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	rs := loadMamori(t)
	for _, f := range files {
		base := filepath.Base(f)
		edits, ok := benign[base]
		if !ok {
			t.Errorf("%s has no benign counterpart", base)
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var recs []map[string]any
		if err := json.Unmarshal(data, &recs); err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		var kept []map[string]any
	records:
		for _, rec := range recs {
			for _, e := range edits {
				if !e(rec) {
					continue records
				}
			}
			kept = append(kept, rec)
		}
		if len(kept) == 0 {
			t.Errorf("%s: the benign counterpart has no record", base)
			continue
		}
		text, _ := json.Marshal(kept)
		d := NewDetector(rs, DetectorConfig{All: true})
		var rd Reader
		rd.Parse(base+" (benign)", text, func(r *Record) {
			d.Detect(r, func(a *event.Alert) { t.Errorf("%s benign counterpart raised %s", base, a.Output) })
		}, func(e *Error) { t.Errorf("%s: %v", base, e) })
		// The edits did change what raises: the detonation itself does.
		if len(detectFile(t, f, true)) == 0 {
			t.Errorf("%s raises nothing", base)
		}
	}
}

// TestBedrockFirstSeen: an identity that invoked a model before raises
// nothing when it does again, also after a restart, until it has not been
// seen for 30 days.
func TestBedrockFirstSeen(t *testing.T) {
	const rule = "Bedrock Model Invoked by a New Identity"
	invoke := func(at string) *Record {
		text := `{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/app/i-1","accountId":"111122223333"},
			"eventTime":"` + at + `","eventSource":"bedrock.amazonaws.com","eventName":"InvokeModel","awsRegion":"us-east-1",
			"sourceIPAddress":"203.0.113.9","userAgent":"Boto3/1.34","requestParameters":{"modelId":"anthropic.claude-3-haiku"},
			"responseElements":null,"recipientAccountId":"111122223333"}`
		var rec *Record
		var rd Reader
		rd.Parse("invoke", []byte(text), func(r *Record) { rec = r }, func(e *Error) { t.Fatal(e) })
		return rec
	}
	rs := loadMamori(t)
	d := NewDetector(rs, DetectorConfig{All: true})
	var raised []string
	for _, at := range []string{"2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z", "2026-01-20T00:00:00Z", "2026-03-01T00:00:00Z"} {
		state, err := d.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		d = NewDetector(rs, DetectorConfig{All: true})
		if err := d.UnmarshalState(state); err != nil {
			t.Fatal(err)
		}
		d.Detect(invoke(at), func(a *event.Alert) {
			if a.Rule == rule {
				raised = append(raised, at)
			}
		})
	}
	if want := []string{"2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"}; len(raised) != 2 || raised[0] != want[0] || raised[1] != want[1] {
		t.Errorf("raised at %v, want %v", raised, want)
	}
}
