package syscalls

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
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
	names Names
	buf   []byte
	have  uint32 // derived strings built so far, by bit
	text  [numDerived]string

	// The names of the connection's ends, looked up once per event.
	haveNames uint8
	endNames  [4][]string

	// An open's flags as bits, parsed once per event (openFlagBits).
	haveFlags bool
	flagBits  uint32
}

// Names names addresses, as DNS responses seen on the node did: the most
// recent first, appended to dst.
type Names interface {
	Names(dst []string, a netip.Addr, at time.Time) []string
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
	dOpenFlags
	dOpenFlagsRaw
	dEnv
	dMounts
	numDerived
)

// NewEvent returns an Event whose user and group names come from users
// and whose addresses' names come from names; either may be nil (those
// names are then not provided).
func NewEvent(users *Users, names Names) *Event {
	return &Event{users: users, names: names, buf: make([]byte, 0, 4096)}
}

// Reset points the Event at e, forgetting what was derived from the last.
func (ev *Event) Reset(e *event.Event, num uint64) {
	ev.E, ev.Num, ev.have, ev.buf, ev.haveNames, ev.haveFlags = e, num, 0, ev.buf[:0], 0, false
}

// openFlagBits is openFlags.value of the event's File.Flags, which must be
// there: the open macros of most rules read it, several times per event,
// and parsing the names each time was a quarter of the built-in rules' time on
// an open.
func (ev *Event) openFlagBits() uint32 {
	if !ev.haveFlags {
		ev.flagBits, ev.haveFlags = openFlags.value(ev.E.File.Flags), true
	}
	return ev.flagBits
}

// endNames returns the names of the address of one end of the event's
// connection (an index into ends).
func (ev *Event) endNamesOf(i int, ip func(*Event) (netip.Addr, bool)) []string {
	if ev.haveNames&(1<<i) != 0 {
		return ev.endNames[i]
	}
	ev.haveNames |= 1 << i
	ev.endNames[i] = ev.endNames[i][:0]
	if ev.names == nil {
		return nil
	}
	if a, ok := ip(ev); ok {
		ev.endNames[i] = ev.names.Names(ev.endNames[i], a, ev.E.Time)
	}
	return ev.endNames[i]
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
	return ev.derive(dCaps, func(b []byte, e *event.Event) []byte { return appendCaps(b, capSet(e, e.Process.CapEffective)) })
}

func (ev *Event) capsPermitted() string {
	return ev.derive(dCapsPerm, func(b []byte, e *event.Event) []byte { return appendCaps(b, capSet(e, e.Process.CapPermitted)) })
}

func (ev *Event) capsInheritable() string {
	return ev.derive(dCapsInh, func(b []byte, e *event.Event) []byte { return appendCaps(b, capSet(e, e.Process.CapInheritable)) })
}

// capSet is a capability set as Falco has it on e: an unshare or setns
// into a new user namespace gives the thread every capability (libsinsp
// sets them when it parses the call, before rules see it), so a rule on
// such a call sees them all.
func capSet(e *event.Event, set uint64) uint64 {
	if (e.Type == event.Unshare || e.Type == event.Setns) && e.Args != nil && strings.Contains(e.Args.Flags, "CLONE_NEWUSER") {
		return allCaps
	}
	return set
}

// tuple is fd.name of a socket: client ip:port->server ip:port.
func (ev *Event) tuple() string {
	return ev.derive(dTuple, func(b []byte, e *event.Event) []byte {
		n := e.Network
		if n.Path != "" || n.Family == "unix" {
			return append(b, n.Path...)
		}
		if n.Family != "inet" && n.Family != "inet6" {
			return b
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

// env is proc.env: the environment's variables joined by blanks.
func (ev *Event) env() string {
	return ev.derive(dEnv, func(b []byte, e *event.Event) []byte {
		for i, v := range e.Process.Env {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, v...)
		}
		return b
	})
}

// envVar is proc.env[NAME]: the variable's value, blanks around it trimmed
// as libsinsp trims them; "" when the process has no such variable.
func envVar(env []string, name string) string {
	for _, v := range env {
		if len(v) > len(name) && v[len(name)] == '=' && v[:len(name)] == name {
			return strings.Trim(v[len(name)+1:], " ")
		}
	}
	return ""
}

// userName is how libsinsp names a user id an event passes (setuid's):
// from the process's own passwd file, else <NA>.
func (ev *Event) userName(uid uint32) string {
	if n, ok := ev.users.user(ev.E, uid); ok {
		return n
	}
	return "<NA>"
}

// idName is user.name and group.name: the name, root for id 0 when the
// process's files do not say, else <NA>.
func (ev *Event) idName(id uint32, group bool) string {
	var n string
	var ok bool
	if group {
		n, ok = ev.users.group(ev.E, id)
	} else {
		n, ok = ev.users.user(ev.E, id)
	}
	switch {
	case ok:
		return n
	case id == 0:
		return "root"
	}
	return "<NA>"
}

func (ev *Event) groupName(gid uint32) string {
	if n, ok := ev.users.group(ev.E, gid); ok {
		return n
	}
	return "<NA>"
}

// mounts is container.mounts: each mount as mountText, joined by commas.
func (ev *Event) mounts() string {
	return ev.derive(dMounts, func(b []byte, e *event.Event) []byte {
		for i := range e.Container.Mounts {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendMount(b, &e.Container.Mounts[i])
		}
		return b
	})
}

// mountText is one mount as Falco prints it: source:dest:mode:rdwr:propagation.
func (ev *Event) mountText(m *event.BindMount) string {
	start := len(ev.buf)
	ev.buf = appendMount(ev.buf, m)
	return ev.since(start)
}

func appendMount(b []byte, m *event.BindMount) []byte {
	b = append(append(b, m.Source...), ':')
	b = append(append(b, m.Destination...), ':')
	b = append(append(b, m.Mode...), ':')
	b = append(strconv.AppendBool(b, m.RW), ':')
	return append(b, m.Propagation...)
}

func unsafeString(b []byte) string { return unsafe.String(&b[0], len(b)) }
