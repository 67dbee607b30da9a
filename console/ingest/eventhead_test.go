package ingest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/output"
)

// agentEvents are events as an agent sends them (output.AppendJSON): an
// exec in a pod's container with its ancestors, a connect, and a host
// process's open.
func agentEvents() [][]byte {
	at := time.Date(2026, 12, 6, 6, 50, 1, 123456789, time.UTC)
	proc := event.Process{PID: 4242, PPID: 4200, Name: "curl", Exe: "/usr/bin/curl", Args: []string{"curl", "-s", "http://10.0.0.1/"},
		UID: 1000, LoginUID: -1, StartTime: at.Add(-time.Second), Ancestors: []event.Process{{PID: 4200, Name: "sh", Exe: "/bin/sh",
			LoginUID: -1, StartTime: at.Add(-time.Minute)}, {PID: 1, Name: "tini", Exe: "/tini", LoginUID: -1, StartTime: at.Add(-time.Hour)}}}
	event.SetProcessIDs("boot", &proc)
	ctr := &event.Container{ID: strings.Repeat("cd", 32), Name: "web", Image: "registry/web:1", Runtime: "containerd",
		Labels: map[string]string{"app": "web"}, Pod: &event.Pod{Name: "web-5d8f7c9b4-x2x7k", Namespace: "shop", UID: "u",
			Owner: &event.Owner{Kind: "Deployment", Name: "web"}}}
	host := event.Process{PID: 77, PPID: 1, Name: "cat", Exe: "/usr/bin/cat", LoginUID: 0, StartTime: at,
		Ancestors: []event.Process{{PID: 1, Name: "systemd", StartTime: at.Add(-time.Hour)}}}
	event.SetProcessIDs("boot", &host)
	evs := []*event.Event{
		{Kind: "event", Time: at, Node: "node-1", Cluster: "prod", Type: event.Exec, Syscall: "execve", Process: proc, Container: ctr},
		{Kind: "event", Time: at, Node: "node-1", Cluster: "prod", Type: event.Connect, Syscall: "connect", Result: -115, Process: proc,
			Container: ctr, Network: &event.Network{DstIP: "10.0.0.1", DstPort: 80}},
		{Kind: "event", Time: at, Node: "node-1", Cluster: "prod", Type: event.Open, Syscall: "openat", Result: 3, Process: host,
			File: &event.File{Path: "/etc/hosts"}},
	}
	var out [][]byte
	for _, e := range evs {
		out = append(out, output.AppendJSON(nil, e))
	}
	return out
}

// TestAgentEventsTakeTheScanner: the events agents send are read by the
// scanner, as encoding/json reads them, and give the store the columns a
// whole decoding gives it.
func TestAgentEventsTakeTheScanner(t *testing.T) {
	for i, data := range agentEvents() {
		fast, ok := scanEventHead(data)
		if !ok {
			t.Fatalf("event %d was left to encoding/json:\n%s", i, data)
		}
		var slow eventHead
		if err := json.Unmarshal(data, &slow); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("event %d: scanner read\n%+v\nencoding/json\n%+v", i, fast, slow)
		}
		var whole event.Event
		if err := json.Unmarshal(data, &whole); err != nil {
			t.Fatal(err)
		}
		e := fast.event()
		cid, wcid := "", ""
		if e.Container != nil {
			cid = e.Container.ID
		}
		if whole.Container != nil {
			wcid = whole.Container.ID
		}
		if !e.Time.Equal(whole.Time) || e.Node != whole.Node || e.Cluster != whole.Cluster || e.Type != whole.Type ||
			e.Process.ID != whole.Process.ID || e.Process.ParentID != whole.Process.ParentID || cid != wcid || e.Kind != whole.Kind {
			t.Errorf("event %d: columns %+v, decoded whole %+v", i, e, whole)
		}
		if e.Process.ID == "" || e.Process.ParentID == "" {
			t.Errorf("event %d: process ids missing: %+v", i, e.Process)
		}
	}
}

// FuzzEventHead: whatever the record, readEventHead answers as
// json.Unmarshal does: the same error or none, the same fields.
func FuzzEventHead(f *testing.F) {
	for _, e := range agentEvents() {
		f.Add(e)
	}
	for _, s := range []string{
		`{"NODE":"x","node":"y"}`, `{"node":"a","node":"b"}`, `{"node":null}`, `{"node":5}`, `{"event":"exec","Event":"open"}`,
		`{"node":"a\nb"}`, `{"node":"\u00e9\ud83d\ude00"}`, `{"node":"` + "\xff" + `"}`, `{"time":null}`, `{"time":"yesterday"}`,
		`{"process":null}`, `{"process":{"ID":"x"}}`, `{"process":{"id":"a","id":"b"}}`, `{"process":{"parent_id":1}}`,
		`{"process":[1]}`, `{"container":null}`, `{"container":{"id":"a","ID":"b"}}`, `{"container":{"name":{"x":[]}}}`,
		`{"x":[1,2,{"y":[true,false,null,-0.5e+3]}]}`, `{"x":01}`, `{"x":1.}`, `{} x`, ` {"node":"n"} `, `[]`, `null`,
		`{"kind":"event",}`, `{,}`, `{"a" "b"}`, `{"process":{"ancestors":[{"id":"p"}]}}`,
		`{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { readsAsEncodingJSON(t, data, readEventHead) })
}

func BenchmarkEventHead(b *testing.B) {
	data := agentEvents()[1]
	b.SetBytes(int64(len(data)))
	b.Run("scanner", func(b *testing.B) {
		for b.Loop() {
			if _, err := readEventHead(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json, the whole event", func(b *testing.B) {
		for b.Loop() {
			var e event.Event
			if err := json.Unmarshal(data, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
