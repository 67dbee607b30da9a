package cloudtrail

import (
	"fmt"
	"testing"

	"github.com/mamori-dev/mamori/rules"
)

// TestFieldsOnOTRFGetObject reads the fields of the first GetObject of
// OTRF's S3 exfiltration dataset: an EC2 instance role's stolen session
// downloading ring.txt.
func TestFieldsOnOTRFGetObject(t *testing.T) {
	var rec *Record
	var rd Reader
	rd.ReadPaths([]string{corpora(t, "cloudtrail", "otrf-security-datasets")}, func(r *Record) {
		if n, _ := r.str("eventName"); n == "GetObject" && rec == nil {
			rec = r
		}
	}, func(e *Error) { t.Error(e) })
	if rec == nil {
		t.Fatal("no GetObject record")
	}
	fields := map[string]rules.Field{}
	for _, f := range NewCatalog().Fields() {
		fields[f.Name] = f
	}
	get := func(name, key string) string {
		f, ok := fields[name]
		if !ok {
			t.Fatalf("no field %s", name)
		}
		arg := rules.Arg{Key: key, Set: key != ""}
		switch {
		case f.ExtractString != nil:
			if s, ok := f.ExtractString(rec, arg); ok {
				return s
			}
		case f.ExtractNumber != nil:
			if n, ok := f.ExtractNumber(rec, arg); ok {
				return fmt.Sprint(n)
			}
		case f.ExtractStrings != nil:
			if l, ok := f.ExtractStrings(rec, arg); ok {
				return fmt.Sprint(l)
			}
		}
		return "<NA>"
	}
	for _, tt := range []struct{ field, key, want string }{
		{"ct.name", "", "GetObject"},
		{"ct.user", "", "MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0"},
		{"ct.originaluser", "", "i-0317f6c6b66ae9c40"},
		{"ct.user.accountid", "", "123456789123"},
		{"ct.error", "", "<NA>"},
		{"ct.readonly", "", "true"},
		{"s3.uri", "", "s3://mordors3stack-s3bucket-llp2yingx64a/ring.txt"},
		{"s3.bytes", "", "89"},
		{"s3.bytes.out", "", "89"},
		{"s3.cnt.get", "", "1"},
		{"s3.cnt.put", "", "<NA>"},
		{"s3.cnt.other", "", "0"},
		{"ct.request.host", "", "mordors3stack-s3bucket-llp2yingx64a.s3.amazonaws.com"},
		{"ct.info", "", "MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0 via 1.2.3.4 ← GetObject Size=89 URI=s3://mordors3stack-s3bucket-llp2yingx64a/ring.txt Host=mordors3stack-s3bucket-llp2yingx64a.s3.amazonaws.com"},
		{"json.value", "/additionalEventData/bytesTransferredOut", "89.0"},
		{"json.value", "/userIdentity/sessionContext/attributes/mfaAuthenticated", "false"},
		{"json.value", "/nothing", "<NA>"},
		{"evt.time.iso8601", "", "2020-09-14T01:02:34.000000000Z"},
		{"ec2.imageids", "", "<NA>"},
	} {
		if got := get(tt.field, tt.key); got != tt.want {
			t.Errorf("%s[%s] = %q, want %q", tt.field, tt.key, got, tt.want)
		}
	}
}

// TestEveryFieldCompiles loads a rule per field, in its condition and its
// output, so that a field whose type or argument the rule compiler refuses
// shows here rather than in someone's rules file.
func TestEveryFieldCompiles(t *testing.T) {
	var yaml string
	for i, f := range NewCatalog().Fields() {
		name := f.Name
		switch {
		case f.Arg == rules.KeyArg:
			name += "[/eventName]"
		case f.Arg == rules.IndexArg:
			name += "[0]"
		}
		yaml += fmt.Sprintf("- rule: r%d\n  desc: d\n  condition: %s exists\n  output: v=%%%s\n  priority: INFO\n  source: aws_cloudtrail\n", i, name, name)
	}
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{NewCatalog()}}, rules.File{Name: "all.yaml", Data: []byte(yaml)})
	if err != nil {
		t.Fatal(err)
	}
	inactive := 0
	for _, r := range rs.Rules() {
		if !r.Active() {
			inactive++
			t.Logf("%s: %s", r.Condition, r.Inactive)
		}
	}
	if inactive != 2 { // evt.hostname, evt.reltime
		t.Errorf("%d rules inactive, want 2", inactive)
	}
}
