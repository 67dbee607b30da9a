package cloudtrail

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
)

// The records in this file are CONSTRUCTED here, after the event shapes
// AWS documents for each API in CloudTrail (requestParameters as the API's
// request members, IAM policy documents URL-encoded, EC2 lists as
// {"items": [...]}), for the built-in rules no corpus record exercises:
// AddUserToGroup, inline policies, CloudWatch Logs, ECR tags, ECS Exec,
// public bucket ACLs and policies, advanced event selectors.

// step is one constructed call and the built-in rules it must raise.
type step struct {
	name, src string
	params    string // requestParameters, JSON
	response  string // responseElements, JSON; "" for null
	errorCode string
	region    string
	want      []string
}

func (s step) record(t *testing.T) *Record {
	t.Helper()
	region := s.region
	if region == "" {
		region = "us-east-1"
	}
	resp := s.response
	if resp == "" {
		resp = "null"
	}
	params := s.params
	if params == "" {
		params = "null"
	}
	errPart := ""
	if s.errorCode != "" {
		errPart = fmt.Sprintf(`"errorCode":%q,"errorMessage":"refused",`, s.errorCode)
	}
	text := `{"eventVersion":"1.08",
		"userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEMALLORY","arn":"arn:aws:iam::111122223333:user/mallory",
			"accountId":"111122223333","accessKeyId":"AKIAEXAMPLEKEY","userName":"mallory"},
		"eventTime":"2026-01-02T03:04:05Z","eventSource":"` + s.src + `","eventName":"` + s.name + `",
		"awsRegion":"` + region + `","sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.15.0",` + errPart + `
		"requestParameters":` + params + `,"responseElements":` + resp + `,
		"requestID":"5d1c8c1e-0000-4000-8000-000000000001","eventID":"0f6c2d4e-0000-4000-8000-000000000002",
		"readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333"}`
	var rec *Record
	var rd Reader
	rd.Parse(s.name, []byte(text), func(r *Record) { rec = r }, func(e *Error) { t.Fatalf("%s: %v", s.name, e) })
	return rec
}

