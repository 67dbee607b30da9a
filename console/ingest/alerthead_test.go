package ingest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// agentAlert is an alert as an agent sends it: every field the agent
// fills, forensics included.
func agentAlert() []byte {
	at := time.Date(2026, 12, 5, 2, 19, 36, 395259019, time.UTC)
	proc := event.Process{PID: 12345, PPID: 1, Name: "cat", Exe: "/bin/cat", Args: []string{"cat", "/etc/shadow"},
		LoginUID: -1, StartTime: at.Add(-time.Second), Ancestors: []event.Process{{PID: 1, Name: "sh", Exe: "/bin/sh", LoginUID: -1}}}
	event.SetProcessIDs("boot", &proc)
	a := &event.Alert{Kind: "alert", UUID: "0f3c2a6e-1b2c-4d5e-8f90-123456789abc", Cluster: "prod", Time: at, Rule: "Read sensitive file",
		Priority: "Warning", Output: "Sensitive file opened for reading by cat (file=/etc/shadow container=web é)",
		OutputFields: map[string]any{"fd.name": "/etc/shadow", "proc.name": "cat", "evt.num": 42.5, "ok": true, "none": nil},
		Source:       "syscall", Tags: []string{"container", "T1555", "mitre_credential_access"}, Hostname: "node-1", Action: "blocked",
		Policy: "baseline", Control: "drift", Event: event.Exec, Process: &proc,
		Container: &event.Container{ID: strings.Repeat("ab", 32), Name: "web", Image: "registry/web:1", ImageDigest: "sha256:00",
			Runtime: "podman", Created: at.Add(-time.Hour), Labels: map[string]string{"app": "web"},
			Pod: &event.Pod{Name: "web-5d8f7c9b4-x2x7k", Namespace: "shop", UID: "u"}},
		Forensics: []event.Event{{Kind: "event", Time: at, Type: event.Connect, Process: proc,
			Network: &event.Network{DstIP: "10.0.0.1", DstPort: 443}}},
		Count: 3, FirstTime: at.Add(-time.Minute), LastTime: at,
	}
	b, _ := json.Marshal(a)
	return b
}

// TestAgentAlertsTakeTheScanner: the alerts agents send are read by the
// scanner, not left to encoding/json (which would be correct, and slow),
// and read as encoding/json reads them.
func TestAgentAlertsTakeTheScanner(t *testing.T) {
	data := agentAlert()
	fast, ok := scanAlertHead(data)
	if !ok {
		t.Fatalf("an agent's alert was left to encoding/json:\n%s", data)
	}
	var slow alertHead
	if err := json.Unmarshal(data, &slow); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Errorf("scanner read\n%+v\nencoding/json\n%+v", fast, slow)
	}
	if fast.Process == nil || fast.Process.ID == "" || fast.Container.Pod.Namespace != "shop" || len(fast.Tags) != 3 {
		t.Errorf("fields missing: %+v", fast)
	}
}

// FuzzAlertHead: whatever the record, readAlertHead answers as
// json.Unmarshal does: the same error or none, the same fields.
func FuzzAlertHead(f *testing.F) {
	a := agentAlert()
	f.Add(a)
	f.Add([]byte(`{"kind":"alert","uuid":"u","time":"2026-12-05T02:19:36Z","rule":"r","tags":[],"process":{},"container":{"id":"host"}}`))
	for _, s := range []string{
		`{"RULE":"x","rule":"y"}`, `{"rule":"a","rule":"b"}`, `{"rule":null}`, `{"rule":5}`, `{"tags":null}`, `{"tags":["a",null]}`,
		`{"rule":"a\nb"}`, `{"rule":"\u00e9\ud83d\ude00"}`, `{"rule":"` + "\xff" + `"}`, `{"time":null}`, `{"time":"yesterday"}`,
		`{"process":null}`, `{"process":{"ID":"x"}}`, `{"process":{"id":"a","id":"b"}}`, `{"process":[1]}`, `{"container":null}`,
		`{"container":{"privileged":"yes"}}`, `{"x":[1,2,{"y":[true,false,null,-0.5e+3]}]}`, `{"x":01}`, `{"x":1.}`, `{"x":-}`,
		`{"x":"\x"}`, `{"x":"\u12"}`, `{} x`, ` {"rule":"r"} `, `[]`, `null`, `{"a":{}}`, `{"a":[]}`, `{"a":[[]],"b":{"c":{}}}`,
		`{"ſource":"s"}`, `{"kind":"alert",}`, `{,}`, `{"a" "b"}`, `{"a":1 "b":2}`, "{\"a\":\"\t\"}", `{"event":"exec"}`,
		`{"a":"` + strings.Repeat("[", 20) + `"}`, `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { readsAsEncodingJSON(t, data, readAlertHead) })
}

// readsAsEncodingJSON fails t unless read answers data as json.Unmarshal
// into a T does: the same error or none, the same fields.
func readsAsEncodingJSON[T any](t *testing.T, data []byte, read func([]byte) (T, error)) {
	t.Helper()
	got, gotErr := read(data)
	var want T
	wantErr := json.Unmarshal(data, &want)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%q: error %v, encoding/json's %v", data, gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: read\n%+v\nencoding/json\n%+v", data, got, want)
	}
}

// TestAlertHeadDepth: nesting past encoding/json's limit is refused the
// way encoding/json refuses it.
func TestAlertHeadDepth(t *testing.T) {
	for _, wrap := range [][2]string{{`{"x":`, `}`}, {`{"process":{"x":`, `}}`}, {`{"container":{"x":`, `}}`}} {
		for n := maxDepth - 3; n <= maxDepth+1; n++ {
			data := []byte(wrap[0] + strings.Repeat("[", n) + strings.Repeat("]", n) + wrap[1])
			_, err := readAlertHead(data)
			var h alertHead
			want := json.Unmarshal(data, &h)
			if fmt.Sprint(err) != fmt.Sprint(want) {
				t.Errorf("%s depth %d: %v, encoding/json %v", wrap[0], n, err, want)
			}
		}
	}
}

func BenchmarkAlertHead(b *testing.B) {
	data := agentAlert()
	b.SetBytes(int64(len(data)))
	b.Run("scanner", func(b *testing.B) {
		for b.Loop() {
			if _, err := readAlertHead(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var h alertHead
			if err := json.Unmarshal(data, &h); err != nil {
				b.Fatal(err)
			}
		}
	})
}
