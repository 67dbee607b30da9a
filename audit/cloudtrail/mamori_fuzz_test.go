package cloudtrail

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
)

// FuzzMamoriFields feeds arbitrary records to the built-in rules and reads
// every mamori.* field of them, bare and under a Detector: whatever shape
// a request's policy, ACL, selectors or rule lists take, nothing panics,
// and a field reads the same twice.
func FuzzMamoriFields(f *testing.F) {
	for _, s := range []string{
		`{"eventName":"PutUserPolicy","requestParameters":{"userName":"u","policyDocument":"%7B%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22iam%3A%2A%22%7D%7D"}}`,
		`{"eventName":"PutGroupPolicy","requestParameters":{"groupName":"g","policyName":"p","policyDocument":{"Statement":[{"Effect":"Allow","NotAction":"s3:*"}]}}}`,
		`{"eventName":"AddUserToGroup","requestParameters":{"groupName":"g","userName":"u"}}`,
		`{"eventName":"AuthorizeSecurityGroupIngress","requestParameters":{"cidrIp":"1.2.3.4/0","ipPermissions":{"items":[{"ipRanges":{"items":[{"cidrIp":"::/0"}]},"ipv6Ranges":[{"cidrIpv6":7}]}]}},"responseElements":{"securityGroupRuleSet":{"items":[{"cidrIpv4":"0.0.0.0/0"}]}}}`,
		`{"eventName":"PutImage","awsRegion":"r","requestParameters":{"repositoryName":"x","imageTag":"t","imageManifest":"{}"}}`,
		`{"eventName":"PutBucketAcl","requestParameters":{"x-amz-acl":"public-read-write","AccessControlPolicy":{"AccessControlList":{"Grant":{"Grantee":{"URI":"http://acs.amazonaws.com/groups/global/AllUsers"},"Permission":"WRITE"}}}}}`,
		`{"eventName":"PutBucketPolicy","requestParameters":{"bucketPolicy":"{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"*\"]},\"Action\":\"s3:*\",\"Condition\":[]}}"}}`,
		`{"eventName":"PutEventSelectors","requestParameters":{"advancedEventSelectors":[{"fieldSelectors":{"field":"eventCategory","equals":"Management"}}]}}`,
		`{"eventName":"PutBucketPublicAccessBlock","requestParameters":{"PublicAccessBlockConfiguration":{"BlockPublicAcls":"false"}}}`,
		`{"eventName":"CreateAccessKey","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a/b"},"requestParameters":{"userName":"b"}}`,
	} {
		f.Add([]byte(s))
	}
	cat := NewCatalog()
	var fields []rules.Field
	for _, fl := range cat.Fields() {
		if strings.HasPrefix(fl.Name, "mamori.") {
			fields = append(fields, fl)
		}
	}
	rs := loadMamori(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDetector(rs, DetectorConfig{All: true})
		var rd Reader
		rd.Parse("fuzz", data, func(r *Record) {
			for i := 0; i < 2; i++ {
				d.Detect(r, func(*event.Alert) {})
			}
			for _, evt := range []any{r, &d.ev} {
				for _, fl := range fields {
					if a, b := extract(fl, evt), extract(fl, evt); a != b {
						t.Errorf("%s read %q then %q", fl.Name, a, b)
					}
				}
			}
		}, func(*Error) {})
	})
}

// extract renders a field's value for comparison.
func extract(f rules.Field, evt any) string {
	switch {
	case f.ExtractString != nil:
		s, ok := f.ExtractString(evt, rules.Arg{})
		return fmtValue(s, ok)
	case f.ExtractBool != nil:
		b, ok := f.ExtractBool(evt, rules.Arg{})
		return fmtValue(b, ok)
	case f.ExtractNumber != nil:
		n, ok := f.ExtractNumber(evt, rules.Arg{})
		return fmtValue(n, ok)
	case f.ExtractStrings != nil:
		l, ok := f.ExtractStrings(evt, rules.Arg{})
		return fmtValue(strings.Join(l, "\x00"), ok)
	}
	return ""
}

func fmtValue(v any, ok bool) string {
	if !ok {
		return "<none>"
	}
	return fmt.Sprint(v)
}
