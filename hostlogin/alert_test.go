package hostlogin

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// TestAppendConcurrent: logins that happen together append whole lines,
// each a complete alert, into a file whose directory Append creates.
func TestAppendConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log", "mamori", "hostlogins.jsonl")
	l := Login{User: "guest", Service: "sshd", RHost: "192.0.2.7", TTY: "ssh"}
	v := Verdict{Action: event.Blocked, Reason: "user guest is on blockUsers (guest)", Policies: []string{"host-logins"}}
	const n = 64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := Append(path, Alert(v, l, []string{"guest", strings.Repeat("g", 300)}, "web-1", time.Now())); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	lines := 0
	for sc.Scan() {
		lines++
		var a event.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("line %d: %v", lines, err)
		}
		if a.Kind != "alert" || a.Rule != Rule || a.Action != event.Blocked || a.Control != Control || a.Policy != "host-logins" ||
			a.Source != "host" || a.Hostname != "web-1" || a.OutputFields["user"] != "guest" || a.OutputFields["rhost"] != "192.0.2.7" ||
			a.OutputFields["service"] != "sshd" || a.OutputFields["tty"] != "ssh" || !strings.Contains(a.Output, "refused") {
			t.Fatalf("line %d: %+v", lines, a)
		}
	}
	if lines != n {
		t.Errorf("%d lines, want %d", lines, n)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
}

// TestFailedAlert says what could not be checked and what became of the
// login.
func TestFailedAlert(t *testing.T) {
	a := FailedAlert(errors.New("load the policies: p.yaml:3:1: invalid YAML"), false, Login{User: "dave", Service: "login"}, nil, "web-1", time.Now())
	if a.Action != CheckFailed || a.Priority != "Error" || !strings.Contains(a.Output, "allowed (fail-open)") || !strings.Contains(a.Output, "p.yaml:3:1") {
		t.Errorf("%+v", a)
	}
	if a := FailedAlert(errors.New("x"), true, Login{User: "dave"}, nil, "", time.Now()); !strings.Contains(a.Output, "refused (fail-closed)") {
		t.Errorf("%s", a.Output)
	}
}