// runSteps feeds the steps, in order, to one Detector, and again to a
// Detector restarted before every step from the state the one before it
// saved: both must raise the same alerts (a restart neither forgets what
// earlier records established nor raises an alert twice).
func runSteps(t *testing.T, steps []step) {
	t.Helper()
	rs := loadMamori(t)
	d := NewDetector(rs, DetectorConfig{All: true})
	var saved []byte
	for i, s := range steps {
		var got []string
		d.Detect(s.record(t), func(a *event.Alert) {
			got = append(got, a.Rule)
			t.Logf("step %d %s: %s", i, s.name, a.Output)
		})
		if strings.Join(got, "|") != strings.Join(s.want, "|") {
			t.Errorf("step %d %s %s: raised %q, want %q", i, s.name, s.params, got, s.want)
		}
		restarted := NewDetector(rs, DetectorConfig{All: true})
		if saved != nil {
			if err := restarted.UnmarshalState(saved); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		var again []string
		restarted.Detect(s.record(t), func(a *event.Alert) { again = append(again, a.Rule) })
		if strings.Join(again, "|") != strings.Join(got, "|") {
			t.Errorf("step %d %s after a restart: raised %q, without one %q", i, s.name, again, got)
		}
		var err error
		if saved, err = restarted.MarshalState(); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	ruleKey       = "Access Key Created for Another IAM User"
	ruleGroup     = "IAM User Added to Admin Group"
	ruleInline    = "Inline Admin Policy Put on IAM Principal"
	ruleManaged   = "Admin Managed Policy Attached to IAM Principal"
	ruleTrail     = "CloudTrail Trail Stopped, Deleted or Narrowed"
	ruleLogs      = "CloudWatch Log Stream or Group Deleted"
	ruleIngress   = "Security Group Opened to the Internet"
	ruleRetag     = "ECR Image Tag Overwritten"
	ruleECSExec   = "ECS Exec into Container"
	rulePublicW   = "S3 Bucket Made Publicly Writable"
	rulePAB       = "S3 Public Access Block Removed"
	ruleNoMFA     = "Console Sign-in Without MFA"
	ruleRefused   = "Refused Attempt at a Critical AWS Action"
	ruleS3Account = "S3 Bucket Policy Grants Another Account"
	ruleLifecycle = "S3 Objects Set to Expire Within Days"
	iamSrc        = "iam.amazonaws.com"
	adminArn      = "arn:aws:iam::aws:policy/AdministratorAccess"
	readOnlyArn   = "arn:aws:iam::aws:policy/ReadOnlyAccess"
	encodedIAMAll = `%7B%0A%20%20%22Version%22%3A%20%222012-10-17%22%2C%0A%20%20%22Statement%22%3A%20%5B%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Action%22%3A%20%5B%22s3%3AGetObject%22%2C%20%22iam%3A%2A%22%5D%2C%20%22Resource%22%3A%20%22%2A%22%7D%5D%0A%7D`
)

// TestConstructedIAM: inline policies parsed from their URL-encoded
// documents, admin groups known by name or by what the scan saw them given.
func TestConstructedIAM(t *testing.T) {
	runSteps(t, []step{
		{name: "PutUserPolicy", src: iamSrc, params: `{"userName":"bob","policyName":"p1","policyDocument":"` + encodedIAMAll + `"}`, want: []string{ruleInline}},
		// "+" for spaces, as form encoding writes them.
		{name: "PutRolePolicy", src: iamSrc, params: `{"roleName":"ci","policyName":"p2","policyDocument":"%7B%22Statement%22%3A+%7B%22Effect%22%3A+%22Allow%22%2C+%22Action%22%3A+%22%2A%22%2C+%22Resource%22%3A+%22%2A%22%7D%7D"}`, want: []string{ruleInline}},
		{name: "PutUserPolicy", src: iamSrc, params: `{"userName":"bob","policyName":"deny","policyDocument":"%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Deny%22%2C%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D"}`},
		{name: "PutUserPolicy", src: iamSrc, params: `{"userName":"bob","policyName":"read","policyDocument":"%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%5B%22iam%3AGet%2A%22%2C%22iam%3AList%2A%22%5D%2C%22Resource%22%3A%22%2A%22%7D%5D%7D"}`},
		// NotAction sparing IAM grants it.
		{name: "PutGroupPolicy", src: iamSrc, params: `{"groupName":"ops","policyName":"most","policyDocument":"%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22NotAction%22%3A%5B%22s3%3A%2A%22%5D%2C%22Resource%22%3A%22%2A%22%7D%5D%7D"}`, want: []string{ruleInline}},
		{name: "PutUserPolicy", src: iamSrc, params: `{"userName":"bob","policyName":"p3","policyDocument":"` + encodedIAMAll + `"}`, errorCode: "AccessDenied", want: []string{ruleRefused}},
		{name: "AddUserToGroup", src: iamSrc, params: `{"groupName":"ops","userName":"mallory2"}`, want: []string{ruleGroup}},
		{name: "AddUserToGroup", src: iamSrc, params: `{"groupName":"Administrators","userName":"mallory2"}`, want: []string{ruleGroup}},
		{name: "AddUserToGroup", src: iamSrc, params: `{"groupName":"developers","userName":"mallory2"}`},
		{name: "AttachGroupPolicy", src: iamSrc, params: `{"groupName":"developers","policyArn":"` + adminArn + `"}`, want: []string{ruleManaged}},
		{name: "AddUserToGroup", src: iamSrc, params: `{"groupName":"Developers","userName":"mallory2"}`, want: []string{ruleGroup}},
		{name: "DetachGroupPolicy", src: iamSrc, params: `{"groupName":"developers","policyArn":"` + adminArn + `"}`},
		{name: "AddUserToGroup", src: iamSrc, params: `{"groupName":"developers","userName":"mallory3"}`},
		{name: "AttachUserPolicy", src: iamSrc, params: `{"userName":"bob","policyArn":"` + readOnlyArn + `"}`},
		{name: "AddUserToGroup", src: iamSrc, params: `{"groupName":"Admins","userName":"mallory2"}`, errorCode: "AccessDenied", want: []string{ruleRefused}},
		{name: "CreateAccessKey", src: iamSrc, params: `{"userName":"mallory"}`},
		{name: "CreateAccessKey", src: iamSrc},
		{name: "CreateAccessKey", src: iamSrc, params: `{"userName":"alice"}`, response: `{"accessKey":{"accessKeyId":"AKIANEW","status":"Active","userName":"alice"}}`, want: []string{ruleKey}},
	})
}

// TestConstructedLogging: trails and CloudWatch Logs.
func TestConstructedLogging(t *testing.T) {
	const ct, logs = "cloudtrail.amazonaws.com", "logs.amazonaws.com"
	runSteps(t, []step{
		{name: "PutEventSelectors", src: ct, params: `{"trailName":"main","advancedEventSelectors":[{"name":"mgmt","fieldSelectors":[{"field":"eventCategory","equals":["Management"]}]}]}`},
		{name: "PutEventSelectors", src: ct, params: `{"trailName":"main","advancedEventSelectors":[{"name":"reads","fieldSelectors":[{"field":"eventCategory","equals":["Management"]},{"field":"readOnly","equals":["true"]}]}]}`, want: []string{ruleTrail}},
		{name: "PutEventSelectors", src: ct, params: `{"trailName":"main","eventSelectors":[{"readWriteType":"All","includeManagementEvents":true,"excludeManagementEventSources":["kms.amazonaws.com"]}]}`, want: []string{ruleTrail}},
		{name: "PutEventSelectors", src: ct, params: `{"trailName":"main","eventSelectors":[{"readWriteType":"All","includeManagementEvents":true,"dataResources":[]}]}`},
		{name: "DeleteTrail", src: ct, params: `{"name":"main"}`, errorCode: "TrailNotFoundException", want: []string{ruleRefused}},
		{name: "DeleteLogStream", src: logs, params: `{"logGroupName":"aws-cloudtrail-logs","logStreamName":"111122223333_CloudTrail_us-east-1"}`, want: []string{ruleLogs}},
		{name: "DeleteLogGroup", src: logs, params: `{"logGroupName":"aws-cloudtrail-logs"}`, want: []string{ruleLogs}},
		{name: "PutRetentionPolicy", src: logs, params: `{"logGroupName":"aws-cloudtrail-logs","retentionInDays":1}`, want: []string{ruleLogs}},
		{name: "PutRetentionPolicy", src: logs, params: `{"logGroupName":"aws-cloudtrail-logs","retentionInDays":365}`},
		{name: "DeleteLogStream", src: logs, params: `{"logGroupName":"g","logStreamName":"s"}`, errorCode: "ResourceNotFoundException", want: []string{ruleRefused}},
	})
}

// TestConstructedNetworkAndContainers: nested security group rules, ECR
// tags remembered across records, ECS Exec.
func TestConstructedNetworkAndContainers(t *testing.T) {
	const ec2, ecr, ecs = "ec2.amazonaws.com", "ecr.amazonaws.com", "ecs.amazonaws.com"
	push := func(tag, digest, region, errorCode string, want ...string) step {
		return step{name: "PutImage", src: ecr, region: region, errorCode: errorCode, want: want,
			params:   `{"repositoryName":"web/nginx","imageTag":"` + tag + `","registryId":"111122223333","imageManifest":"{}","imageManifestMediaType":"application/vnd.oci.image.manifest.v1+json"}`,
			response: `{"image":{"registryId":"111122223333","repositoryName":"web/nginx","imageId":{"imageDigest":"` + digest + `","imageTag":"` + tag + `"}}}`}
	}
	runSteps(t, []step{
		{name: "AuthorizeSecurityGroupIngress", src: ec2, params: `{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":443,"toPort":443,"groups":{},"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8"}]},"ipv6Ranges":{"items":[{"cidrIpv6":"::/0"}]},"prefixListIds":{}}]}}`, want: []string{ruleIngress}},
		{name: "AuthorizeSecurityGroupIngress", src: ec2, params: `{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"-1","groups":{},"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]},"ipv6Ranges":{},"prefixListIds":{}}]}}`, want: []string{ruleIngress}},
		{name: "AuthorizeSecurityGroupIngress", src: ec2, params: `{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"toPort":22,"groups":{},"ipRanges":{"items":[{"cidrIp":"0.0.0.0/16"}]},"ipv6Ranges":{},"prefixListIds":{}}]}}`},
		{name: "AuthorizeSecurityGroupEgress", src: ec2, params: `{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"-1","ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]}}`},
		push("1.25", "sha256:aaaa", "", ""),
		push("1.25", "sha256:aaaa", "", ""),
		push("1.25", "sha256:bbbb", "", "", ruleRetag),
		push("1.25", "sha256:cccc", "", "ImageTagAlreadyExistsException"),
		push("1.25", "sha256:bbbb", "", ""),
		push("1.25", "sha256:dddd", "eu-west-1", ""),
		push("latest", "sha256:eeee", "", ""),
		{name: "ExecuteCommand", src: ecs, params: `{"cluster":"prod","container":"nginx","command":"/bin/sh","interactive":true,"task":"arn:aws:ecs:us-east-1:111122223333:task/prod/0123456789abcdef"}`,
			response: `{"clusterArn":"arn:aws:ecs:us-east-1:111122223333:cluster/prod","containerName":"nginx","interactive":true,"session":{"sessionId":"ecs-execute-command-0123"}}`, want: []string{ruleECSExec}},
		{name: "ExecuteCommand", src: ecs, params: `{"cluster":"prod","command":"/bin/sh","interactive":true,"task":"0123"}`, errorCode: "AccessDeniedException", want: []string{ruleRefused}},
	})
}

// TestConstructedS3: public write by ACL and by policy; the public access
// block turned off.
func TestConstructedS3(t *testing.T) {
	const s3 = "s3.amazonaws.com"
	acl := func(grantee, perm string) string {
		return `{"bucketName":"static-js","Host":"static-js.s3.amazonaws.com","acl":[""],"AccessControlPolicy":{"AccessControlList":{"Grant":[
			{"Grantee":{"xsi:type":"CanonicalUser","ID":"abc"},"Permission":"FULL_CONTROL"},
			{"Grantee":{"xsi:type":"Group","URI":"http://acs.amazonaws.com/groups/global/` + grantee + `"},"Permission":"` + perm + `"}]},"Owner":{"ID":"abc"}}}`
	}
	policy := func(principal, action, cond string) string {
		c := ""
		if cond != "" {
			c = `,"Condition":` + cond
		}
		return `{"bucketName":"static-js","Host":"static-js.s3.amazonaws.com","policy":[""],"bucketPolicy":{"Version":"2012-10-17","Statement":[{"Sid":"x","Effect":"Allow","Principal":` + principal + `,"Action":` + action + `,"Resource":"arn:aws:s3:::static-js/*"` + c + `}]}}`
	}
	lifecycle := func(status, expiry string) string {
		return `{"bucketName":"trail-logs","lifecycle":"","LifecycleConfiguration":{"Rule":[{"ID":"r","Status":"` + status + `","Filter":{"Prefix":""},` + expiry + `}]}}`
	}
	pab := func(v string) string {
		return `{"bucketName":"static-js","publicAccessBlock":"","PublicAccessBlockConfiguration":{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/","BlockPublicAcls":true,"IgnorePublicAcls":true,"BlockPublicPolicy":` + v + `,"RestrictPublicBuckets":true}}`
	}
	runSteps(t, []step{
		{name: "PutBucketAcl", src: s3, params: acl("AllUsers", "WRITE"), want: []string{rulePublicW}},
		{name: "PutBucketAcl", src: s3, params: acl("AuthenticatedUsers", "FULL_CONTROL"), want: []string{rulePublicW}},
		{name: "PutBucketAcl", src: s3, params: acl("AllUsers", "READ")},
		{name: "PutBucketAcl", src: s3, params: `{"bucketName":"static-js","acl":[""],"x-amz-acl":["public-read-write"]}`, want: []string{rulePublicW}},
		{name: "PutBucketAcl", src: s3, params: `{"bucketName":"static-js","acl":[""],"x-amz-acl":["public-read"]}`},
		{name: "PutBucketAcl", src: s3, params: acl("AllUsers", "WRITE"), errorCode: "AccessDenied", want: []string{ruleRefused}},
		{name: "PutBucketPolicy", src: s3, params: policy(`"*"`, `"s3:PutObject"`, ""), want: []string{rulePublicW}},
		{name: "PutBucketPolicy", src: s3, params: policy(`{"AWS":["*"]}`, `["s3:Get*","s3:Put*"]`, ""), want: []string{rulePublicW}},
		{name: "PutBucketPolicy", src: s3, params: policy(`{"AWS":"*"}`, `"s3:*"`, `{"Bool":{"aws:SecureTransport":"true"}}`), want: []string{rulePublicW}},
		{name: "PutBucketPolicy", src: s3, params: policy(`{"AWS":"*"}`, `"s3:*"`, `{"IpAddress":{"aws:SourceIp":"198.51.100.0/24"}}`)},
		{name: "PutBucketPolicy", src: s3, params: policy(`"*"`, `"s3:GetObject"`, "")},
		{name: "PutBucketPolicy", src: s3, params: policy(`{"AWS":"arn:aws:iam::444455556666:root"}`, `"s3:PutObject"`, ""), want: []string{ruleS3Account}},
		{name: "PutBucketPolicy", src: s3, params: policy(`{"AWS":"arn:aws:iam::111122223333:role/app"}`, `"s3:PutObject"`, "")},
		{name: "PutBucketPublicAccessBlock", src: s3, params: pab("true")},
		{name: "PutBucketPublicAccessBlock", src: s3, params: pab("false"), want: []string{rulePAB}},
		{name: "DeleteBucketPublicAccessBlock", src: s3, params: `{"bucketName":"static-js","publicAccessBlock":""}`, want: []string{rulePAB}},
		{name: "DeleteAccountPublicAccessBlock", src: s3, params: `{}`, want: []string{rulePAB}},
		{name: "DeleteBucketPublicAccessBlock", src: s3, params: `{"bucketName":"static-js","publicAccessBlock":""}`, errorCode: "AccessDenied", want: []string{ruleRefused}},
		// Lifecycle rules: a day's expiration, a month's, a disabled one,
		// old versions kept a week.
		{name: "PutBucketLifecycle", src: s3, params: lifecycle("Enabled", `"Expiration":{"Days":1}`), want: []string{ruleLifecycle}},
		{name: "PutBucketLifecycle", src: s3, params: lifecycle("Enabled", `"Expiration":{"Days":30}`)},
		{name: "PutBucketLifecycle", src: s3, params: lifecycle("Disabled", `"Expiration":{"Days":1}`)},
		{name: "PutBucketLifecycle", src: s3, params: lifecycle("Enabled", `"NoncurrentVersionExpiration":{"NoncurrentDays":7}`), want: []string{ruleLifecycle}},
		{name: "PutBucketLifecycle", src: s3, params: lifecycle("Enabled", `"Expiration":{"Days":1}`), errorCode: "AccessDenied", want: []string{ruleRefused}},
	})
}

// TestStatefulFieldsNeedADetector: the mamori.* fields that depend on the
// scan have no value when a record is matched without a Detector, and the
// others still work.
func TestStatefulFieldsNeedADetector(t *testing.T) {
	rs := loadMamori(t)
	s := step{name: "PutImage", src: "ecr.amazonaws.com", params: `{"repositoryName":"r","imageTag":"t"}`,
		response: `{"image":{"imageId":{"imageDigest":"sha256:ffff","imageTag":"t"}}}`}
	r := s.record(t)
	for i := 0; i < 2; i++ {
		if m := rs.Match(Source, "", r); m != nil {
			t.Errorf("bare record raised %q", m.Name)
		}
	}
	fields := map[string]bool{}
	for _, f := range NewCatalog().Fields() {
		fields[f.Name] = true
		if !strings.HasPrefix(f.Name, "mamori.") {
			continue
		}
		if !strings.Contains(f.Desc, " ") || f.Desc == "" {
			t.Errorf("%s has no description", f.Name)
		}
	}
	for _, n := range []string{"mamori.ecr.tag.overwritten", "mamori.iam.policy.admin", "mamori.ec2.ingress.public", "mamori.s3.public.write"} {
		if !fields[n] {
			t.Errorf("catalogue lacks %s", n)
		}
	}
	v, _ := json.Marshal(r.Fields()["responseElements"])
	if !strings.Contains(string(v), "sha256:ffff") {
		t.Fatalf("constructed record lost its response: %s", v)
	}
}
