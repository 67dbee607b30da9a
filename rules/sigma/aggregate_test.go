package sigma

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/audit/cloudtrail"
	"github.com/mamori-dev/mamori/event"
)

// call is one constructed CloudTrail record: an event name by an identity
// from an address at a minute past 10:00, about an object.
type call struct {
	name, who, ip string
	minute        int
	object        string
}

func (c call) json() string {
	return fmt.Sprintf(`{"eventVersion":"1.08","eventTime":"2026-03-01T10:%02d:00Z","eventSource":"ec2.amazonaws.com","eventName":%q,`+
		`"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/%s"},"sourceIPAddress":%q,`+
		`"awsRegion":"us-east-1","requestParameters":{"instanceId":%q}}`, c.minute, c.name, c.who, c.ip, c.object)
}

// fired runs the calls, in order, through a Detector of the translation
// and returns, per rule, the indexes of the calls that raised it.
func fired(t *testing.T, text string, calls []call) map[string][]int {
	t.Helper()
	tr, rs := translateOne(t, text)
	if len(tr.Untranslated) > 0 {
		t.Fatalf("not translated: %v", tr.Untranslated)
	}
	var lines []string
	for _, c := range calls {
		lines = append(lines, c.json())
	}
	d := cloudtrail.NewDetector(rs, cloudtrail.DetectorConfig{All: true})
	got := map[string][]int{}
	for i, r := range cloudtrailRecords(t, lines...) {
		d.Detect(r, func(a *event.Alert) { got[a.Rule] = append(got[a.Rule], i) })
	}
	return got
}

// TestAggregationsRun translates Sigma's count(), near and timeframe onto
// stateful rules and checks, on constructed records, when they fire.
func TestAggregationsRun(t *testing.T) {
	ct := func(detection string) string { return sigmaDoc("aws", "cloudtrail", detection) }
	tests := []struct {
		name, text string
		calls      []call
		want       []int
	}{
		{"count by address", ct("sel:\n  eventName: GetPasswordData\ntimeframe: 10m\ncondition: sel | count() by sourceIPAddress > 2"), []call{
			{"GetPasswordData", "a", "198.51.100.1", 0, "i-1"}, {"GetPasswordData", "a", "198.51.100.2", 1, "i-2"},
			{"DescribeInstances", "a", "198.51.100.1", 2, ""},
			{"GetPasswordData", "b", "198.51.100.1", 3, "i-3"},  // another identity, same address: counted
			{"GetPasswordData", "a", "198.51.100.1", 4, "i-4"},  // the third from .1: fires
			{"GetPasswordData", "a", "198.51.100.2", 30, "i-5"}, // .2's first is out of the window
		}, []int{4}},
		{"count with no timeframe counts within an hour", ct("sel:\n  eventName: GetPasswordData\ncondition: sel | count() >= 2"), []call{
			{"GetPasswordData", "a", "198.51.100.1", 0, "i-1"}, {"GetPasswordData", "a", "198.51.100.1", 59, "i-1"},
		}, []int{1}},
		{"distinct values by identity", ct("sel:\n  eventName: DescribeInstanceAttribute\ntimeframe: 30m\ncondition: sel | count(requestParameters.instanceId) by userIdentity.arn > 2"), []call{
			{"DescribeInstanceAttribute", "a", "ip", 0, "i-1"}, {"DescribeInstanceAttribute", "a", "ip", 1, "i-1"},
			{"DescribeInstanceAttribute", "a", "ip", 2, "i-2"}, {"DescribeInstanceAttribute", "b", "ip", 3, "i-3"},
			{"DescribeInstanceAttribute", "a", "ip", 4, "i-3"},
		}, []int{4}},
		{"near", ct("create:\n  eventName: CreateFunction20150331\ninvoke:\n  eventName: Invoke\ntimeframe: 5m\ncondition: create | near invoke"), []call{
			{"Invoke", "a", "ip", 0, ""}, {"CreateFunction20150331", "b", "ip", 10, ""}, {"Invoke", "c", "ip", 14, ""},
		}, []int{2}},
		{"two selections within a timeframe", ct("enable:\n  eventName: UpdateAccountSendingEnabled\nverify:\n  eventName: VerifyEmailIdentity\nnoise:\n  sourceIPAddress: 192.0.2.9\ntimeframe: 5m\ncondition: enable and verify and not noise"), []call{
			{"VerifyEmailIdentity", "a", "ip", 0, ""}, {"UpdateAccountSendingEnabled", "a", "ip", 6, ""},
			{"VerifyEmailIdentity", "a", "192.0.2.9", 7, ""}, // spared by "not noise": waits
			{"VerifyEmailIdentity", "a", "ip", 8, ""},
		}, []int{3}},
	}
	for _, tc := range tests {
		got := fired(t, tc.text, tc.calls)
		if fmt.Sprint(got["Test rule"]) != fmt.Sprint(tc.want) || len(got) > 1 {
			t.Errorf("%s: fired %v, want Test rule at %v", tc.name, got, tc.want)
		}
	}
}

