package sigma

import (
	"encoding/base64"
	"strings"
	"testing"
)

// constructCase is one Sigma construct: a detection, the Falco condition
// it must become, and CloudTrail records (one JSON object each) that must
// and must not match.
type constructCase struct {
	name      string
	detection string
	want      string
	match     []string
	miss      []string
}

var constructCases = []constructCase{
	{
		name: "a mapping is an and of its fields; plain values ignore case",
		detection: `
sel:
  eventName: StopLogging
  eventSource: cloudtrail.amazonaws.com
condition: sel`,
		want:  `ct.name iglob "StopLogging" and ct.src iglob "cloudtrail.amazonaws.com"`,
		match: []string{`{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"}`, `{"eventName":"stoplogging","eventSource":"CloudTrail.amazonaws.com"}`},
		miss:  []string{`{"eventName":"StopLogging","eventSource":"s3.amazonaws.com"}`, `{"eventName":"StopLoggingNow","eventSource":"cloudtrail.amazonaws.com"}`, `{"eventSource":"cloudtrail.amazonaws.com"}`},
	},
	{
		name: "a list of mappings is an or",
		detection: `
sel:
  - eventName: DeleteTrail
  - eventSource: guardduty.amazonaws.com
condition: sel`,
		want:  `ct.name iglob "DeleteTrail" or ct.src iglob "guardduty.amazonaws.com"`,
		match: []string{`{"eventName":"DeleteTrail"}`, `{"eventSource":"guardduty.amazonaws.com"}`},
		miss:  []string{`{"eventName":"CreateTrail","eventSource":"cloudtrail.amazonaws.com"}`},
	},
	{
		name: "a value list is an or",
		detection: `
sel:
  eventName: [DeleteTrail, StopLogging]
condition: sel`,
		want:  `ct.name iglob anyof ("DeleteTrail", "StopLogging")`,
		match: []string{`{"eventName":"DeleteTrail"}`, `{"eventName":"STOPLOGGING"}`},
		miss:  []string{`{"eventName":"UpdateTrail"}`},
	},
	{
		name: "* and ? are wildcards",
		detection: `
sel:
  eventName: 'Delete*Policy?'
condition: sel`,
		want:  `ct.name iglob "Delete*Policy?"`,
		match: []string{`{"eventName":"DeleteRolePolicyX"}`, `{"eventName":"deletepolicy2"}`},
		miss:  []string{`{"eventName":"DeleteRolePolicy"}`, `{"eventName":"DeleteRolePolicyXY"}`},
	},
	{
		name: "an escaped wildcard is literal",
		detection: `
sel:
  userAgent: 'aws\*cli\?'
condition: sel`,
		want:  `ct.useragent iglob "aws\\*cli\\?"`,
		match: []string{`{"userAgent":"AWS*CLI?"}`},
		miss:  []string{`{"userAgent":"aws-cli?"}`, `{"userAgent":"aws*cli!"}`},
	},
	{
		name: "a backslash before another character is itself; \\\\ is one backslash",
		detection: `
sel:
  requestParameters.path: 'C:\Windows\\*'
condition: sel`,
		want:  `json.value[/requestParameters/path] iglob "C:\\\\Windows\\\\*"`,
		match: []string{`{"requestParameters":{"path":"c:\\windows\\system32"}}`},
		miss:  []string{`{"requestParameters":{"path":"C:/Windows/system32"}}`},
	},
	{
		name: "contains, startswith and endswith ignore case",
		detection: `
ua:
  userAgent|contains: Boto3
name:
  eventName|startswith: Put
src:
  eventSource|endswith: .amazonaws.com
condition: ua and name and src`,
		want:  `ct.useragent icontains "Boto3" and ct.name iglob "Put*" and ct.src iglob "*.amazonaws.com"`,
		match: []string{`{"userAgent":"aws-cli boto3/1.2","eventName":"putBucketPolicy","eventSource":"s3.amazonaws.com"}`},
		miss: []string{`{"userAgent":"aws-cli","eventName":"PutBucketPolicy","eventSource":"s3.amazonaws.com"}`,
			`{"userAgent":"Boto3","eventName":"GetPut","eventSource":"s3.amazonaws.com"}`,
			`{"userAgent":"Boto3","eventName":"Put","eventSource":"s3.amazonaws.com.evil"}`},
	},
	{
		name: "contains with a wildcard inside",
		detection: `
sel:
  userAgent|contains: 'cli/*python'
condition: sel`,
		want:  `ct.useragent iglob "*cli/*python*"`,
		match: []string{`{"userAgent":"aws-cli/2.1 Python/3.11"}`},
		miss:  []string{`{"userAgent":"aws-sdk python"}`},
	},
	{
		name: "cased compares case-sensitively",
		detection: `
name:
  eventName|cased: StopLogging
ua:
  userAgent|contains|cased: Boto3
condition: name and ua`,
		want:  `ct.name = "StopLogging" and ct.useragent contains "Boto3"`,
		match: []string{`{"eventName":"StopLogging","userAgent":"Boto3/1"}`},
		miss:  []string{`{"eventName":"stoplogging","userAgent":"Boto3/1"}`, `{"eventName":"StopLogging","userAgent":"boto3/1"}`},
	},
	{
		name: "all makes a value list an and",
		detection: `
sel:
  requestParameters|contains|all:
    - '"s3:GetObject"'
    - '"Allow"'
condition: sel`,
		want:  `ct.request icontains "\"s3:GetObject\"" and ct.request icontains "\"Allow\""`,
		match: []string{`{"requestParameters":{"policyDocument":{"Effect":"Allow","Action":"s3:GetObject"}}}`},
		miss:  []string{`{"requestParameters":{"policyDocument":{"Effect":"Deny","Action":"s3:GetObject"}}}`},
	},
	{
		name: "re is searched for anywhere, case-sensitively",
		detection: `
sel:
  userIdentity.arn|re: ':assumed-role/aws:.+'
condition: sel`,
		want:  `ct.user.arn regex "(?s:.*)(?::assumed-role/aws:.+)(?s:.*)"`,
		match: []string{`{"userIdentity":{"arn":"arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1"}}`},
		miss:  []string{`{"userIdentity":{"arn":"arn:aws:sts::1:ASSUMED-ROLE/aws:ec2-instance/i-1"}}`, `{"userIdentity":{"arn":"arn:aws:iam::1:user/alice"}}`},
	},
	{
		name: "re with i ignores case; ^ and $ keep their meaning",
		detection: `
sel:
  userAgent|re|i: '^aws-cli/2'
condition: sel`,
		want:  `ct.useragent regex "(?s:.*)(?:(?i)^aws-cli/2)(?s:.*)"`,
		match: []string{`{"userAgent":"AWS-CLI/2.15 Python"}`},
		miss:  []string{`{"userAgent":"x aws-cli/2.15"}`},
	},
	{
		name: "cidr matches the addresses of an IPv4 network",
		detection: `
sel:
  sourceIPAddress|cidr:
    - 10.0.0.0/14
    - 192.168.1.0/24
condition: sel`,
		want:  `ct.srcip glob anyof ("10.0.*.*", "10.1.*.*", "10.2.*.*", "10.3.*.*", "192.168.1.*")`,
		match: []string{`{"sourceIPAddress":"10.3.200.1"}`, `{"sourceIPAddress":"192.168.1.254"}`},
		miss:  []string{`{"sourceIPAddress":"10.4.0.1"}`, `{"sourceIPAddress":"110.0.0.1"}`, `{"sourceIPAddress":"192.168.10.1"}`, `{"sourceIPAddress":"AWS Internal"}`},
	},
	{
		name: "exists",
		detection: `
failed:
  errorCode|exists: true
noresponse:
  responseElements|exists: false
condition: failed and noresponse`,
		want:  `ct.error exists and not ct.response exists`,
		match: []string{`{"errorCode":"AccessDenied"}`, `{"errorCode":"AccessDenied","responseElements":null}`},
		miss:  []string{`{"eventName":"x"}`, `{"errorCode":"AccessDenied","responseElements":{"a":1}}`},
	},
	{
		name: "null is an absent field; a JSON pointer also finds a JSON null",
		detection: `
ok:
  errorCode: null
nokey:
  requestParameters.key: null
other:
  requestParameters.x: null
condition: ok and nokey and other`,
		want:  `not ct.error exists and not s3.key exists and (not json.value[/requestParameters/x] exists or json.value[/requestParameters/x] = "null")`,
		match: []string{`{"eventName":"a"}`, `{"requestParameters":{"x":null,"key":null}}`},
		miss:  []string{`{"errorCode":"AccessDenied"}`, `{"requestParameters":{"x":"y"}}`, `{"requestParameters":{"key":"k"}}`},
	},
	{
		name: "a lone * means present",
		detection: `
sel:
  responseElements.pendingModifiedValues.masterUserPassword|contains: '*'
condition: sel`,
		want:  `json.value[/responseElements/pendingModifiedValues/masterUserPassword] exists`,
		match: []string{`{"responseElements":{"pendingModifiedValues":{"masterUserPassword":"****"}}}`},
		miss:  []string{`{"responseElements":{"pendingModifiedValues":{}}}`},
	},
	{
		name: "windash tries every dash Windows accepts for an option",
		detection: `
sel:
  requestParameters.commandLine|windash|contains: ' -enc '
condition: sel`,
		want:  `json.value[/requestParameters/commandLine] icontains anyof (" -enc ", " /enc ", " –enc ", " —enc ", " ―enc ")`,
		match: []string{`{"requestParameters":{"commandLine":"powershell /enc AAAA"}}`, `{"requestParameters":{"commandLine":"powershell –ENC AAAA"}}`},
		miss:  []string{`{"requestParameters":{"commandLine":"powershell enc AAAA"}}`},
	},
	{
		name: "base64 matches the encoded value, with case",
		detection: `
sel:
  requestParameters.userData|base64: 'curl'
condition: sel`,
		want:  `json.value[/requestParameters/userData] = "Y3VybA=="`,
		match: []string{`{"requestParameters":{"userData":"Y3VybA=="}}`},
		miss:  []string{`{"requestParameters":{"userData":"y3VYBa=="}}`},
	},
	{
		name: "base64offset finds the value at any offset in encoded text",
		detection: `
sel:
  requestParameters.userData|base64offset|contains: 'curl http'
condition: sel`,
		want: `json.value[/requestParameters/userData] contains anyof ("Y3VybCBodHRw", "N1cmwgaHR0c", "jdXJsIGh0dH")`,
		match: []string{
			`{"requestParameters":{"userData":"` + base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\ncurl http://x")) + `"}}`,
			`{"requestParameters":{"userData":"` + base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\n curl http://x")) + `"}}`,
			`{"requestParameters":{"userData":"` + base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\n  curl http://x")) + `"}}`,
		},
		miss: []string{`{"requestParameters":{"userData":"` + base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\nwget http://x")) + `"}}`},
	},
	{
		name: "wide encodes as UTF-16LE before base64",
		detection: `
sel:
  requestParameters.script|wide|base64: 'ab'
condition: sel`,
		want:  `json.value[/requestParameters/script] = "YQBiAA=="`,
		match: []string{`{"requestParameters":{"script":"YQBiAA=="}}`},
	},
	{
		name: "fieldref compares with another field",
		detection: `
sel:
  eventName: CreateAccessKey
same:
  userIdentity.arn|fieldref|endswith: requestParameters.userName
condition: sel and not same`,
		want:  `ct.name iglob "CreateAccessKey" and not ct.user.arn endswith val(ct.request.username)`,
		match: []string{`{"eventName":"CreateAccessKey","userIdentity":{"arn":"arn:aws:iam::1:user/alice"},"requestParameters":{"userName":"bob"}}`},
		miss:  []string{`{"eventName":"CreateAccessKey","userIdentity":{"arn":"arn:aws:iam::1:user/alice"},"requestParameters":{"userName":"alice"}}`},
	},
	{
		name: "numbers and booleans compare with the value's JSON text",
		detection: `
sel:
  requestParameters.maxResults: 5
  readOnly: false
condition: sel`,
		want:  `json.value[/requestParameters/maxResults] = "5" and ct.readonly iglob "false"`,
		match: []string{`{"requestParameters":{"maxResults":5},"readOnly":false}`},
		miss:  []string{`{"requestParameters":{"maxResults":50},"readOnly":false}`, `{"requestParameters":{"maxResults":5},"readOnly":true}`},
	},
	{
		name: "neq negates",
		detection: `
sel:
  eventSource: iam.amazonaws.com
  userIdentity.type|neq: AWSService
condition: sel`,
		want:  `ct.src iglob "iam.amazonaws.com" and not ct.user.identitytype iglob "AWSService"`,
		match: []string{`{"eventSource":"iam.amazonaws.com","userIdentity":{"type":"IAMUser"}}`},
		miss:  []string{`{"eventSource":"iam.amazonaws.com","userIdentity":{"type":"AWSService"}}`},
	},
	{
		name: "not binds tighter than and, and tighter than or; parentheses group",
		detection: `
a:
  eventName: A1
b:
  eventSource: b.amazonaws.com
c:
  awsRegion: us-east-1
condition: (a or b) and not c or not (a and b)`,
		want:  `((ct.name iglob "A1" or ct.src iglob "b.amazonaws.com") and not ct.region iglob "us-east-1") or not (ct.name iglob "A1" and ct.src iglob "b.amazonaws.com")`,
		match: []string{`{"eventName":"A1","awsRegion":"eu-west-1"}`, `{"eventName":"X"}`},
		miss:  []string{`{"eventName":"A1","eventSource":"b.amazonaws.com","awsRegion":"us-east-1"}`},
	},
	{
		name: "1 of and all of a pattern",
		detection: `
selection_a:
  eventName: A1
selection_b:
  eventName: B1
filter_x:
  awsRegion: x
filter_y:
  awsRegion: y
condition: 1 of selection_* and not all of filter_?`,
		want:  `(ct.name iglob "A1" or ct.name iglob "B1") and not (ct.region iglob "x" and ct.region iglob "y")`,
		match: []string{`{"eventName":"B1","awsRegion":"x"}`},
		miss:  []string{`{"eventName":"C1"}`},
	},
	{
		name: "1 of them and all of them leave out names starting with _",
		detection: `
a:
  eventName|startswith: Get
b:
  eventSource: s3.amazonaws.com
_private:
  awsRegion: never
condition: all of them or any of them`,
		want:  `(ct.name iglob "Get*" and ct.src iglob "s3.amazonaws.com") or ct.name iglob "Get*" or ct.src iglob "s3.amazonaws.com"`,
		match: []string{`{"eventName":"GetObject"}`},
		miss:  []string{`{"eventName":"PutObject","awsRegion":"never"}`},
	},
	{
		name: "a list of conditions is an or",
		detection: `
a:
  eventName: A1
b:
  eventName: B1
condition:
  - a
  - b`,
		want:  `ct.name iglob "A1" or ct.name iglob "B1"`,
		match: []string{`{"eventName":"B1"}`},
		miss:  []string{`{"eventName":"C1"}`},
	},
	{
		name: "a key that needs quoting in a JSON pointer",
		detection: `
sel:
  requestParameters.a b: x
condition: sel`,
		want:  `json.value["/requestParameters/a b"] iglob "x"`,
		match: []string{`{"requestParameters":{"a b":"X"}}`},
	},
}

func TestConstructs(t *testing.T) {
	for _, c := range constructCases {
		t.Run(c.name, func(t *testing.T) {
			tr, rs := translateOne(t, sigmaDoc("aws", "cloudtrail", c.detection))
			if len(tr.Untranslated) > 0 || len(tr.Rules) != 1 {
				t.Fatalf("not translated: %v", tr.Untranslated)
			}
			r := rs.Rule(tr.Rules[0])
			if r.Condition != c.want {
				t.Errorf("condition\n got %s\nwant %s", r.Condition, c.want)
			}
			for i, rec := range cloudtrailRecords(t, append(append([]string{}, c.match...), c.miss...)...) {
				want := i < len(c.match)
				if got := r.Eval(rec); got != want {
					t.Errorf("record %s: matched %v, want %v", rec.JSON(), got, want)
				}
			}
		})
	}
}

// TestKubernetesConstructs checks the fields of kubernetes/audit,
// including the list fields.
func TestKubernetesConstructs(t *testing.T) {
	tr, rs := translateOne(t, sigmaDoc("kubernetes", "audit", `
exec:
  verb: create
  objectRef.resource: pods
  objectRef.subresource: [exec, attach]
admin:
  user.groups: system:masters
denied:
  responseStatus.code: [401, 403]
condition: exec and admin or denied`))
	if len(tr.Rules) != 1 {
		t.Fatalf("not translated: %v", tr.Untranslated)
	}
	r := rs.Rule(tr.Rules[0])
	want := `(ka.verb iglob "create" and ka.target.resource iglob "pods" and ka.target.subresource iglob anyof ("exec", "attach") and ka.user.groups intersects ("system:masters")) or ka.response.code in ("401", "403")`
	if r.Condition != want {
		t.Errorf("condition\n got %s\nwant %s", r.Condition, want)
	}
	const base = `"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"1","stage":"ResponseComplete"`
	evs := k8sEvents(t,
		`{`+base+`,"verb":"create","objectRef":{"resource":"pods","subresource":"exec"},"user":{"username":"u","groups":["system:authenticated","system:masters"]},"responseStatus":{"code":101}}`,
		`{`+base+`,"verb":"get","objectRef":{"resource":"secrets"},"user":{"username":"u"},"responseStatus":{"code":403}}`,
		`{`+base+`,"verb":"create","objectRef":{"resource":"pods","subresource":"exec"},"user":{"username":"u","groups":["system:authenticated"]},"responseStatus":{"code":101}}`,
		`{`+base+`,"verb":"get","objectRef":{"resource":"secrets"},"responseStatus":{"code":200}}`,
	)
	for i, e := range evs {
		if got, want := r.Eval(e), i < 2; got != want {
			t.Errorf("event %d: matched %v, want %v", i, got, want)
		}
	}
}

// TestRuleMetadata checks the Falco rule's name, priority, tags, output
// and description.
func TestRuleMetadata(t *testing.T) {
	tr, rs := translateOne(t, `title: Trail 100% stopped
id: 4db60cc0-36fb-42b7-9b58-a5b53019fb74
status: test
description: |
  Detects a trail
  being stopped.
author: someone
level: critical
tags:
  - attack.defense-impairment
  - attack.T1685.002
  - cve.2021-1234
logsource:
  product: AWS
  service: CloudTrail
detection:
  sel:
    eventName: StopLogging
  condition: sel
`)
	if len(tr.Rules) != 1 {
		t.Fatalf("not translated: %v", tr.Untranslated)
	}
	r := rs.Rule("Trail 100% stopped")
	if r == nil {
		t.Fatalf("no rule named after the title: %v", tr.Rules)
	}
	if r.Priority.String() != "Critical" || r.Source != "aws_cloudtrail" {
		t.Errorf("priority %s, source %s", r.Priority, r.Source)
	}
	if got, want := strings.Join(r.Tags, ","), "cloud,aws,aws_cloudtrail,sigma,mitre_defense_impairment,T1685.002,cve.2021-1234"; got != want {
		t.Errorf("tags %s, want %s", got, want)
	}
	if want := "Detects a trail being stopped. (Sigma rule id 4db60cc0-36fb-42b7-9b58-a5b53019fb74, status test, by someone)"; r.Desc != want {
		t.Errorf("desc %q, want %q", r.Desc, want)
	}
	rec := cloudtrailRecords(t, `{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com","userIdentity":{"type":"IAMUser","userName":"alice","arn":"arn:aws:iam::1:user/alice"},"sourceIPAddress":"1.2.3.4","awsRegion":"eu-west-1"}`)[0]
	want := "Trail 100 percent stopped (event=StopLogging source=cloudtrail.amazonaws.com user=alice arn=arn:aws:iam::1:user/alice ip=1.2.3.4 region=eu-west-1 error=<NA> sigma_id=4db60cc0-36fb-42b7-9b58-a5b53019fb74)"
	if got := r.Format(rec); got != want {
		t.Errorf("output\n got %s\nwant %s", got, want)
	}
}

// TestLevels maps each Sigma level to a Falco priority.
func TestLevels(t *testing.T) {
	for level, want := range map[string]string{"informational": "Informational", "low": "Notice", "medium": "Warning",
		"high": "Error", "critical": "Critical", "": "Warning"} {
		text := strings.Replace(sigmaDoc("aws", "cloudtrail", "sel:\n  eventName: X\ncondition: sel"), "level: high", "level: "+level, 1)
		tr, rs := translateOne(t, text)
		if len(tr.Rules) != 1 {
			t.Fatalf("level %q: %v", level, tr.Untranslated)
		}
		if got := rs.Rule(tr.Rules[0]).Priority.String(); got != want {
			t.Errorf("level %q: priority %s, want %s", level, got, want)
		}
	}
}
