package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/audit/cloudtrail/s3live/s3test"
	"github.com/mamori-dev/mamori/event"
)

// putDetonation uploads a Stratus Red Team detonation to the store as
// CloudTrail delivers it: gzipped {"Records":[...]} under AWSLogs/.
func putDetonation(t *testing.T, st *s3test.Store, minute int, technique string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(cloudtrailCorpus(t, "stratus-red-team"), technique+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	fmt.Fprintf(zw, `{"Records":%s}`, bytes.TrimSpace(raw))
	zw.Close()
	st.Put(t, "trail", s3test.DeliveryKey(minute, fmt.Sprintf("E2E%03d", minute)), b.Bytes())
}

// cloudtrailAlerts waits until the agent's alerts file holds an
// aws_cloudtrail alert of rule, and returns the aws_cloudtrail alerts.
func cloudtrailAlerts(t *testing.T, a *agentProc, rule string) []event.Alert {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got []event.Alert
		if _, err := os.Stat(a.out); err == nil {
			for _, al := range readLines[event.Alert](t, a.out) {
				if al.Source == "aws_cloudtrail" {
					got = append(got, al)
				}
			}
		}
		for _, al := range got {
			if al.Rule == rule {
				return got
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q alert after 60s; aws_cloudtrail alerts %v\n%s", rule, got, a.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestAgentCloudtrailS3 runs `mamori agent --cloudtrail` against a bucket on
// a real S3-compatible store: the built-in CloudTrail rules raise their
// alerts in the agent's alerts output, and an agent restarted on the same
// checkpoint raises only those of the new log file.
func TestAgentCloudtrailS3(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the agent loads eBPF programs: run the tests as root")
	}
	cloudtrailCorpus(t, "stratus-red-team")
	st := s3test.Start(t)
	st.CreateBucket(t, "trail")
	s3Env(t)
	args := []string{"--cloudtrail", "s3://trail/AWSLogs/", "--cloudtrail-endpoint", st.Endpoint,
		"--cloudtrail-checkpoint", filepath.Join(t.TempDir(), "state", "cloudtrail.json"), "--cloudtrail-interval", "1s"}

	const stopped, opened = "CloudTrail Trail Stopped, Deleted or Narrowed", "Security Group Opened to the Internet"
	putDetonation(t, st, 1, "aws.defense-evasion.cloudtrail-delete")
	a := launch(t, "--alerts-output", args...)
	got := cloudtrailAlerts(t, a, stopped)
	a.finish(t)
	for _, al := range got {
		if al.Rule != stopped || al.Kind != "alert" || len(al.Tags) == 0 || al.Hostname == "" {
			t.Errorf("alert %+v", al)
		}
	}
	if !strings.Contains(a.stderr.String(), "following CloudTrail") {
		t.Errorf("the agent does not say it follows CloudTrail:\n%s", a.stderr)
	}

	putDetonation(t, st, 2, "aws.exfiltration.ec2-security-group-open-port-22-ingress")
	a = launch(t, "--alerts-output", args...)
	got = cloudtrailAlerts(t, a, opened)
	a.finish(t)
	for _, al := range got {
		if al.Rule != opened {
			t.Errorf("after a restart: alert %q of a log file read before", al.Rule)
		}
	}
}

// TestAgentCloudtrailFlags: wrong --cloudtrail flags are refused before the
// agent starts anything, with what to do.
func TestAgentCloudtrailFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cloudtrail", "trail/AWSLogs"}, "not an S3 URL: write s3://BUCKET/PREFIX"},
		{[]string{"--cloudtrail", "s3://trail/", "--rules", "none"}, "cannot be used with --rules none"},
		{[]string{"--cloudtrail", "s3://trail/", "--cloudtrail-since", "yesterday"}, "neither a duration"},
		{[]string{"--cloudtrail", "s3://trail/", "--cloudtrail-interval", "10ms"}, "at least 1s"},
	} {
		out, code := mamori(t, append([]string{"agent"}, tc.args...)...)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("mamori agent %s: exit %d, output %q; want exit 2 and %q", strings.Join(tc.args, " "), code, out, tc.want)
		}
	}
}

// s3Env points the AWS SDK of a mamori process at the test store's
// credentials and nothing else of the machine's.
func s3Env(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.Access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.Secret)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

// TestCloudtrailScanS3: `mamori cloudtrail scan s3://...` reads every log
// object of a bucket once with the built-in rules, reports a malformed one
// and exits 1; a bucket that does not exist is reported as such.
func TestCloudtrailScanS3(t *testing.T) {
	cloudtrailCorpus(t, "stratus-red-team")
	st := s3test.Start(t)
	st.CreateBucket(t, "trail")
	s3Env(t)
	putDetonation(t, st, 1, "aws.defense-evasion.cloudtrail-delete")
	putDetonation(t, st, 2, "aws.exfiltration.ec2-security-group-open-port-22-ingress")
	broken := s3test.DeliveryKey(3, "BROKEN")
	st.Put(t, "trail", broken, []byte("not gzip, not JSON"))

	alerts, log, code := scanWith(t, []string{"--endpoint", st.Endpoint}, "s3://trail/AWSLogs/")
	rules := map[string]int{}
	for _, a := range alerts {
		rules[a.Rule]++
	}
	if code != 1 || rules["CloudTrail Trail Stopped, Deleted or Narrowed"] == 0 || rules["Security Group Opened to the Internet"] == 0 ||
		!strings.Contains(log, "skipped: s3://trail/"+broken) {
		t.Errorf("exit %d, alerts by rule %v\n%s", code, rules, log)
	}

	_, log, code = scanWith(t, []string{"--endpoint", st.Endpoint}, "s3://nosuchbucket/")
	if code != 1 || !strings.Contains(log, "no such bucket") {
		t.Errorf("missing bucket: exit %d\n%s", code, log)
	}
}
