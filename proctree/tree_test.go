package proctree

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
)

var t0 = time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)

// ev builders: the sensor's exec carries the whole process, fork the
// parent's process plus the child, every other event pid, tid, ppid, comm
// and uids only.

func execEv(pid, ppid uint32, exe string, args ...string) *event.Event {
	name := exe[strings.LastIndexByte(exe, '/')+1:]
	return &event.Event{Type: event.Exec, Time: t0, Process: event.Process{
		PID: pid, TID: pid, PPID: ppid, Name: name, Exe: exe, Args: args, Cwd: "/cwd/" + name,
		UID: 1000, EUID: 1000, LoginUID: 1000, TTY: 136 << 20, StartTime: t0, // pts/0
	}}
}

func forkEv(pid, ppid, child uint32) *event.Event {
	return &event.Event{Type: event.Fork, Time: t0, Process: event.Process{
		PID: pid, TID: pid, PPID: ppid, ChildPID: child, UID: 1000, EUID: 1000,
	}}
}

func threadEv(pid, ppid, tid uint32) *event.Event {
	e := forkEv(pid, ppid, tid)
	e.Process.ChildIsThread = true
	return e
}

func exitEv(pid uint32) *event.Event {
	return &event.Event{Type: event.Exit, Time: t0, Process: event.Process{PID: pid, TID: pid}}
}

func openEv(pid, ppid uint32) *event.Event {
	return &event.Event{Type: event.Open, Time: t0, Process: event.Process{
		PID: pid, TID: pid, PPID: ppid, Name: "comm", UID: 1000, EUID: 1000,
	}}
}

func at(e *event.Event, d time.Duration) *event.Event { e.Time = t0.Add(d); return e }

func tid(e *event.Event, tid uint32) *event.Event { e.Process.TID = tid; return e }

// describe prints the acting process and its ancestors the way the tests
// expect them: "pid exe args < pid exe < ...".
func describe(p event.Process) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %q", p.PID, p.Exe, p.Args)
	for _, a := range p.Ancestors {
		fmt.Fprintf(&b, " < %d %s", a.PID, a.Exe)
	}
	return b.String()
}

// boot is the start of most cases: init, a shell under it, a command
// under the shell.
var boot = []*event.Event{
	execEv(1, 0, "/sbin/init"),
	forkEv(1, 0, 10),
	execEv(10, 1, "/bin/bash", "bash"),
	forkEv(10, 1, 20),
	execEv(20, 10, "/bin/sh", "sh", "-c", "x"),
}

func seq(evs ...[]*event.Event) []*event.Event {
	var all []*event.Event
	for _, e := range evs {
		all = append(all, e...)
	}
	return all
}

