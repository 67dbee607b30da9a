package proctree

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		in   string
		want procStat
		err  string
	}{
		{
			in:   "4452 (cat) R 4439 4439 3294 0 -1 4194304 97 0 0 0 0 0 0 0 20 0 1 0 23840 3133440 392\n",
			want: procStat{pid: 4452, comm: "cat", state: 'R', ppid: 4439, pgrp: 4439, session: 3294, flags: 4194304, startTime: 23840},
		},
		{
			in:   "100 (a) b (c) S 1 100 90 34816 100 4194304 0 0 0 0 0 0 0 0 20 0 2 0 250 1000\n",
			want: procStat{pid: 100, comm: "a) b (c", state: 'S', ppid: 1, pgrp: 100, session: 90, ttyNr: 34816, flags: 4194304, startTime: 250},
		},
		{
			in:   "7 ()) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
			want: procStat{pid: 7, comm: ")", state: 'S', ppid: 1, pgrp: 1, session: 1, startTime: 5},
		},
		{
			in:   "8 () Z 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
			want: procStat{pid: 8, comm: "", state: 'Z', ppid: 1, pgrp: 1, session: 1, startTime: 5},
		},
		{in: "this is not a stat file", err: "no (comm)"},
		{in: "1 (x) S 0 1 1 0 -1", err: "fields after comm"},
		{in: "1 (x) S notanumber 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5", err: "field 4"},
		{in: "x (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5", err: "pid"},
		{in: "1 )x( S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5", err: "no (comm)"},
		{in: "", err: "no (comm)"},
	}
	for _, tt := range tests {
		got, err := parseStat([]byte(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseStat(%q) error %v, want one saying %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseStat(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("parseStat(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseHelpers(t *testing.T) {
	if args, tr := parseCmdline([]byte("a\x00b c\x00\x00d\x00"), 100); !reflect.DeepEqual(args, []string{"a", "b c", "", "d"}) || tr {
		t.Errorf("cmdline: %q %v", args, tr)
	}
	if args, tr := parseCmdline([]byte("abcdef\x00ghi\x00"), 8); !reflect.DeepEqual(args, []string{"abcdef", "g"}) || !tr {
		t.Errorf("truncated cmdline: %q %v", args, tr)
	}
	if args, _ := parseCmdline(nil, 100); args != nil {
		t.Errorf("empty cmdline: %q", args)
	}
	// setproctitle(3) rewrites argv into one string without NULs.
	if args, _ := parseCmdline([]byte("sshd: user [priv]"), 100); !reflect.DeepEqual(args, []string{"sshd: user [priv]"}) {
		t.Errorf("retitled cmdline: %q", args)
	}
	for in, want := range map[string]int64{"4294967295": -1, "1000\n": 1000, "0": 0} {
		if got, err := parseLoginUID([]byte(in)); err != nil || got != want {
			t.Errorf("loginuid %q = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseLoginUID([]byte("x")); err == nil {
		t.Error("loginuid x: no error")
	}
	for link, want := range map[string][3]any{
		"/usr/bin/ls":                {"/usr/bin/ls", false, false},
		"/tmp/x (deleted)":           {"/tmp/x", true, false},
		"/memfd:payload (deleted)":   {"/memfd:payload", true, true},
		"/tmp/a (deleted) (deleted)": {"/tmp/a (deleted)", true, false},
	} {
		exe, del, memfd := exeFlags(link)
		if got := [3]any{exe, del, memfd}; got != want {
			t.Errorf("exeFlags(%q) = %v, want %v", link, got, want)
		}
	}
	if _, err := parseStatus([]byte("Name:\tx\n")); err == nil {
		t.Error("status without ids: no error")
	}
	if kernelDev(0x0801) != 8<<20|1 { // sda1 as st_dev
		t.Errorf("kernelDev(0x801) = %#x", kernelDev(0x801))
	}
	if got := kernelDev(1083436); got != 136<<20|300 { // stat's tty_nr of /dev/pts/300
		t.Errorf("kernelDev(tty_nr of pts/300) = %#x", got)
	}
	if got := kernelDev(0x110303); got != 259<<20|259 { // makedev(259, 259)
		t.Errorf("kernelDev(makedev(259, 259)) = %#x", got)
	}
	if got, err := parseBootTime([]byte("cpu 1\nbtime 1700000000\n")); err != nil || got != 1700000000 {
		t.Errorf("btime %d, %v", got, err)
	}
}

func TestScanTestdata(t *testing.T) {
	tr := New(Config{ProcRoot: filepath.Join("testdata", "proc"), ClockTicks: 100}, nil)
	n, err := tr.Scan()
	if err != nil {
		t.Fatal(err)
	}
	// 300 has no stat (vanished), 301 a garbled one: both skipped.
	if n != 5 {
		t.Errorf("scanned %d processes, want 5 (1 2 100 200 500)", n)
	}
	boot := time.Unix(1700000000, 0)
	tests := []struct {
		pid  uint32
		want event.Process
	}{
		{1, event.Process{PID: 1, Name: "systemd", Exe: "/usr/lib/systemd/systemd", Args: []string{"/sbin/init", "splash"},
			Cwd: "/", LoginUID: -1, SID: 1, PGID: 1, CapEffective: 0x1ffffffffff, StartTime: boot.Add(100 * time.Millisecond)}},
		{2, event.Process{PID: 2, Name: "kthreadd", LoginUID: -1, CapEffective: 0x1ffffffffff, StartTime: boot.Add(110 * time.Millisecond)}},
		{100, event.Process{PID: 100, PPID: 1, Name: "a) b (c", Exe: "/tmp/odd", ExeDeleted: true,
			Args: []string{"odd", "--flag=a b", "", "last"}, Cwd: "/home/u/dir with space",
			UID: 1000, EUID: 1001, GID: 2000, EGID: 2001, LoginUID: 1000, TTY: 136 << 20, SID: 90, PGID: 100,
			StartTime: boot.Add(2500 * time.Millisecond)}},
		{200, event.Process{PID: 200, PPID: 100, Name: ")", Exe: "/memfd:payload", ExeDeleted: true, ExeFromMemfd: true,
			Args: []string{"payload"}, LoginUID: 1000, SID: 90, PGID: 200, StartTime: boot.Add(3 * time.Second)}},
		{500, event.Process{PID: 500, PPID: 100, Name: "defunct", LoginUID: -1, SID: 90, PGID: 100, StartTime: boot.Add(4 * time.Second)}},
	}
	for _, tt := range tests {
		got, _, ok := tr.Lookup(tt.pid)
		if !ok {
			t.Errorf("pid %d not scanned", tt.pid)
			continue
		}
		// The exe's inode and times come from whatever the link points at
		// on this machine.
		got.ExeInode, got.ExeDevice, got.ExeMtime, got.ExeCtime = 0, 0, time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("pid %d\n got %+v\nwant %+v", tt.pid, got, tt.want)
		}
	}

	e := openEv(200, 100)
	tr.Enrich(e)
	if got, want := describe(e.Process), `200 /memfd:payload ["payload"] < 100 /tmp/odd < 1 /usr/lib/systemd/systemd`; got != want {
		t.Errorf("enriched\n got %s\nwant %s", got, want)
	}
}

func TestScanKeepsEventState(t *testing.T) {
	tr := New(Config{ProcRoot: filepath.Join("testdata", "proc")}, nil)
	tr.Update(execEv(100, 1, "/usr/bin/newer", "newer"))
	if _, err := tr.Scan(); err != nil {
		t.Fatal(err)
	}
	p, _, _ := tr.Lookup(100)
	if p.Exe != "/usr/bin/newer" {
		t.Errorf("scan overwrote what an event said: exe %q", p.Exe)
	}
}

func TestScanMissingRoot(t *testing.T) {
	tr := New(Config{ProcRoot: filepath.Join(t.TempDir(), "nothing")}, nil)
	if _, err := tr.Scan(); err == nil {
		t.Error("no error for a missing proc root")
	}
}

// TestScanRealProc checks the test binary's own entry and ancestry against
// what the kernel says through os.Getppid and /proc.
func TestScanRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skipf("no procfs: %v", err)
	}
	tr := New(Config{}, nil)
	n, err := tr.Scan()
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Fatalf("scanned %d processes", n)
	}
	if hz := tr.clockTicks(); hz != 100 {
		t.Logf("AT_CLKTCK is %d", hz) // not an error, but unusual on Linux
	}

	self, _, ok := tr.Lookup(uint32(os.Getpid()))
	if !ok {
		t.Fatal("own process not scanned")
	}
	exe, _ := os.Executable()
	if self.Exe != exe || self.PPID != uint32(os.Getppid()) || !reflect.DeepEqual(self.Args, os.Args) {
		t.Errorf("self = exe %q ppid %d args %q; want %q %d %q", self.Exe, self.PPID, self.Args, exe, os.Getppid(), os.Args)
	}
	if wd, _ := os.Getwd(); self.Cwd != wd {
		t.Errorf("cwd %q, want %q", self.Cwd, wd)
	}
	if self.UID != uint32(os.Getuid()) || self.EGID != uint32(os.Getegid()) {
		t.Errorf("ids %d/%d, want %d/%d", self.UID, self.EGID, os.Getuid(), os.Getegid())
	}
	if fi, err := os.Stat(exe); err == nil {
		st := fi.Sys().(*syscall.Stat_t)
		if self.ExeInode != st.Ino || self.ExeDevice != kernelDev(uint64(st.Dev)) {
			t.Errorf("exe inode %d dev %#x, want %d %#x", self.ExeInode, self.ExeDevice, st.Ino, kernelDev(uint64(st.Dev)))
		}
	}
	// btime is whole seconds, so the start time is right to about a second.
	if age := time.Since(self.StartTime); age < -2*time.Second || age > 10*time.Minute {
		t.Errorf("start time %v is %v ago", self.StartTime, age)
	}

	e := &event.Event{Type: event.Open, Process: event.Process{PID: uint32(os.Getpid()), PPID: uint32(os.Getppid())}}
	tr.Enrich(e)
	anc := e.Process.Ancestors
	if len(anc) == 0 {
		t.Fatal("no ancestors")
	}
	// Each ancestor is the parent /proc names for the one before it.
	child := uint32(os.Getpid())
	for _, a := range anc {
		if want := procPPID(t, child); a.PID != want {
			t.Errorf("parent of %d is %d, /proc says %d", child, a.PID, want)
		}
		if comm := procComm(t, a.PID); comm != "" && a.Name != comm {
			t.Errorf("ancestor %d name %q, /proc says %q", a.PID, a.Name, comm)
		}
		child = a.PID
	}
	if last := anc[len(anc)-1]; len(anc) < DefaultMaxAncestors && last.PID != 1 {
		t.Errorf("walk ended at %d (%s), not at pid 1", last.PID, last.Name)
	}
	var names []string
	for _, a := range anc {
		names = append(names, fmt.Sprintf("%d:%s", a.PID, a.Name))
	}
	t.Logf("test binary %d %s, ancestors %s", os.Getpid(), e.Process.Exe, strings.Join(names, " < "))
}

func procPPID(t *testing.T, pid uint32) uint32 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Skipf("process %d went during the test: %v", pid, err)
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	v, _ := strconv.ParseUint(f[1], 10, 32)
	return uint32(v)
}

func procComm(t *testing.T, pid uint32) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}
