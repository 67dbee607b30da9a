package k8saudit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
)

func parse(t testing.TB, data []byte) (ids []string, bad []string) {
	var rd Reader
	rd.Parse("f", data, func(e *Event) {
		id, _ := e.str("auditID")
		ids = append(ids, fmt.Sprintf("%s@%d:%d#%d", id, e.Index, e.Line, e.Num))
	}, func(e *Error) { bad = append(bad, e.Error()) })
	return ids, bad
}

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func TestParseFormats(t *testing.T) {
	const a = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"A","stageTimestamp":"2024-05-01T10:00:00Z"}`
	const b = `{"kind":"Event","auditID":"B","stageTimestamp":"2024-05-01T10:00:01.123456Z"}`
	list := func(items ...string) string {
		return `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + strings.Join(items, ",") + `]}`
	}
	tests := []struct {
		name, in string
		want     string
		bad      string
	}{
		{"lines", a + "\n\n" + b + "\n", "A@0:1#1 B@1:3#2", ""},
		{"one event", a, "A@0:0#1", ""},
		{"event list", list(a, b), "A@0:0#1 B@1:0#2", ""},
		{"event list pretty", "{\n \"kind\": \"EventList\",\n \"items\": [\n  " + a + ",\n  " + b + "\n ]\n}\n", "A@0:0#1 B@1:0#2", ""},
		{"empty event list", `{"kind":"EventList","items":null}`, "", ""},
		{"lines of event lists", list(a) + "\n" + list(b) + "\n", "A@0:0#1 B@1:0#2", ""},
		{"array", `[` + a + `,` + b + `]`, "A@0:0#1 B@1:0#2", ""},
		{"bad line", a + "\n{oops\n" + b + "\n", "A@0:1#1 B@2:3#2", "f:2: record 1: invalid character 'o' looking for beginning of object key string"},
		{"text after", a + "\n{\"kind\":\"Event\"} }\n", "A@0:1#1", "f:2: record 1: text after the JSON value at column 18"},
		{"not an event", list(`{"kind":0}`, a), "A@1:0#1", `f: record 0: kind is 0, not "Event": not a Kubernetes audit event`},
		{"another kind", `{"kind":"Pod","auditID":"x"}`, "", `f: record 0: kind is Pod, not "Event": not a Kubernetes audit event; it has keys auditID, kind`},
		{"no kind, no auditID", `{"verb":"get"}`, "", `f: record 0: neither kind "Event" nor an auditID: not a Kubernetes audit event; it has keys verb`},
		{"cloudtrail records", `{"eventName":"A"}` + "\n" + `{"eventName":"B"}` + "\n", "", `f: not a Kubernetes audit log: none of its 2 JSON objects is an audit event (one has kind "Event" or an auditID); it holds CloudTrail records: scan them with mamori cloudtrail scan`},
		{"no kind, auditID", `{"auditID":"C","requestReceivedTimestamp":"2024-05-01 10:00:00.38"}`, "C@0:0#1", ""},
		{"no time", `{"kind":"Event","auditID":"D"}`, "D@0:0#1", ""},
		{"bad time", `{"kind":"Event","auditID":"D","stageTimestamp":"yesterday"}`, "", `f: record 0: stageTimestamp "yesterday" is not an RFC 3339 time`},
		{"not an object", `[1,` + a + `]`, "A@1:0#1", "f: record 0: not a JSON object"},
		{"items not an array", `{"kind":"EventList","items":{}}`, "", "f: record 0: EventList whose items are not an array"},
		{"bad file", "{\"kind\": \"EventList\", \"items\": [\n" + a + "\n" + b + "]}", "", "f:3: invalid character '{' after array element"},
		{"empty", "", "", "f: no JSON value"},
	}
	for _, tt := range tests {
		for _, z := range []bool{false, true} {
			in := []byte(tt.in)
			if z {
				in = gz(tt.in)
			}
			ids, bad := parse(t, in)
			if got := strings.Join(ids, " "); got != tt.want {
				t.Errorf("%s (gzip %v): events %q, want %q", tt.name, z, got, tt.want)
			}
			if got := strings.Join(bad, "; "); got != tt.bad {
				t.Errorf("%s (gzip %v): errors %q, want %q", tt.name, z, got, tt.bad)
			}
		}
	}
}

// TestPantherEvents reads the EKS-shaped events of Panther's rule tests:
// every one parses (they are events of kind Event, most without auditID
// or stageTimestamp), and the upstream rules evaluate them without
// error. Their labels belong to Panther's rules, not Falco's: the run
// reports, for the labels whose rule has an upstream counterpart, how the
// upstream rule agrees.
func TestPantherEvents(t *testing.T) {
	f, err := os.Open(corpora(t, "k8saudit", "panther-analysis-tests", "eks_k8s_audit_rule_test_events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := NewDetector(load(t, upstreamRules(t)), DetectorConfig{All: true})
	counterpart := map[string]string{
		"Kubernetes.Pod.Privileged.Created":        "Create Privileged Pod",
		"Kubernetes.Pod.Host.Network":              "Create HostNetwork Pod",
		"Kubernetes.Pod.Host.PID":                  "Create HostPid Pod",
		"Kubernetes.Pod.Host.IPC":                  "Create HostIPC Pod",
		"Kubernetes.Service.NodePort.Deployed":     "Create NodePort Service",
		"Kubernetes.Ingress.NoTLS":                 "Ingress Object without TLS Certificate Created",
		"Kubernetes.Pod.HostPath.Volume":           "Create Sensitive Mount Pod",
		"Kubernetes.ClusterRoleBinding.Privileged": "Attach to cluster-admin Role",
	}
	type score struct{ tp, fp, fn, tn int }
	scores := map[string]*score{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var rd Reader
	n := 0
	for sc.Scan() {
		var row struct {
			RuleID   string          `json:"rule_id"`
			Expected bool            `json:"expected_result"`
			Log      json.RawMessage `json:"log"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		raised := map[string]bool{}
		rd.Parse(row.RuleID, row.Log, func(e *Event) {
			n++
			d.Detect(e, func(a *event.Alert) { raised[a.Rule] = true })
		}, func(e *Error) { t.Errorf("%v", e) })
		rule, ok := counterpart[row.RuleID]
		if !ok {
			continue
		}
		s := scores[rule]
		if s == nil {
			s = &score{}
			scores[rule] = s
		}
		switch {
		case raised[rule] && row.Expected:
			s.tp++
		case raised[rule]:
			s.fp++
		case row.Expected:
			s.fn++
		default:
			s.tn++
		}
	}
	if n != 188 {
		t.Errorf("%d events read, want 188", n)
	}
	for rule, s := range scores {
		t.Logf("%-48s tp %d fp %d fn %d tn %d", rule, s.tp, s.fp, s.fn, s.tn)
	}
}

// FuzzParse feeds arbitrary bytes to the reader: it must not panic, and
// every event it hands over is a JSON object with a time.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"kind":"Event","auditID":"A","stageTimestamp":"2024-05-01T10:00:00Z"}`))
	f.Add([]byte(`{"kind":"EventList","items":[{"kind":"Event","auditID":"A","stageTimestamp":"2024-05-01T10:00:00Z"},{"kind":0}]}`))
	f.Add([]byte("{\"kind\":\"Event\"}\n{oops\n[1,2]\n"))
	f.Add(gz(`{"kind":"EventList","items":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var rd Reader
		rd.Parse("fuzz", data, func(e *Event) {
			if e.Fields == nil || e.Time.IsZero() {
				t.Errorf("event %+v", e)
			}
		}, func(*Error) {})
	})
}
