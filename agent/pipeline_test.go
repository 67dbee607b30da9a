package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/container"
	"github.com/mamori-dev/mamori/detect"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/output"
	"github.com/mamori-dev/mamori/proctree"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/defaults"
	"github.com/mamori-dev/mamori/rules/syscalls"
	"github.com/mamori-dev/mamori/sensor"
)

// pipelineAgent is an Agent with what handle needs for --events: the
// process tree, container attribution, the built-in rules, and events
// written to out as JSON.
func pipelineAgent(t testing.TB, out io.Writer) (*Agent, uint64) {
	log := slog.New(slog.DiscardHandler)
	mnt, err := container.FindCgroup2Mount("/proc/self/mountinfo")
	if err != nil {
		t.Skip("no cgroup v2 hierarchy for container attribution: ", err)
	}
	fi, err := os.Stat(mnt)
	if err != nil {
		t.Skip(err)
	}
	containers, err := container.New(container.Config{}, log)
	if err != nil {
		t.Skip("container attribution: ", err)
	}
	t.Cleanup(func() { containers.Close() })
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{syscalls.New()}}, defaults.File())
	if err != nil {
		t.Fatal(err)
	}
	a := &Agent{
		cfg: Config{Node: "n1", Events: output.New(out, output.JSON),
			Detector: detect.New(rs, detect.Config{Users: syscalls.NewUsers("/")})},
		log:        log,
		tree:       proctree.New(proctree.Config{}, log),
		containers: containers,
	}
	return a, fi.Sys().(*syscall.Stat_t).Ino // the root cgroup's id: the host
}

// stormRecords calls each with the records a file storm makes, as the
// sensor hands them over: one Event reused for every record. Two storms
// run under one shell, below a supervisor with a long, quoted command
// line; on the way the shell execs another program (every event's
// ancestors change), a storm changes user, and a storm's pid is reused by
// a new program.
func stormRecords(ops int, host uint64, each func(sensor.Record)) {
	var ev event.Event
	at := time.Date(2026, 12, 5, 22, 49, 3, 0, time.UTC)
	n := 0
	rec := func(typ event.Type, syscall string, pid, ppid uint32, set func(e *event.Event)) {
		anc := ev.Process.Ancestors[:0]
		ev = event.Event{Kind: "event", Node: "n1", Time: at.Add(time.Duration(n) * 7 * time.Microsecond), Type: typ, Syscall: syscall}
		ev.Process = event.Process{PID: pid, TID: pid, VPID: pid, PPID: ppid, LoginUID: -1, Ancestors: anc}
		if set != nil {
			set(&ev)
		}
		n++
		each(sensor.Record{Event: &ev, CgroupID: host})
	}
	spawn := func(parent, pid uint32, exe string, args ...string) {
		rec(event.Fork, "clone", parent, 0, func(e *event.Event) { e.Process.ChildPID = pid })
		rec(event.Exec, "execve", pid, parent, func(e *event.Event) {
			p := &e.Process
			p.Name, p.Exe, p.Args, p.Cwd = args[0], exe, args, "/root"
			p.SID, p.PGID, p.CapEffective, p.StartTime = 812, pid, 0x1ffffffffff, e.Time
			p.ExeInode, p.ExeDevice, p.ExeMtime = uint64(pid)*3, 259, at.Add(-time.Hour)
		})
	}
	file := func(pid uint32, i int) {
		path := fmt.Sprintf("/tmp/storm/%d/f-%d", pid, i)
		rec(event.Open, "openat", pid, 0, func(e *event.Event) {
			e.Result = 3
			e.File = &event.File{Path: path, PathArg: path, Flags: "O_WRONLY|O_CREAT|O_TRUNC", Mode: 0o644, Created: true, Inode: uint64(i), Device: 47}
		})
		rec(event.Unlink, "unlink", pid, 0, func(e *event.Event) { e.File = &event.File{Path: path} })
	}
	exit := func(pid, ppid uint32) {
		rec(event.Exit, "exit_group", pid, ppid, func(e *event.Event) { code := int32(0); e.Process.ExitCode = &code })
	}
	spawn(0, 1, "/usr/lib/systemd/systemd", "/sbin/init", "splash")
	spawn(1, 1000, "/usr/local/bin/supervisor", "supervisor", "--env", `{"PATH": "/usr/bin", "NOTE": "<a & b>"}`)
	spawn(1000, 1100, "/usr/bin/bash", "bash", "-c", "storm & storm")
	spawn(1100, 1200, "/tmp/storm", "storm", "-mode", "file")
	spawn(1100, 1300, "/tmp/storm", "storm", "-mode", "file")
	for i := range ops {
		switch i {
		case ops / 3:
			rec(event.Exec, "execve", 1100, 1000, func(e *event.Event) {
				p := &e.Process
				p.Name, p.Exe, p.Args, p.Cwd, p.StartTime = "sleep", "/usr/bin/sleep", []string{"sleep", "60"}, "/", at
			})
		case ops / 2:
			exit(1300, 1100)
			spawn(1100, 1300, "/usr/bin/touch", "touch", "/tmp/x")
		}
		pid := uint32(1200)
		if i%3 == 2 {
			pid = 1300
		}
		file(pid, i)
		if i == 2*ops/3 {
			rec(event.Open, "openat", 1200, 0, func(e *event.Event) {
				e.Process.UID, e.Process.EUID = 1000, 1000
				e.File = &event.File{Path: "/tmp/after-setuid", Flags: "O_RDONLY"}
			})
		}
	}
	exit(1200, 1100)
	exit(1300, 1100)
}