func TestUpdateEnrich(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		events []*event.Event
		probe  *event.Event // enriched after the events
		want   string
	}{
		{
			name:   "exec chain",
			events: boot,
			probe:  openEv(20, 10),
			want:   `20 /bin/sh ["sh" "-c" "x"] < 10 /bin/bash < 1 /sbin/init`,
		},
		{
			name:   "exec event itself",
			events: boot,
			probe:  execEv(20, 10, "/bin/sh", "sh", "-c", "x"),
			want:   `20 /bin/sh ["sh" "-c" "x"] < 10 /bin/bash < 1 /sbin/init`,
		},
		{
			name:   "fork without exec is the same program",
			events: seq(boot, []*event.Event{forkEv(20, 10, 21)}),
			probe:  openEv(21, 20),
			want:   `21 /bin/sh ["sh" "-c" "x"] < 20 /bin/sh < 10 /bin/bash < 1 /sbin/init`,
		},
		{
			name:   "exec replaces the image, keeps the parent",
			events: seq(boot, []*event.Event{forkEv(20, 10, 21), execEv(21, 0, "/usr/bin/curl", "curl", "x.io")}),
			probe:  openEv(21, 0),
			want:   `21 /usr/bin/curl ["curl" "x.io"] < 20 /bin/sh < 10 /bin/bash < 1 /sbin/init`,
		},
		{
			name:   "the event's own fields win",
			events: boot,
			probe: func() *event.Event {
				e := openEv(20, 10)
				e.Process.Exe, e.Process.Args = "/proc/self/exe", []string{"own"}
				return e
			}(),
			want: `20 /proc/self/exe ["own"] < 10 /bin/bash < 1 /sbin/init`,
		},
		{
			name:   "exited parent still resolves",
			events: seq(boot, []*event.Event{exitEv(10)}),
			probe:  openEv(20, 10),
			want:   `20 /bin/sh ["sh" "-c" "x"] < 10 /bin/bash < 1 /sbin/init`,
		},
		{
			name:   "exited process's own late event",
			events: seq(boot, []*event.Event{exitEv(20)}),
			probe:  openEv(20, 10),
			want:   `20 /bin/sh ["sh" "-c" "x"] < 10 /bin/bash < 1 /sbin/init`,
		},
		{
			name:   "exited parent forgotten after ExitedKeep later exits",
			cfg:    Config{ExitedKeep: 2},
			events: seq(boot, []*event.Event{forkEv(1, 0, 30), forkEv(1, 0, 31), exitEv(10), exitEv(30), exitEv(31)}),
			probe:  openEv(20, 10),
			want:   `20 /bin/sh ["sh" "-c" "x"]`,
		},
		{
			name:   "exited parent forgotten after ExitedTTL",
			cfg:    Config{ExitedTTL: time.Second},
			events: seq(boot, []*event.Event{exitEv(10), at(openEv(20, 10), 2*time.Second)}),
			probe:  openEv(20, 10),
			want:   `20 /bin/sh ["sh" "-c" "x"]`,
		},
		{
			name:   "exited parent kept within ExitedTTL",
			cfg:    Config{ExitedTTL: time.Second},
			events: seq(boot, []*event.Event{exitEv(10), at(openEv(20, 10), time.Second)}),
			probe:  openEv(20, 10),
			want:   `20 /bin/sh ["sh" "-c" "x"] < 10 /bin/bash < 1 /sbin/init`,
		},
		{
			name:   "reparented: the event's ppid wins",
			events: seq(boot, []*event.Event{exitEv(10), openEv(20, 1)}),
			probe:  openEv(20, 1),
			want:   `20 /bin/sh ["sh" "-c" "x"] < 1 /sbin/init`,
		},
		{
			name:   "reparented: later events without ppid use the corrected one",
			events: seq(boot, []*event.Event{openEv(20, 1)}),
			probe:  openEv(20, 0),
			want:   `20 /bin/sh ["sh" "-c" "x"] < 1 /sbin/init`,
		},
		{
			name: "exec in a thread is the process's exec",
			events: seq(boot, []*event.Event{
				threadEv(20, 10, 25),
				tid(execEv(20, 10, "/usr/bin/python3", "python3"), 25),
				tid(exitEv(20), 26), // another thread goes: the process stays
			}),
			probe: openEv(20, 10),
			want:  `20 /usr/bin/python3 ["python3"] < 10 /bin/bash < 1 /sbin/init`,
		},
		{
			name:   "a thread is no process",
			events: seq(boot, []*event.Event{threadEv(20, 10, 25)}),
			probe:  openEv(25, 0),
			want:   `25  []`,
		},
		{
			name: "pid reuse after exit",
			events: seq(boot, []*event.Event{
				exitEv(20),
				forkEv(1, 0, 20),
			}),
			probe: openEv(20, 1),
			want:  `20 /sbin/init [] < 1 /sbin/init`,
		},
		{
			name: "pid reuse after exit: the old exit does not evict the new process",
			cfg:  Config{ExitedKeep: 1},
			events: seq(boot, []*event.Event{
				exitEv(20),
				forkEv(1, 0, 20),
				execEv(20, 1, "/usr/sbin/cron"),
				forkEv(1, 0, 40),
				exitEv(40), // pushes the first exit of 20 out
			}),
			probe: openEv(20, 1),
			want:  `20 /usr/sbin/cron [] < 1 /sbin/init`,
		},
		{
			name: "pid reuse with the exit lost",
			events: seq(boot, []*event.Event{
				forkEv(1, 0, 20),
			}),
			probe: openEv(20, 1),
			want:  `20 /sbin/init [] < 1 /sbin/init`,
		},
		{
			name:   "exec after a lost fork",
			events: seq(boot, []*event.Event{execEv(50, 20, "/bin/ls", "ls")}),
			probe:  openEv(50, 20),
			want:   `50 /bin/ls ["ls"] < 20 /bin/sh < 10 /bin/bash < 1 /sbin/init`,
		},
		{
			name:   "unknown process is learnt from any event",
			events: seq(boot, []*event.Event{openEv(60, 20), openEv(61, 60)}),
			probe:  openEv(61, 60),
			want:   `61  [] < 60  < 20 /bin/sh < 10 /bin/bash < 1 /sbin/init`,
		},
		{
			name:   "two-process loop",
			events: seq(boot, []*event.Event{openEv(70, 71), openEv(71, 70)}),
			probe:  openEv(70, 71),
			want:   `70  [] < 71 `,
		},
		{
			name:   "own parent",
			events: seq(boot, []*event.Event{openEv(72, 72)}),
			probe:  openEv(72, 72),
			want:   `72  []`,
		},
		{
			name:   "loop above the acting process",
			events: seq(boot, []*event.Event{openEv(73, 74), openEv(74, 75), openEv(75, 74), openEv(76, 73)}),
			probe:  openEv(76, 73),
			want:   `76  [] < 73  < 74  < 75 `,
		},
		{
			name:   "MaxAncestors",
			cfg:    Config{MaxAncestors: 2},
			events: boot,
			probe:  forkEv(20, 10, 0),
			want:   `20 /bin/sh ["sh" "-c" "x"] < 10 /bin/bash < 1 /sbin/init`,
		},
		{
			name: "MaxAncestors cuts the walk",
			cfg:  Config{MaxAncestors: 1},
			events: seq(boot, []*event.Event{
				forkEv(20, 10, 21),
			}),
			probe: openEv(21, 20),
			want:  `21 /bin/sh ["sh" "-c" "x"] < 20 /bin/sh`,
		},
		{
			name:   "walk stops after pid 1",
			events: seq([]*event.Event{openEv(1, 5), openEv(5, 1)}, boot),
			probe:  openEv(20, 10),
			want:   `20 /bin/sh ["sh" "-c" "x"] < 10 /bin/bash < 1 /sbin/init`,
		},
		{
			name: "full tree evicts exited processes first",
			cfg:  Config{MaxEntries: 4},
			events: seq(boot, []*event.Event{
				exitEv(10), // tree: 1, 10 (exited), 20
				forkEv(20, 10, 21),
				forkEv(20, 10, 22), // full: 10 goes, not a live one
			}),
			probe: openEv(22, 20),
			want:  `22 /bin/sh ["sh" "-c" "x"] < 20 /bin/sh`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New(tt.cfg, nil)
			for _, e := range tt.events {
				tr.Update(e)
			}
			tr.Update(tt.probe)
			tr.Enrich(tt.probe)
			if got := describe(tt.probe.Process); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			for _, a := range tt.probe.Process.Ancestors {
				if a.Ancestors != nil {
					t.Errorf("ancestor %d has ancestors", a.PID)
				}
			}
		})
	}
}

