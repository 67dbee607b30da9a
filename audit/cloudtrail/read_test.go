package cloudtrail

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
)

func parse(t testing.TB, data []byte) (names []string, bad []string) {
	var rd Reader
	rd.Parse("f", data, func(r *Record) {
		n, _ := r.str("eventName")
		names = append(names, fmt.Sprintf("%s@%d:%d#%d", n, r.Index, r.Line, r.Num))
	}, func(e *Error) { bad = append(bad, e.Error()) })
	return names, bad
}

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func TestParseFormats(t *testing.T) {
	const a, b = `{"eventName":"A","eventSource":"s"}`, `{"eventName":"B","eventSource":"s"}`
	tests := []struct {
		name, in string
		want     string
		bad      string
	}{
		{"delivery", `{"Records":[` + a + `,` + b + `]}`, "A@0:0#1 B@1:0#2", ""},
		{"delivery pretty", "{\n \"Records\": [\n  " + a + ",\n  " + b + "\n ]\n}\n", "A@0:0#1 B@1:0#2", ""},
		{"array", `[` + a + `,` + b + `]`, "A@0:0#1 B@1:0#2", ""},
		{"one record", a, "A@0:0#1", ""},
		{"lines", a + "\n\n" + b + "\n", "A@0:1#1 B@1:3#2", ""},
		{"lines of deliveries", `{"Records":[` + a + "]}\n" + `{"Records":[` + b + "]}\n", "A@0:0#1 B@1:0#2", ""},
		{"bad line", a + "\n{oops\n" + b + "\n", "A@0:1#1 B@2:3#2", "f:2: record 1: invalid character 'o' looking for beginning of object key string"},
		{"bad line end", a + "\n{\"x\":1} }\n", "A@0:1#1", "f:2: record 1: text after the JSON value at column 9"},
		{"not an object", `[1,` + a + `]`, "A@1:0#1", "f: record 0: not a JSON object"},
		{"bad file", "{\"Records\": [\n" + a + "\n" + b + "]}", "", "f:3: invalid character '{' after array element"},
		{"empty", "", "", "f: no JSON value"},
		{"record named Records", `{"eventName":"A","Records":[]}`, "A@0:0#1", ""},
		// Objects that are not records: the whole file when none is, each
		// one in a file that has records.
		{"not records", `{"foo":1}`, "", "f: record 0: not a CloudTrail record: it has none of eventVersion, eventSource, eventName; it has keys foo"},
		{"kubernetes audit", `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"x"}` + "\n" + `{"kind":"Event","auditID":"y"}` + "\n", "",
			"f: not a CloudTrail log: none of its 2 JSON objects is a CloudTrail record (one has eventVersion, eventSource and eventName); it holds Kubernetes audit events: scan them with mamori k8saudit scan"},
		{"some not records", `[` + a + `,{"foo":1},` + b + `]`, "A@0:0#1 B@2:0#2", "f: record 1: not a CloudTrail record: it has none of eventVersion, eventSource, eventName"},
	}
	for _, tt := range tests {
		for _, z := range []bool{false, true} {
			in := []byte(tt.in)
			if z {
				in = gz(tt.in)
			}
			names, bad := parse(t, in)
			if got := strings.Join(names, " "); got != tt.want {
				t.Errorf("%s (gzip %v): records %q, want %q", tt.name, z, got, tt.want)
			}
			if got := strings.Join(bad, "; "); got != tt.bad {
				t.Errorf("%s (gzip %v): errors %q, want %q", tt.name, z, got, tt.bad)
			}
		}
	}
}

func TestPointer(t *testing.T) {
	r := &Record{}
	var rd Reader
	rd.Parse("f", []byte(`{"eventName":"X","a":{"b/c":[1,{"d~e":true}],"n":null,"s":"x"}}`), func(rec *Record) { r = rec }, func(e *Error) { t.Fatal(e) })
	for _, tt := range []struct {
		p, want string
		ok      bool
	}{
		{"/a/b~1c/0", "1", true},
		{"/a/b~1c/1/d~0e", "true", true},
		{"/a/b~1c/2", "", false},
		{"/a/b~1c/01", "", false},
		{"/a/n", "null", true},
		{"/a/s", "x", true},
		{"/a/s/x", "", false},
		{"a", "", false},
	} {
		v, ok := r.pointer(tt.p)
		if got := text(v); ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("pointer %q = %q, %v; want %q, %v", tt.p, got, ok, tt.want, tt.ok)
		}
	}
}

