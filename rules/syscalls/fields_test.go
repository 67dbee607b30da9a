package syscalls

import (
	"net/netip"
	"testing"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
)

// TestFields checks the Falco meaning of the fields whose mapping is not a
// plain copy, on a connect and an exec event.
func TestFields(t *testing.T) {
	connect := &event.Event{Type: event.Connect, Syscall: "connect", Result: -115,
		Process: event.Process{PID: 40, Name: "ssh", Exe: "/usr/bin/ssh", Args: []string{"ssh", "-p", "4444", "h"}, Cwd: "/root",
			Ancestors: []event.Process{{PID: 30, Name: "bash", Args: []string{"bash"}}, {PID: 1, Name: "systemd"}}},
		Container: &event.Container{ID: "0123456789abcdef0123", Image: "registry:5000/team/app:1.2@sha256:ab"},
		Network:   &event.Network{Family: "inet", Protocol: "tcp", SrcIP: "10.0.0.2", SrcPort: 5000, DstIP: "198.51.100.7", DstPort: 4444, FD: 3}}
	want := map[string]any{
		"evt.type": "connect", "evt.res": "EINPROGRESS", "evt.rawres": int64(-115),
		"proc.exe": "ssh", "proc.exepath": "/usr/bin/ssh", "proc.args": "-p 4444 h", "proc.cmdline": "ssh -p 4444 h",
		"proc.cwd": "/root/", "proc.pname": "bash", "container.id": "0123456789ab",
		"container.image.repository": "registry:5000/team/app", "fd.name": "10.0.0.2:5000->198.51.100.7:4444",
		"fd.typechar": "4", "fd.type": "ipv4", "fd.l4proto": "tcp", "fd.sport": int64(4444), "fd.lport": int64(5000),
		"fd.sip": netip.MustParseAddr("198.51.100.7"), "fd.cip": netip.MustParseAddr("10.0.0.2"), "fd.num": int64(3),
	}
	cat := New()
	ev := NewEvent(nil, nil)
	ev.Reset(connect, 1)
	byName := map[string]rules.Field{}
	for _, f := range cat.Fields() {
		byName[f.Name] = f
	}
	for name, w := range want {
		f := byName[name]
		var got any
		var ok bool
		switch f.Type {
		case rules.TypeString:
			got, ok = f.ExtractString(ev, rules.Arg{})
		case rules.TypeNumber:
			got, ok = f.ExtractNumber(ev, rules.Arg{})
		case rules.TypeIP:
			got, ok = f.ExtractIP(ev, rules.Arg{})
		}
		if !ok || got != w {
			t.Errorf("%s = %v (%v), want %v", name, got, ok, w)
		}
	}
	aname := byName["proc.aname"]
	if s, ok := aname.ExtractString(ev, rules.Arg{Index: 2, Set: true}); !ok || s != "systemd" {
		t.Errorf("proc.aname[2] = %q %v", s, ok)
	}
	if _, ok := aname.ExtractString(ev, rules.Arg{Index: 3, Set: true}); ok {
		t.Errorf("proc.aname[3] has a value beyond the ancestors")
	}
	if n := testing.AllocsPerRun(100, func() {
		ev.Reset(connect, 2)
		byName["proc.cmdline"].ExtractString(ev, rules.Arg{})
		byName["fd.name"].ExtractString(ev, rules.Arg{})
		byName["proc.cwd"].ExtractString(ev, rules.Arg{})
	}); n != 0 {
		t.Errorf("derived fields allocate %v times per event", n)
	}
	if why := cat.Missing("proc.vpgid"); why == "" {
		t.Errorf("proc.vpgid has no reason for being missing")
	}
}

// TestOpenFlagsPerEvent: an open's flags, parsed once per event, are
// parsed again for the next event the Event is reset to.
func TestOpenFlagsPerEvent(t *testing.T) {
	byName := map[string]rules.Field{}
	for _, f := range New().Fields() {
		byName[f.Name] = f
	}
	ev := NewEvent(nil, nil)
	for i, tc := range []struct {
		flags               string
		created             bool
		read, write, create bool
		mode                string
	}{
		{"O_WRONLY|O_CREAT|O_TRUNC", true, false, true, true, "0644"},
		{"O_RDONLY", false, true, false, false, "0"},
		{"O_RDWR|O_TMPFILE", false, true, true, true, "0644"},
		{"O_WRONLY|O_APPEND", false, false, true, false, "0"},
	} {
		ev.Reset(&event.Event{Type: event.Open, Syscall: "openat", Result: 3,
			File: &event.File{Path: "/tmp/f", Flags: tc.flags, Mode: 0o644, Created: tc.created}}, uint64(i))
		for name, want := range map[string]bool{"evt.is_open_read": tc.read, "evt.is_open_write": tc.write, "evt.is_open_create": tc.create} {
			if got, ok := byName[name].ExtractBool(ev, rules.Arg{}); !ok || got != want {
				t.Errorf("%s: %s = %v (%v), want %v", tc.flags, name, got, ok, want)
			}
		}
		if got, _ := byName["evt.arg"].ExtractString(ev, rules.Arg{Key: "mode", Set: true}); got != tc.mode {
			t.Errorf("%s: evt.arg.mode = %q, want %q", tc.flags, got, tc.mode)
		}
	}
}
