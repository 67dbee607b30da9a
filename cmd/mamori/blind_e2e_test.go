package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/agent"
	"github.com/mamori-dev/mamori/event"
)

// TestAgentSensorBlind floods an agent whose ring buffer is 4 KiB with file
// events: what the kernel loses is counted per type in /status, logged, and
// reported in one "Sensor Blind" alert (two when more is lost after it, the
// second as the agent stops), and the alerts account for every loss.
func TestAgentSensorBlind(t *testing.T) {
	a := launch(t, "--alerts-output", "--ring-buffer-size", "4K", "--policy", "none",
		"--event-types", "exec,fork,exit,open,unlink")
	dir, err := os.MkdirTemp("/dev/shm", "mamori-blind-")
	if err != nil {
		dir = t.TempDir()
	}
	defer os.RemoveAll(dir)

	// The storm runs in this process: only the agent's own are ignored.
	var wg sync.WaitGroup
	stop := time.Now().Add(1500 * time.Millisecond)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 512)
			for i := 0; time.Now().Before(stop); i++ {
				p := filepath.Join(dir, strconv.Itoa(w)+"-"+strconv.Itoa(i))
				fd, err := syscall.Open(p, syscall.O_CREAT|syscall.O_WRONLY|syscall.O_TRUNC|syscall.O_CLOEXEC, 0o600)
				if err != nil {
					t.Error(err)
					return
				}
				syscall.Write(fd, buf)
				syscall.Close(fd)
				syscall.Unlink(p)
			}
		}()
	}
	wg.Wait()

	var st agent.Status
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + a.addr + "/status")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		// The first report comes at the next look at the counters.
		if strings.Contains(a.stderr.String(), "sensor blind for") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.Dropped == 0 || st.DroppedByType[event.Open].Total() == 0 || st.LastDrop.IsZero() {
		t.Fatalf("a storm into a 4 KiB ring lost no open event: dropped %d, by type %v", st.Dropped, st.DroppedByType)
	}

	a.cmd.Process.Signal(os.Interrupt)
	if err := a.cmd.Wait(); err != nil {
		t.Fatalf("agent exited with %v\n%s", err, a.stderr)
	}
	logs := a.stderr.String()
	m := regexp.MustCompile(`agent stopped.* dropped=(\d+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no drop count in the agent's last line:\n%s", logs)
	}
	dropped, _ := strconv.ParseUint(m[1], 10, 64)

	var blind []event.Alert
	for _, al := range readLines[event.Alert](t, a.out) {
		if al.Rule == "Sensor Blind" {
			blind = append(blind, al)
		}
	}
	if len(blind) == 0 || len(blind) > 2 {
		t.Fatalf("%d Sensor Blind alerts within 10 s, want 1, or 2 with the one at the stop", len(blind))
	}
	var reported uint64
	for _, al := range blind {
		t.Logf("%s", al.Output)
		f := al.OutputFields
		reported += uint64(f["sensor.lost"].(float64))
		lostExec := f["sensor.lost.exec"].(float64)
		want := "Warning"
		if lostExec > 0 || f["sensor.lost.fork"] != nil || f["sensor.lost.exit"] != nil {
			want = "Critical"
		}
		if al.Priority != want || al.Source != "syscall" || al.Action != event.Detected ||
			!regexp.MustCompile(`sensor blind for [<0-9,]+ ms: [0-9,]+ exec, .*[0-9,]+ open.* events lost \(.*\)`).MatchString(al.Output) {
			t.Errorf("alert %s %s %s: %q", al.Priority, al.Source, al.Action, al.Output)
		}
	}
	if reported != dropped {
		t.Errorf("the alerts report %d lost events, the agent counted %d", reported, dropped)
	}
	if n := strings.Count(logs, "sensor blind for"); n != len(blind) {
		t.Errorf("%d log lines for %d alerts:\n%s", n, len(blind), logs)
	}
}