// TestMalformedFileSkipped reads a directory where one file is not valid
// JSON (a comma missing between records, as exported upstream): it is
// reported and the others are read.
func TestMalformedFileSkipped(t *testing.T) {
	dir := corpora(t, "cloudtrail", "zmallen-cloudtrail2sightings")
	files := map[string]int{}
	var bad []*Error
	var rd Reader
	rd.ReadPaths([]string{dir}, func(r *Record) { files[filepath.Base(r.File)]++ },
		func(e *Error) { bad = append(bad, e) })
	if len(bad) != 1 || filepath.Base(bad[0].File) != "aws.execution.ec2-user-data.json" || bad[0].Record != -1 || bad[0].Line == 0 {
		t.Fatalf("errors %v, want one for aws.execution.ec2-user-data.json with its line", bad)
	}
	t.Logf("reported: %v", bad[0])
	want := map[string]int{
		"aws.credential-access.secretsmanager-retrieve-secrets.json": 10,
		"aws.defense-evasion.cloudtrail-delete.json":                 1,
		"aws.exfiltration.ec2-share-ebs-snapshot.json":               1,
	}
	if fmt.Sprint(files) != fmt.Sprint(want) {
		t.Errorf("records per file %v, want %v", files, want)
	}
}

// TestLineFiles reads OTRF's Logstash export: one record per line, no
// eventTime, only @timestamp.
func TestLineFiles(t *testing.T) {
	dir := corpora(t, "cloudtrail", "otrf-security-datasets")
	n := 0
	var rd Reader
	rd.ReadPaths([]string{dir}, func(r *Record) {
		n++
		if r.Time().IsZero() || r.Line != n {
			t.Errorf("record %d: time %v line %d", r.Index, r.Time(), r.Line)
		}
	}, func(e *Error) { t.Error(e) })
	if n != 103 {
		t.Errorf("%d records, want 103", n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"Records":[{"eventName":"A","userIdentity":{"type":"AssumedRole","arn":"a/b/c"}}]}`))
	f.Add([]byte(`[{"eventName":"A"},2,"x",null]`))
	f.Add([]byte("{\"eventName\":\"A\"}\n{bad\n[{\"a\":1}]\n"))
	f.Add(gz(`{"Records":[{"eventTime":"2024-01-01T00:00:00Z","additionalEventData":{"bytesTransferredIn":1e300}}]}`))
	f.Add([]byte(`{"Records":null}`))
	cat := NewCatalog()
	f.Fuzz(func(t *testing.T, data []byte) {
		var rd Reader
		rd.Parse("fuzz", data, func(r *Record) {
			if r.Fields() == nil {
				t.Fatal("record without fields")
			}
			for _, fd := range cat.Fields() {
				var arg rules.Arg
				if fd.Name == "json.value" || fd.Name == "jevt.value" {
					arg.Key, arg.Set = "/requestParameters/a~1b/0", true
				}
				switch {
				case fd.ExtractString != nil:
					fd.ExtractString(r, arg)
				case fd.ExtractNumber != nil:
					fd.ExtractNumber(r, arg)
				case fd.ExtractStrings != nil:
					fd.ExtractStrings(r, arg)
				}
			}
		}, func(e *Error) {
			if e.Err == nil || e.File != "fuzz" {
				t.Fatalf("bad error %#v", e)
			}
		})
	})
}

// TestGzipDirectory reads a folder laid out as CloudTrail delivers to S3:
// gzipped delivery objects, beside files that are not logs and the
// trail's digest files, which hold no records.
func TestGzipDirectory(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(corpora(t, "cloudtrail", "stratus-red-team"), "aws.persistence.iam-create-admin-user.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sub := filepath.Join(dir, "AWSLogs", "123456789012", "CloudTrail", "us-east-1")
	digests := filepath.Join(dir, "AWSLogs", "123456789012", "CloudTrail-Digest", "us-east-1", "2026", "01", "02")
	for _, d := range []string{sub, digests} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	digest := `{"awsAccountId":"123456789012","digestStartTime":"2026-01-02T00:00:00Z","digestEndTime":"2026-01-02T01:00:00Z",` +
		`"logFiles":[{"s3Bucket":"b","s3Object":"AWSLogs/123456789012/CloudTrail/us-east-1/a.json.gz","hashValue":"00","hashAlgorithm":"SHA-256"}]}`
	if err := os.WriteFile(filepath.Join(digests, "123456789012_CloudTrail-Digest_us-east-1_trail_us-east-1_20260102T010000Z.json.gz"), gz(digest), 0o644); err != nil {
		t.Fatal(err)
	}
	delivery := `{"Records":` + string(src) + `}`
	for name, data := range map[string][]byte{
		"a.json.gz":       gz(delivery),
		"b.json.gz":       gz(delivery)[:40], // truncated in transfer
		"README.txt":      []byte("not a log"),
		"c.ndjson":        []byte(`{"eventName":"X"}` + "\n"),
		"digest.json.sig": []byte("\x00\x01"),
	} {
		if err := os.WriteFile(filepath.Join(sub, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	var bad []*Error
	var rd Reader
	rd.ReadPaths([]string{dir}, func(r *Record) {
		n, _ := r.str("eventName")
		names = append(names, filepath.Base(r.File)+":"+n)
	}, func(e *Error) { bad = append(bad, e) })
	if got := strings.Join(names, " "); got != "a.json.gz:AttachUserPolicy a.json.gz:CreateAccessKey a.json.gz:CreateUser c.ndjson:X" {
		t.Errorf("records %s", got)
	}
	if len(bad) != 1 || filepath.Base(bad[0].File) != "b.json.gz" || !strings.Contains(bad[0].Error(), "gzip") {
		t.Errorf("errors %v, want one for the truncated b.json.gz", bad)
	}
}

// TestTransientReadsTheSame scans the corpora with a Transient reader,
// which reuses its memory from file to file, and with an ordinary one:
// each record, read while fn runs, must give the same event name and
// raise the same alerts.
func TestTransientReadsTheSame(t *testing.T) {
	rs := allRules(t)
	var paths []string
	for _, dir := range []string{"stratus-red-team", "otrf-security-datasets", "zmallen-cloudtrail2sightings"} {
		paths = append(paths, corpora(t, "cloudtrail", dir))
	}
	scan := func(rd *Reader) []string {
		var out []string
		d := NewDetector(rs, DetectorConfig{All: true})
		rd.ReadPaths(paths, func(r *Record) {
			n, _ := r.str("eventName")
			out = append(out, fmt.Sprintf("%s#%d %s", filepath.Base(r.File), r.Index, n))
			d.Detect(r, func(a *event.Alert) { out = append(out, "  "+a.Rule+" "+a.Output[strings.IndexByte(a.Output, ' '):]) })
		}, func(e *Error) { out = append(out, "error "+e.Error()) })
		return out
	}
	want := scan(&Reader{})
	got := scan(&Reader{Transient: true})
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("transient reader read\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(want) < 200 {
		t.Errorf("only %d lines", len(want))
	}
}

// TestFileWithoutRecords: a file holding no record at all (empty, [],
// {"Records":[]}, gzipped or not) is an error naming it, among files that
// hold records: it was counted as read, with 0 alerts.
func TestFileWithoutRecords(t *testing.T) {
	dir := t.TempDir()
	good := `{"Records":[{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"ListUsers"}]}`
	files := map[string][]byte{
		"a-good.json": []byte(good), "b-empty.json": nil, "c-array.json": []byte("[]\n"),
		"d-delivery.json.gz": gz(`{"Records":[]}`), "e-blank.jsonl": []byte("\n\n"),
	}
	for n, data := range files {
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var got, bad []string
	var rd Reader
	rd.ReadPaths([]string{dir}, func(r *Record) { got = append(got, filepath.Base(r.File)) },
		func(e *Error) {
			// An empty file already was an error ("no JSON value").
			if !strings.Contains(e.Error(), "holds no CloudTrail records") && !strings.Contains(e.Error(), "no JSON value") {
				t.Errorf("error %v", e)
			}
			bad = append(bad, filepath.Base(e.File))
		})
	if strings.Join(got, ",") != "a-good.json" || strings.Join(bad, ",") != "b-empty.json,c-array.json,d-delivery.json.gz,e-blank.jsonl" {
		t.Errorf("records from %v, errors for %v", got, bad)
	}
}