// correlationFile is a Sigma file with two base rules and a correlation
// of them, in Sigma 2's form.
func correlationFile(correlation string) string {
	base := func(title, name, event string) string {
		return "title: " + title + "\nname: " + name + "\nlevel: low\nlogsource:\n  product: aws\n  service: cloudtrail\n" +
			"detection:\n  sel:\n    eventName: " + event + "\n  condition: sel\n"
	}
	return base("Password data read", "password_read", "GetPasswordData") + "---\n" +
		base("User data read", "userdata_read", "DescribeInstanceAttribute") + "---\n" +
		"title: Correlated\nid: 00000000-0000-0000-0000-0000000000c1\nlevel: high\ncorrelation:\n" + correlation
}

// TestCorrelationsRun translates Sigma correlation rules (event_count,
// value_count, temporal) onto stateful rules; the rules they name alert
// only through them unless generate is true.
func TestCorrelationsRun(t *testing.T) {
	calls := []call{
		{"GetPasswordData", "a", "ip", 0, "i-1"},
		{"DescribeInstanceAttribute", "a", "ip", 1, "i-1"},
		{"GetPasswordData", "b", "ip", 2, "i-2"},
		{"GetPasswordData", "a", "ip", 3, "i-1"},
		{"GetPasswordData", "a", "ip", 4, "i-2"},
	}
	tests := []struct {
		name, corr string
		want       map[string][]int
	}{
		{"event_count by identity", "  type: event_count\n  rules: [password_read]\n  group-by: [userIdentity.arn]\n  timespan: 10m\n  condition:\n    gte: 3\n",
			// userdata_read is named by no correlation: it alerts alone.
			map[string][]int{"Correlated": {4}, "User data read": {1}}},
		{"value_count", "  type: value_count\n  rules: [password_read, userdata_read]\n  group-by: [userIdentity.arn]\n  timespan: 10m\n  condition:\n    field: requestParameters.instanceId\n    gt: 1\n",
			map[string][]int{"Correlated": {4}}},
		{"temporal", "  type: temporal\n  rules: [password_read, userdata_read]\n  group-by: [userIdentity.arn]\n  timespan: 5m\n",
			map[string][]int{"Correlated": {1}}},
		{"generate keeps the named rules", "  type: event_count\n  rules: [userdata_read]\n  timespan: 10m\n  generate: true\n  condition:\n    gte: 1\n",
			map[string][]int{"Correlated": {1}, "User data read": {1}, "Password data read": {0, 2, 3, 4}}},
	}
	for _, tc := range tests {
		text := correlationFile(tc.corr)
		got := fired(t, text, calls)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: fired %v, want %v", tc.name, got, tc.want)
		}
		tr, _ := translateOne(t, text)
		if !strings.Contains(string(tr.File.Data), "stateful:") {
			t.Errorf("%s: translation has no stateful key:\n%s", tc.name, tr.File.Data)
		}
	}
	tr, _ := translateOne(t, correlationFile("  type: temporal_ordered\n  rules: [password_read, userdata_read]\n  timespan: 5m\n"))
	if len(tr.Untranslated) != 1 || tr.Untranslated[0].Reason != ReasonCorrelation || !strings.Contains(tr.Untranslated[0].Detail, "order") {
		t.Errorf("temporal_ordered: %+v", tr.Untranslated)
	}
}
