package output

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// stormEvent is an open as the agent writes it with --events during a
// file storm: a process with its 8 ancestors, as on a node where the storm
// runs from a shell in an ssh session under a supervisor with a long
// command line (arguments of a kilobyte or two, quotes and all, are common
// above a workload: runtimes, JVMs, process supervisors).
func stormEvent() *event.Event {
	at := time.Date(2026, 12, 5, 22, 49, 3, 123456789, time.UTC)
	boot := at.Add(-3 * time.Hour).Truncate(10 * time.Millisecond)
	proc := func(pid, ppid uint32, name, exe string, args ...string) event.Process {
		return event.Process{PID: pid, PPID: ppid, Name: name, Exe: exe, Args: args, Cwd: "/root",
			LoginUID: -1, SID: 812, PGID: pid, CapEffective: 0x1ffffffffff, CapPermitted: 0x1ffffffffff,
			StartTime: boot.Add(time.Duration(pid) * time.Millisecond), ExeInode: uint64(pid) * 7, ExeDevice: 266338304,
			ExeMtime: boot.Add(-400 * 24 * time.Hour), ExeCtime: boot.Add(-400 * 24 * time.Hour)}
	}
	var env strings.Builder
	env.WriteString(`{`)
	for i := range 30 {
		fmt.Fprintf(&env, `"VAR_%02d": "/etc/ssl/certs/ca-certificates.crt", `, i)
	}
	env.WriteString(`"TERM": "xterm"}`)
	p := proc(29192, 29151, "storm", "/tmp/mamori-bench/storm", "/tmp/mamori-bench/storm", "-mode", "file", "-n", "50000", "-dir", "/tmp/mamori-bench/tmpfs")
	p.VPID, p.TID, p.ExeWritable = 29192, 29192, true
	p.StartTime = at.Add(-time.Second)
	p.Ancestors = []event.Process{
		proc(29151, 29147, "sensorbench", "/tmp/mamori-bench/sensorbench", "/tmp/mamori-bench/sensorbench", "-mamori", "/tmp/mamori-bench/mamori",
			"-storm", "/tmp/mamori-bench/storm", "-out", "/tmp/mamori-bench", "-file-dir", "/tmp/mamori-bench/tmpfs", "-rounds", "3", "-storms", "file"),
		proc(29147, 29146, "bash", "/usr/bin/bash", "bash", "bench/sensor.sh", "-rounds", "3", "-storms", "file", "-file-n", "50000"),
		proc(29146, 26489, "sudo", "/usr/bin/sudo", "sudo", "bench/sensor.sh", "-rounds", "3", "-storms", "file", "-file-n", "50000"),
		proc(26489, 26488, "bash", "/usr/bin/bash", "-bash"),
		proc(26488, 26400, "sshd", "/usr/sbin/sshd", "sshd: root@pts/0"),
		proc(26400, 1000, "sshd", "/usr/sbin/sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"),
		proc(1000, 1, "supervisor", "/usr/local/bin/supervisor", "/usr/local/bin/supervisor", "--uid", "0", "--startup-timeout", "60", "--env", env.String()),
		proc(1, 0, "systemd", "/usr/lib/systemd/systemd", "/sbin/init", "splash"),
	}
	return &event.Event{
		Kind: "event", Time: at, Node: "node-1", Type: event.Open, Syscall: "openat", Result: 3,
		Process:   p,
		Container: &event.Container{ID: event.HostID},
		File: &event.File{Path: "/tmp/mamori-bench/tmpfs/f-0", PathArg: "/tmp/mamori-bench/tmpfs/f-0",
			Flags: "O_WRONLY|O_CREAT|O_TRUNC", Mode: 0o644, FD: 3, Created: true, Inode: 81, Device: 47},
	}
}

// BenchmarkWriteEvent is the agent's --events stage, event by event into
// a Writer as the agent's pipeline calls it: "storm" is one process writing
// files (the file storm: the same process and ancestors every time, a new
// time and path), "new-process" a new process for every event under the
// same ancestors (an exec storm), "alternating" two processes taking turns,
// "busy" 24 processes under shells of their own taking turns at random.
// Compare -benchmem and ns/op with BenchmarkEventJSON, which encodes one
// event alone.
func BenchmarkWriteEvent(b *testing.B) {
	paths := make([]string, 1024)
	for i := range paths {
		paths[i] = fmt.Sprintf("/tmp/mamori-bench/tmpfs/f-%d", i)
	}
	run := func(b *testing.B, next func(e *event.Event, i int)) {
		e := stormEvent()
		w := New(io.Discard, JSON)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			next(e, i)
			if err := w.WriteEvent(e); err != nil {
				b.Fatal(err)
			}
			i++
		}
		w.Flush()
	}
	at := stormEvent().Time
	b.Run("storm", func(b *testing.B) {
		run(b, func(e *event.Event, i int) {
			e.Time = at.Add(time.Duration(i) * 9 * time.Microsecond)
			e.File.Path = paths[i%len(paths)]
			e.File.PathArg = e.File.Path
		})
	})
	b.Run("new-process", func(b *testing.B) {
		run(b, func(e *event.Event, i int) {
			e.Time = at.Add(time.Duration(i) * 9 * time.Microsecond)
			e.Process.PID = 30000 + uint32(i%20000)
			e.Process.TID, e.Process.VPID = e.Process.PID, e.Process.PID
		})
	})
	b.Run("alternating", func(b *testing.B) {
		run(b, func(e *event.Event, i int) {
			e.Time = at.Add(time.Duration(i) * 9 * time.Microsecond)
			e.Process.PID = 29192 + uint32(i%2)
			e.Process.TID, e.Process.VPID = e.Process.PID, e.Process.PID
		})
	})
	b.Run("busy", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 1))
		procs := make([]event.Process, 24)
		for k := range procs {
			p := stormEvent().Process
			p.PID = 1000 + uint32(r.IntN(60000))
			p.TID, p.VPID = p.PID, p.PID
			p.Ancestors[0].PID = p.PID - 1 - uint32(r.IntN(50))
			p.Ancestors[0].Name, p.Ancestors[0].Args = "bash", []string{"bash", "-c", fmt.Sprintf("job-%d", k)}
			procs[k] = p
		}
		order := make([]uint8, 4096)
		for i := range order {
			order[i] = uint8(r.IntN(len(procs)))
		}
		run(b, func(e *event.Event, i int) {
			e.Time = at.Add(time.Duration(i) * 9 * time.Microsecond)
			e.Process = procs[order[i%len(order)]]
		})
	})
}
