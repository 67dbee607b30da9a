package syscalls

import (
	"strconv"
	"strings"
	"unsafe"

	"github.com/mamori-dev/mamori/event"
)

// Event is what the catalogue's extractors read: one event, its sequence
// number, and the text Falco fields derive from it (command lines, the
// connection tuple, capability names), built on first use into a buffer
// that the next Reset reuses. Strings extracted from an Event are valid
// until its next Reset; a caller that keeps them must copy them.
//
// An Event is not safe for concurrent use; keep one per goroutine.
type Event struct {
	E   *event.Event
	Num uint64 // evt.num

	users *Users
	buf   []byte
	have  uint32 // derived strings built so far, by bit
	text  [numDerived]string
}

// Derived strings, by index into Event.text.
const (
	dArgs = iota
	dCmdline
	dPArgs
	dPCmdline
	dCwd
	dCaps
	dCapsPerm
	dCapsInh
	dTuple
	dEvtArgs
	numDerived
)

// NewEvent returns an Event whose user and group names come from users,
// which may be nil (the names are then not provided).
func NewEvent(users *Users) *Event {
	return &Event{users: users, buf: make([]byte, 0, 4096)}
}

// Reset points the Event at e, forgetting what was derived from the last.
func (ev *Event) Reset(e *event.Event, num uint64) {
	ev.E, ev.Num, ev.have, ev.buf = e, num, 0, ev.buf[:0]
}

// derive returns derived string i, building it with build on first use.
func (ev *Event) derive(i int, build func(b []byte, e *event.Event) []byte) string {
	if ev.have&(1<<i) != 0 {
		return ev.text[i]
	}
	start := len(ev.buf)
	ev.buf = build(ev.buf, ev.E)
	s := ""
	if n := len(ev.buf) - start; n > 0 {
		s = unsafe.String(&ev.buf[start], n)
	}
	ev.text[i] = s
	ev.have |= 1 << i
	return s
}

func asEvent(evt any) *Event { return evt.(*Event) }

// appendArgs appends args[1:] joined by blanks, as Falco's proc.args.
func appendArgs(b []byte, args []string) []byte {
	for i := 1; i < len(args); i++ {
		if i > 1 {
			b = append(b, ' ')
		}
		b = append(b, args[i]...)
	}
	return b
}

// appendCmdline appends Falco's proc.cmdline: the name, then the args.
func appendCmdline(b []byte, p *event.Process) []byte {
	b = append(b, p.Name...)
	if len(p.Args) > 1 {
		b = append(b, ' ')
		b = appendArgs(b, p.Args)
	}
	return b
}

func (ev *Event) args() string {
	return ev.derive(dArgs, func(b []byte, e *event.Event) []byte { return appendArgs(b, e.Process.Args) })
}

func (ev *Event) cmdline() string {
	return ev.derive(dCmdline, func(b []byte, e *event.Event) []byte { return appendCmdline(b, &e.Process) })
}

func (ev *Event) pargs() string {
	return ev.derive(dPArgs, func(b []byte, e *event.Event) []byte {
		if len(e.Process.Ancestors) == 0 {
			return b
		}
		return appendArgs(b, e.Process.Ancestors[0].Args)
	})
}

func (ev *Event) pcmdline() string {
	return ev.derive(dPCmdline, func(b []byte, e *event.Event) []byte {
		if len(e.Process.Ancestors) == 0 {
			return b
		}
		return appendCmdline(b, &e.Process.Ancestors[0])
	})
}

// cwd is Falco's proc.cwd, which ends with a slash.
func (ev *Event) cwd() string {
	c := ev.E.Process.Cwd
	if c == "" || strings.HasSuffix(c, "/") {
		return c
	}
	return ev.derive(dCwd, func(b []byte, e *event.Event) []byte {
		return append(append(b, e.Process.Cwd...), '/')
	})
}

func (ev *Event) caps() string {
	return ev.derive(dCaps, func(b []byte, e *event.Event) []byte { return appendCaps(b, e.Process.CapEffective) })
}

func (ev *Event) capsPermitted() string {
	return ev.derive(dCapsPerm, func(b []byte, e *event.Event) []byte { return appendCaps(b, e.Process.CapPermitted) })
}

func (ev *Event) capsInheritable() string {
	return ev.derive(dCapsInh, func(b []byte, e *event.Event) []byte { return appendCaps(b, e.Process.CapInheritable) })
}

// tuple is fd.name of a socket: client ip:port->server ip:port.
func (ev *Event) tuple() string {
	return ev.derive(dTuple, func(b []byte, e *event.Event) []byte {
		n := e.Network
		if n.Path != "" {
			return append(b, n.Path...)
		}
		cip, cport, _ := client(e)
		sip, sport, _ := server(e)
		b = appendHostPort(b, cip, cport)
		b = append(b, "->"...)
		return appendHostPort(b, sip, sport)
	})
}

func appendHostPort(b []byte, ip string, port uint16) []byte {
	if strings.IndexByte(ip, ':') >= 0 {
		b = append(append(append(b, '['), ip...), ']')
	} else {
		b = append(b, ip...)
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(port), 10)
}

func (ev *Event) itoa(v int64) string {
	start := len(ev.buf)
	ev.buf = strconv.AppendInt(ev.buf, v, 10)
	return unsafe.String(&ev.buf[start], len(ev.buf)-start)
}

// mode is evt.arg.mode: chmod's mode, or the mode of an open that creates.
func (ev *Event) mode() (string, bool) {
	e := ev.E
	if e.File == nil || (e.Type != event.Chmod && e.Type != event.Open) {
		return "", false
	}
	if e.Type == event.Open && !strings.Contains(e.File.Flags, "O_CREAT") {
		return "", false
	}
	start := len(ev.buf)
	ev.buf = append(ev.buf, '0')
	ev.buf = strconv.AppendUint(ev.buf, uint64(e.File.Mode), 8)
	return unsafe.String(&ev.buf[start], len(ev.buf)-start), true
}

// evtArgs renders the event's arguments as name=value pairs, for outputs.
func (ev *Event) evtArgs() string {
	return ev.derive(dEvtArgs, func(b []byte, e *event.Event) []byte {
		kv := func(k, v string) {
			if v == "" {
				return
			}
			if len(b) > 0 && b[len(b)-1] != ' ' {
				b = append(b, ' ')
			}
			b = append(append(append(b, k...), '='), v...)
		}
		b = append(b, "res="...)
		b = strconv.AppendInt(b, e.Result, 10)
		switch {
		case e.Type == event.Exec:
			kv("filename", e.Process.Exe)
		case e.File != nil:
			kv("path", e.File.Path)
			kv("target", e.File.Target)
			kv("flags", e.File.Flags)
			kv("name", e.File.Name)
		case e.Network != nil:
			n := e.Network
			kv("family", n.Family)
			kv("proto", n.Protocol)
			if n.DstIP != "" || n.DstPort != 0 || n.SrcIP != "" {
				b = append(b, " tuple="...)
				b = appendHostPort(b, n.SrcIP, n.SrcPort)
				b = append(b, "->"...)
				b = appendHostPort(b, n.DstIP, n.DstPort)
			}
			kv("path", n.Path)
		}
		if a := e.Args; a != nil {
			kv("request", a.Request)
			kv("source", a.Source)
			kv("target", a.Target)
			kv("fstype", a.FSType)
			kv("flags", a.Flags)
			kv("module", a.Module)
		}
		return b
	})
}