func TestEnrichAncestorFields(t *testing.T) {
	tr := New(Config{}, nil)
	bash := execEv(10, 1, "/bin/bash", "bash", "-l")
	bash.Process.UID, bash.Process.GID, bash.Process.EUID, bash.Process.EGID = 1, 2, 3, 4
	bash.Process.SID, bash.Process.PGID, bash.Process.CapEffective = 10, 10, 0x20
	bash.Process.ExeInode, bash.Process.ExeDevice = 42, 8<<20|1
	bash.Process.ExeMtime, bash.Process.ExeCtime = t0.Add(-time.Hour), t0.Add(-time.Minute)
	bash.Process.ExeUpperLayer, bash.Process.ExeDeleted, bash.Process.ArgsTruncated = true, true, true
	tr.Update(bash)
	tr.Update(forkEv(10, 1, 20))

	e := openEv(20, 10)
	tr.Enrich(e)
	if len(e.Process.Ancestors) != 1 {
		t.Fatalf("ancestors: %s", describe(e.Process))
	}
	want := bash.Process
	want.TID = 0 // the tree keeps processes, not threads
	if got := e.Process.Ancestors[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("ancestor\n got %+v\nwant %+v", got, want)
	}

	// The forked child took the image and, from the event, the credentials.
	p := e.Process
	if p.Cwd != "/cwd/bash" || p.TTY != 136<<20 || p.SID != 10 ||
		!p.ExeUpperLayer || !p.ExeDeleted || p.ExeInode != 42 || !p.ArgsTruncated || p.UID != 1000 {
		t.Errorf("acting process not completed: %+v", p)
	}
	if !p.StartTime.Equal(t0) {
		t.Errorf("child start time %v, want the fork's time %v", p.StartTime, t0)
	}
}