// spy keeps what encoding/json makes of every event handed to the
// console, at the moment it is handed over.
type spy struct{ lines [][]byte }

func (s *spy) Alert(*event.Alert) {}
func (s *spy) Event(e *event.Event) {
	b, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	s.lines = append(s.lines, b)
}
func (s *spy) Counts() event.PublisherCounts { return event.PublisherCounts{} }

// TestEventsOutputIsEveryEvent: with --events, every event the sensor
// hands over is written, in order, each line byte for byte what
// encoding/json makes of the event as the pipeline enriched it. It fails
// when a shortcut on the way (the output's memory of processes, say)
// drops, repeats or alters one.
func TestEventsOutputIsEveryEvent(t *testing.T) {
	var out bytes.Buffer
	a, host := pipelineAgent(t, &out)
	s := &spy{}
	a.cfg.Console = s
	records := 0
	stormRecords(3000, host, func(r sensor.Record) {
		records++
		a.handle(r)
	})
	if err := a.cfg.Events.Flush(); err != nil {
		t.Fatal(err)
	}
	got := bytes.Split(bytes.TrimSuffix(out.Bytes(), []byte{'\n'}), []byte{'\n'})
	if h := a.handled.Load(); h != uint64(records) || len(s.lines) != records {
		t.Fatalf("%d records, %d handled, %d given to the console", records, h, len(s.lines))
	}
	if len(got) != records {
		t.Fatalf("%d records, %d lines written", records, len(got))
	}
	for i := range got {
		if !bytes.Equal(got[i], s.lines[i]) {
			t.Fatalf("event %d of %d differs:\n got %s\nwant %s", i, records, got[i], s.lines[i])
		}
	}
	// The changes on the way show: the shell's exec in the storms'
	// ancestors, the new user, the new program on a reused pid.
	for _, want := range []string{`"ancestors":[{"pid":1100,"vpid":1100,"ppid":1000,"name":"sleep"`, `"uid":1000`, `"name":"touch"`} {
		if !bytes.Contains(out.Bytes(), []byte(want)) {
			t.Errorf("no event has %s", want)
		}
	}
}

// BenchmarkHandle is the agent's whole user-space pipeline per event with
// --events and the built-in rules (process tree, container attribution,
// output, detection), on a file storm's records; the JSON goes nowhere.
func BenchmarkHandle(b *testing.B) {
	a, host := pipelineAgent(b, io.Discard)
	var recs []sensor.Record
	stormRecords(2000, host, func(r sensor.Record) {
		e := *r.Event // the sensor's is reused: keep copies
		e.Process.Ancestors = nil
		recs = append(recs, sensor.Record{Event: &e, CgroupID: r.CgroupID})
	})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a.handle(recs[i])
		if i++; i == len(recs) {
			i = 0
		}
	}
}
