package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
)

func sample() *event.Event {
	code := int32(3)
	return &event.Event{
		Kind: "event", Time: time.Date(2026, 11, 23, 4, 46, 2, 806179612, time.UTC), Node: "n1",
		Type: event.Exec, Syscall: "execve",
		Process: event.Process{PID: 10, PPID: 9, Name: "cat", Exe: "/usr/bin/cat", Args: []string{"cat", "/etc/shadow"},
			UID: 1000, ExeUpperLayer: true, ExitCode: &code,
			Ancestors: []event.Process{{PID: 9, Name: "sh", Args: []string{"sh"}}}},
		Container: &event.Container{ID: "0123456789abcdef0123", Labels: map[string]string{"a": "b"}},
	}
}

func TestJSONRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf, JSON)
	in := sample()
	if err := w.WriteEvent(in); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Fatalf("wrote %d bytes before Flush: events must be buffered", buf.Len())
	}
	w.Flush()
	line := buf.String()
	if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
		t.Fatalf("not one line: %q", line)
	}
	for _, want := range []string{`"kind":"event"`, `"time":"2026-11-23T04:46:02.806179612Z"`, `"event":"exec"`,
		`"exe_upper_layer":true`, `"ancestors":[{"pid":9`, `"container":{"id":"0123456789abcdef0123"`} {
		if !strings.Contains(line, want) {
			t.Errorf("JSON lacks %s: %s", want, line)
		}
	}
	var out event.Event
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		t.Fatal(err)
	}
	if !out.Time.Equal(in.Time) || out.Process.Args[1] != "/etc/shadow" || *out.Process.ExitCode != 3 || out.Container.Labels["a"] != "b" {
		t.Errorf("round trip lost data: %+v", out)
	}
	if n, failed := w.Counts(); n != 1 || failed != 0 {
		t.Errorf("counts %d %d", n, failed)
	}
}

func TestText(t *testing.T) {
	e := sample()
	got := string(AppendText(nil, e))
	want := "04:46:02.806179 exec        0123456789ab   cat[10]<-sh uid=1000 /usr/bin/cat /etc/shadow [upper layer]"
	if got != want {
		t.Errorf("text:\n got %q\nwant %q", got, want)
	}
	e = &event.Event{Time: e.Time, Type: event.Connect, Result: -111, Container: &event.Container{ID: event.HostID},
		Process: event.Process{PID: 5, Name: "nc"},
		Network: &event.Network{Family: "inet6", Protocol: "tcp", SrcIP: "::1", SrcPort: 4000, DstIP: "::1", DstPort: 22}}
	got = string(AppendText(nil, e))
	if !strings.HasSuffix(got, "inet6/tcp [::1]:4000 -> [::1]:22 = -111") || !strings.Contains(got, " host ") {
		t.Errorf("text: %q", got)
	}
	e = &event.Event{Time: e.Time, Type: event.CgroupMove, Process: event.Process{PID: 7, Name: "sh"},
		Cgroup: &event.Cgroup{ID: 1, Path: "/", PID: 7}}
	got = string(AppendText(nil, e))
	if !strings.HasSuffix(got, "cgroup_move host           sh[7] uid=0 pid=7 -> /") {
		t.Errorf("text: %q", got)
	}
}

func TestOpenFileAppendsAndReportsErrors(t *testing.T) {
	p := filepath.Join(t.TempDir(), "events.json")
	for range 2 {
		w, err := Open(p, "")
		if err != nil {
			t.Fatal(err)
		}
		w.WriteEvent(sample())
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(p)
	if strings.Count(string(b), "\n") != 2 || !strings.HasPrefix(string(b), "{") {
		t.Errorf("a file gets JSON by default and is appended to: %q", b)
	}
	if _, err := Open("/nonexistent/dir/x.json", JSON); err == nil || !strings.Contains(err.Error(), "/nonexistent/dir/x.json") {
		t.Errorf("error does not name the path: %v", err)
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("xml accepted")
	}
}

// TestAlertNotHTMLEscaped: an alert's JSON keeps <, > and & as they are
// ("<NA>" printed as "\u003cNA\u003e" was a finding of issue 13).
func TestAlertNotHTMLEscaped(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf, JSON)
	if err := w.WriteAlert(&event.Alert{Kind: "alert", Rule: "r", Output: "user=<NA> a&b", OutputFields: map[string]any{"x": "<NA>"}}); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	got := buf.String()
	if !strings.Contains(got, `"output":"user=<NA> a&b"`) || !strings.Contains(got, `"x":"<NA>"`) || strings.Count(got, "\n") != 1 {
		t.Errorf("alert line %q", got)
	}
}

// failAfter takes n bytes, then fails.
type failAfter struct {
	n   int
	got bytes.Buffer
}

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k := f.n
		f.got.Write(p[:k])
		f.n = 0
		return k, errors.New("disk full")
	}
	f.n -= len(p)
	return f.got.Write(p)
}

// TestWriteErrorSticks: once the destination fails, the Writer says so on
// every later write and flush, counts each failed write, and what it wrote
// before is whole lines followed by what the destination took of the next.
func TestWriteErrorSticks(t *testing.T) {
	dst := &failAfter{n: bufferBytes + 100}
	w := New(dst, JSON)
	var ok, failed int
	for range 2 * bufferBytes / 100 {
		if err := w.WriteEvent(sample()); err != nil {
			if !strings.Contains(err.Error(), "disk full") {
				t.Fatalf("error %v does not say what failed", err)
			}
			failed++
		} else if failed == 0 {
			ok++
		} else {
			t.Fatal("a write succeeded after one failed")
		}
	}
	if failed == 0 {
		t.Fatal("no write failed")
	}
	if err := w.Flush(); err == nil {
		t.Error("Flush after a failure returned nil")
	}
	if n, f := w.Counts(); n != uint64(ok) || f != uint64(failed) {
		t.Errorf("counts %d written, %d failed; want %d, %d", n, f, ok, failed)
	}
	if dst.got.Len() != bufferBytes+100 {
		t.Errorf("destination took %d bytes, want %d", dst.got.Len(), bufferBytes+100)
	}
	line := AppendJSON(nil, sample())
	whole := dst.got.Bytes()[:bytes.LastIndexByte(dst.got.Bytes(), '\n')+1]
	if want := bytes.Repeat(append(line, '\n'), len(whole)/(len(line)+1)); !bytes.Equal(whole, want) {
		t.Error("the lines written before the failure are not the events")
	}
}