func TestEnrichReusesAncestors(t *testing.T) {
	tr := New(Config{}, nil)
	for _, e := range boot {
		tr.Update(e)
	}
	e := openEv(20, 10)
	e.Process.Ancestors = make([]event.Process, 0, 8)
	e.Process.Ancestors = append(e.Process.Ancestors, event.Process{PID: 999, Exe: "stale"})
	backing := &e.Process.Ancestors[:1][0]
	tr.Enrich(e)
	if got := describe(e.Process); got != `20 /bin/sh ["sh" "-c" "x"] < 10 /bin/bash < 1 /sbin/init` {
		t.Fatalf("got %s", got)
	}
	if &e.Process.Ancestors[0] != backing {
		t.Error("Ancestors was reallocated although it had the capacity")
	}

	// With nothing to add, the slice is emptied, not left stale.
	e = openEv(1, 0)
	e.Process.Ancestors = []event.Process{{PID: 999}}
	tr.Enrich(e)
	if len(e.Process.Ancestors) != 0 {
		t.Errorf("stale ancestors left: %v", e.Process.Ancestors)
	}
}

func TestTreeDoesNotShareEventArgs(t *testing.T) {
	tr := New(Config{}, nil)
	e := execEv(10, 1, "/bin/bash", "bash")
	tr.Update(e)
	e.Process.Args[0] = "changed" // the caller recycles its event
	p, _, _ := tr.Lookup(10)
	if p.Args[0] != "bash" {
		t.Errorf("tree args changed with the event's: %q", p.Args)
	}
}

func TestStatsAndLookup(t *testing.T) {
	tr := New(Config{}, nil)
	for _, e := range seq(boot, []*event.Event{exitEv(20), threadEv(10, 1, 11)}) {
		tr.Update(e)
	}
	got := tr.Stats()
	want := Stats{Live: 2, Exited: 1, Execs: 3, Forks: 3, Exits: 1}
	if got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
	if _, exited, ok := tr.Lookup(20); !ok || !exited {
		t.Errorf("Lookup(20) = exited %v, ok %v; want an exited process", exited, ok)
	}
	if _, _, ok := tr.Lookup(11); ok {
		t.Error("a thread was added as a process")
	}
}

func TestEvictLive(t *testing.T) {
	tr := New(Config{MaxEntries: 3}, nil)
	for _, e := range boot {
		tr.Update(e)
	}
	tr.Update(openEv(1, 0))
	tr.Update(openEv(20, 10))
	tr.Update(forkEv(20, 10, 21)) // full and nothing exited: the least recently seen (10) goes
	if tr.Len() != 3 {
		t.Fatalf("len %d, want the cap 3", tr.Len())
	}
	if _, _, ok := tr.Lookup(1); !ok {
		t.Error("pid 1 evicted")
	}
	if _, _, ok := tr.Lookup(21); !ok {
		t.Error("new process not added")
	}
	if s := tr.Stats(); s.Evicted != 1 {
		t.Errorf("evicted %d, want 1", s.Evicted)
	}
}

// TestChurn runs many fork/exit cycles through a small tree and checks that
// the bounds hold.
func TestChurn(t *testing.T) {
	cfg := Config{MaxEntries: 100, ExitedKeep: 20}
	tr := New(cfg, nil)
	for _, e := range boot {
		tr.Update(e)
	}
	for i := range uint32(10000) {
		pid := 100 + i%500 // reuses pids
		tr.Update(forkEv(20, 10, pid))
		if i%3 != 0 {
			tr.Update(execEv(pid, 20, "/bin/true"))
		}
		if i%7 != 0 {
			tr.Update(exitEv(pid))
		}
		e := openEv(pid, 20)
		tr.Enrich(e)
		if n := tr.Len(); n > cfg.MaxEntries {
			t.Fatalf("len %d over the cap", n)
		}
	}
	s := tr.Stats()
	if s.Exited > 20 || s.Live+s.Exited != tr.Len() {
		t.Errorf("stats %+v with len %d", s, tr.Len())
	}
}

// TestFillSetsEveryField guards fill, which sets fields one by one: every
// field of a recycled event.Process must be overwritten, including fields
// added to the model after fill was written.
func TestFillSetsEveryField(t *testing.T) {
	var p event.Process
	v := reflect.ValueOf(&p).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("stale")
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int32, reflect.Int64:
			f.SetInt(7)
		case reflect.Uint32, reflect.Uint64:
			f.SetUint(7)
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.Struct: // time.Time
			f.Set(reflect.ValueOf(t0))
		default:
			t.Fatalf("field %s: kind %s not handled by this test", v.Type().Field(i).Name, f.Kind())
		}
		if f.IsZero() {
			t.Fatalf("field %s left zero by this test", v.Type().Field(i).Name)
		}
	}
	(&entry{img: &image{}}).fill(&p)
	for i := range v.NumField() {
		if !v.Field(i).IsZero() {
			t.Errorf("fill left event.Process.%s = %v", v.Type().Field(i).Name, v.Field(i))
		}
	}
}
