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
