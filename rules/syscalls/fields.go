package syscalls

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
	"golang.org/x/sys/unix"
)

// Catalog is the syscall source's field catalogue. It is read-only once
// built and may be shared; each evaluating goroutine needs its own Event.
type Catalog struct {
	fields []rules.Field
}

// New returns the catalogue.
func New() *Catalog { return &Catalog{fields: fieldTable()} }

// Source returns "syscall".
func (c *Catalog) Source() string { return Source }

// Fields returns every field, provided or not.
func (c *Catalog) Fields() []rules.Field { return c.fields }

// EventTypes returns the evt.type names the sensor can deliver.
func (c *Catalog) EventTypes() []string { return FalcoTypes() }

// Missing returns, for a field the catalogue knows but does not provide,
// what the sensor or the event model lacks for it; "" for other names.
func (c *Catalog) Missing(name string) string {
	for _, f := range c.fields {
		if f.Name != name {
			continue
		}
		if i := strings.Index(f.Desc, missingMark); i >= 0 {
			return strings.TrimSuffix(f.Desc[i+len(missingMark):], "]")
		}
	}
	return ""
}

const missingMark = " [not provided: "

// Field constructors. Each extractor takes the *Event the caller passes to
// the ruleset.
func str(name, desc string, fn func(*Event) (string, bool)) rules.Field {
	return rules.Field{Name: name, Type: rules.TypeString, Desc: desc,
		ExtractString: func(evt any, _ rules.Arg) (string, bool) { return fn(asEvent(evt)) }}
}

func num(name, desc string, fn func(*Event) (int64, bool)) rules.Field {
	return rules.Field{Name: name, Type: rules.TypeNumber, Desc: desc,
		ExtractNumber: func(evt any, _ rules.Arg) (int64, bool) { return fn(asEvent(evt)) }}
}

func boolean(name, desc string, fn func(*Event) (bool, bool)) rules.Field {
	return rules.Field{Name: name, Type: rules.TypeBool, Desc: desc,
		ExtractBool: func(evt any, _ rules.Arg) (bool, bool) { return fn(asEvent(evt)) }}
}

func ip(name, desc string, fn func(*Event) (netip.Addr, bool)) rules.Field {
	return rules.Field{Name: name, Type: rules.TypeIP, Desc: desc,
		ExtractIP: func(evt any, _ rules.Arg) (netip.Addr, bool) { return fn(asEvent(evt)) }}
}

// ancestor is a field of the process itself (index 0) or of an ancestor
// (1 the parent, ...); without an index it matches any ancestor.
func ancestor(name, desc string, fn func(p *event.Process) (string, bool)) rules.Field {
	return rules.Field{Name: name, Type: rules.TypeString, Arg: rules.IndexArg, AnyIndex: true, Desc: desc,
		ExtractString: func(evt any, a rules.Arg) (string, bool) {
			e := asEvent(evt).E
			i := a.Index
			if !a.Set {
				i = 1
			}
			if i == 0 {
				return fn(&e.Process)
			}
			if i > len(e.Process.Ancestors) {
				return "", false
			}
			return fn(&e.Process.Ancestors[i-1])
		}}
}

// missing declares a field the language has but mamori cannot feed.
func missing(name string, typ rules.FieldType, desc, why string) rules.Field {
	return rules.Field{Name: name, Type: typ, Desc: desc + missingMark + why + "]"}
}

func parent(e *event.Event) *event.Process {
	if len(e.Process.Ancestors) == 0 {
		return nil
	}
	return &e.Process.Ancestors[0]
}

func argv0(p *event.Process) (string, bool) {
	if len(p.Args) == 0 {
		return "", p.Name != ""
	}
	return p.Args[0], true
}

// server and client return the two ends of a socket event's connection:
// the sensor puts the initiator in Src and the other end in Dst, and the
// local address in Src for bind and listen.
func server(e *event.Event) (string, uint16, bool) {
	n := e.Network
	switch e.Type {
	case event.Bind, event.Listen:
		return n.SrcIP, n.SrcPort, n.SrcIP != "" || n.SrcPort != 0
	}
	return n.DstIP, n.DstPort, n.DstIP != "" || n.DstPort != 0
}

func client(e *event.Event) (string, uint16, bool) {
	n := e.Network
	switch e.Type {
	case event.Bind, event.Listen:
		return "", 0, false
	}
	return n.SrcIP, n.SrcPort, n.SrcIP != "" || n.SrcPort != 0
}

// local and remote: for accept the local end is the server.
func local(e *event.Event) (string, uint16, bool) {
	if e.Type == event.Accept {
		return server(e)
	}
	n := e.Network
	return n.SrcIP, n.SrcPort, n.SrcIP != "" || n.SrcPort != 0
}

func remote(e *event.Event) (string, uint16, bool) {
	if e.Type == event.Accept {
		return client(e)
	}
	if e.Type == event.Bind || e.Type == event.Listen {
		return "", 0, false
	}
	return server(e)
}

type end func(*event.Event) (string, uint16, bool)

func endIP(f end) func(*Event) (netip.Addr, bool) {
	return func(ev *Event) (netip.Addr, bool) {
		if !isSocket(ev.E) {
			return netip.Addr{}, false
		}
		s, _, ok := f(ev.E)
		if !ok || s == "" {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(s)
		return a.Unmap(), err == nil
	}
}

func endPort(f end) func(*Event) (int64, bool) {
	return func(ev *Event) (int64, bool) {
		if !isSocket(ev.E) {
			return 0, false
		}
		_, p, ok := f(ev.E)
		return int64(p), ok
	}
}

// either is an address field Falco matches against both ends; index 1 is
// the server, 2 the client, and without an index either matches.
func either(name, desc string) rules.Field {
	srv, cli := endIP(server), endIP(client)
	return rules.Field{Name: name, Type: rules.TypeIP, Arg: rules.IndexArg, AnyIndex: true, Desc: desc,
		ExtractIP: func(evt any, a rules.Arg) (netip.Addr, bool) {
			switch {
			case !a.Set || a.Index == 1:
				return srv(asEvent(evt))
			case a.Index == 2:
				return cli(asEvent(evt))
			}
			return netip.Addr{}, false
		}}
}

func eitherPort(name, desc string) rules.Field {
	srv, cli := endPort(server), endPort(client)
	return rules.Field{Name: name, Type: rules.TypeNumber, Arg: rules.IndexArg, AnyIndex: true, Desc: desc,
		ExtractNumber: func(evt any, a rules.Arg) (int64, bool) {
			switch {
			case !a.Set || a.Index == 1:
				return srv(asEvent(evt))
			case a.Index == 2:
				return cli(asEvent(evt))
			}
			return 0, false
		}}
}

var afNames = map[string]string{
	"unix": "AF_UNIX", "inet": "AF_INET", "inet6": "AF_INET6", "packet": "AF_PACKET",
	"netlink": "AF_NETLINK", "bluetooth": "AF_BLUETOOTH", "vsock": "AF_VSOCK", "xdp": "AF_XDP",
	"can": "AF_CAN", "alg": "AF_ALG", "key": "AF_KEY",
}

// repository strips the tag and digest from an image reference.
func repository(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndexByte(image, '/')
	if i := strings.LastIndexByte(image, ':'); i > slash {
		image = image[:i]
	}
	return image
}

func tag(image string) (string, bool) {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndexByte(image, '/')
	if i := strings.LastIndexByte(image, ':'); i > slash {
		return image[i+1:], true
	}
	return "", false
}

func ctr(e *event.Event) *event.Container {
	if e.Container.IsHost() {
		return nil
	}
	return e.Container
}

func pod(e *event.Event) *event.Pod {
	if c := ctr(e); c != nil {
		return c.Pod
	}
	return nil
}

func fieldTable() []rules.Field {
	fields := baseFields()
	names := paramNames()
	sort.Strings(names)
	for _, n := range names {
		desc := "argument " + n + " of the event, as Falco prints it"
		if d, ok := argDescs[n]; ok {
			desc = d
		}
		fields = append(fields, str("evt.arg."+n, desc, func(ev *Event) (string, bool) { return ev.arg(n) }))
	}
	return fields
}

func baseFields() []rules.Field {
	return []rules.Field{
		// evt.*
		str("evt.type", "the system call's name (Falco's event type): execve, openat, connect, ...; clone for forks and procexit for exits",
			func(ev *Event) (string, bool) { return EventType(ev.E), true }),
		str("evt.res", "the result: SUCCESS, or the error's name such as ENOENT or EINPROGRESS", func(ev *Event) (string, bool) {
			if ev.E.Result >= 0 {
				return "SUCCESS", true
			}
			return unix.ErrnoName(unix.Errno(-ev.E.Result)), true
		}),
		num("evt.rawres", "the system call's return value; negative errno on failure", func(ev *Event) (int64, bool) { return ev.E.Result, true }),
		num("evt.num", "the event's sequence number in this agent", func(ev *Event) (int64, bool) { return int64(ev.Num), true }),
		str("evt.time", "the event's time of day, with nanoseconds", func(ev *Event) (string, bool) {
			return ev.E.Time.Format("15:04:05.000000000"), true
		}),
		str("evt.time.iso8601", "the event's time in ISO 8601", func(ev *Event) (string, bool) {
			return ev.E.Time.UTC().Format("2006-01-02T15:04:05.000000000Z"), true
		}),
		str("evt.datetime", "the event's date and time", func(ev *Event) (string, bool) {
			return ev.E.Time.Format("2006-01-02 15:04:05.000000000"), true
		}),
		num("evt.rawtime", "the event's time in nanoseconds since the epoch", func(ev *Event) (int64, bool) { return ev.E.Time.UnixNano(), true }),
		str("evt.hostname", "the node that saw the event", func(ev *Event) (string, bool) { return ev.E.Node, true }),
		str("evt.source", "the event source: syscall", func(*Event) (string, bool) { return Source, true }),
		str("evt.dir", "the direction: always < (the sensor reports system calls when they return)", func(*Event) (string, bool) { return "<", true }),
		boolean("evt.is_open_read", "open, openat, openat2: the file was opened for reading; false on other events (creat included, as in Falco)",
			func(ev *Event) (bool, bool) { return openAccess(ev)&ppmORdonly != 0, true }),
		boolean("evt.is_open_write", "open, openat, openat2: the file was opened for writing; false on other events (creat included, as in Falco)",
			func(ev *Event) (bool, bool) { return openAccess(ev)&ppmOWronly != 0, true }),
		boolean("evt.is_open_exec", "an open that may create the file (O_CREAT, O_TMPFILE, creat) with a mode giving execute permission: a new executable; false on other events",
			func(ev *Event) (bool, bool) { return isOpenExec(ev), true }),
		boolean("evt.is_open_create", "the open created the file (or opened an O_TMPFILE); false on other events",
			func(ev *Event) (bool, bool) { return isOpenCreate(ev), true }),
		str("evt.args", "every argument as name=value, with libsinsp's resolved text in parentheses: fd=3(<f>/etc/passwd) flags=4098(O_RDWR|O_CLOEXEC)",
			func(ev *Event) (string, bool) { return ev.evtArgs(), true }),
		{Name: "evt.arg", Type: rules.TypeString, Arg: rules.KeyArg, ArgRequired: true,
			Desc: "an argument by name (evt.arg[flags]) or position (evt.arg[0]), as evt.arg.NAME",
			ExtractString: func(evt any, a rules.Arg) (string, bool) {
				ev := asEvent(evt)
				if i, err := strconv.Atoi(a.Key); err == nil {
					return ev.argAt(i)
				}
				return ev.arg(a.Key)
			}},
		{Name: "evt.buffer", Type: rules.TypeBytes,
			Desc: "sendto, sendmsg, recvfrom, recvmsg: the first 80 bytes sent or received (Falco's default snaplen); evt.buffer bcontains cafebabe looks in them",
			ExtractString: func(evt any, _ rules.Arg) (string, bool) {
				e := asEvent(evt).E
				if (e.Type != event.Send && e.Type != event.Recv) || e.Network == nil {
					return "", false
				}
				if len(e.Network.Data) == 0 {
					return "", true
				}
				return unsafeString(e.Network.Data), true
			}},
		num("evt.buflen", "sendto, sendmsg, recvfrom, recvmsg: the bytes sent or received", func(ev *Event) (int64, bool) {
			e := ev.E
			if (e.Type != event.Send && e.Type != event.Recv) || e.Network == nil {
				return 0, false
			}
			return e.Network.Size, true
		}),

		// proc.*
		str("proc.name", "the process's name (the kernel's comm, at most 15 bytes)", func(ev *Event) (string, bool) {
			return ev.E.Process.Name, true
		}),
		str("proc.exe", "the first command-line argument (argv[0]), as Falco's proc.exe", func(ev *Event) (string, bool) { return argv0(&ev.E.Process) }),
		str("proc.exepath", "the full path of the executable", func(ev *Event) (string, bool) {
			return ev.E.Process.Exe, ev.E.Process.Exe != ""
		}),
		str("proc.args", "the arguments after argv[0], joined by blanks", func(ev *Event) (string, bool) { return ev.args(), true }),
		str("proc.cmdline", "the name then the arguments: proc.name + proc.args", func(ev *Event) (string, bool) { return ev.cmdline(), true }),
		num("proc.pid", "the process id (in the node's pid namespace)", func(ev *Event) (int64, bool) { return int64(ev.E.Process.PID), true }),
		num("proc.ppid", "the parent's process id", func(ev *Event) (int64, bool) { return int64(ev.E.Process.PPID), true }),
		num("thread.tid", "the thread id", func(ev *Event) (int64, bool) {
			p := &ev.E.Process
			if p.TID != 0 {
				return int64(p.TID), true
			}
			return int64(p.PID), true
		}),
		num("proc.vpid", "the process id in its own pid namespace (1 for a container's first process)", func(ev *Event) (int64, bool) {
			if v := ev.E.Process.VPID; v != 0 {
				return int64(v), true
			}
			return 0, false
		}),
		missing("proc.vpgid", rules.TypeNumber, "the process group id in its own pid namespace", "the sensor reports only node-level ids"),
		boolean("proc.is_vpgid_leader", "the process leads its process group", func(ev *Event) (bool, bool) {
			p := &ev.E.Process
			return p.PGID == p.PID, p.PGID != 0
		}),
		num("proc.sid", "the session id", func(ev *Event) (int64, bool) { return int64(ev.E.Process.SID), ev.E.Process.SID != 0 }),
		boolean("proc.is_sid_leader", "the process leads its session", func(ev *Event) (bool, bool) {
			p := &ev.E.Process
			return p.SID == p.PID, p.SID != 0
		}),
		str("proc.sname", "the name of the session leader, when it is among the ancestors", func(ev *Event) (string, bool) {
			p := &ev.E.Process
			if p.SID == 0 {
				return "", false
			}
			if p.SID == p.PID {
				return p.Name, true
			}
			for i := range p.Ancestors {
				if p.Ancestors[i].PID == p.SID {
					return p.Ancestors[i].Name, true
				}
			}
			return "", false
		}),
		num("proc.tty", "the controlling terminal's device number; 0 for none", func(ev *Event) (int64, bool) { return int64(ev.E.Process.TTY), true }),
		str("proc.cwd", "the working directory, ending with /", func(ev *Event) (string, bool) { return ev.cwd(), ev.E.Process.Cwd != "" }),
		num("proc.duration", "nanoseconds since the process started", func(ev *Event) (int64, bool) {
			p := &ev.E.Process
			if p.StartTime.IsZero() {
				return 0, false
			}
			return int64(ev.E.Time.Sub(p.StartTime)), true
		}),
		str("proc.pname", "the parent's name", func(ev *Event) (string, bool) {
			if p := parent(ev.E); p != nil {
				return p.Name, true
			}
			return "", false
		}),
		str("proc.pexe", "the parent's argv[0]", func(ev *Event) (string, bool) {
			if p := parent(ev.E); p != nil {
				return argv0(p)
			}
			return "", false
		}),
		str("proc.pexepath", "the parent's executable path", func(ev *Event) (string, bool) {
			if p := parent(ev.E); p != nil && p.Exe != "" {
				return p.Exe, true
			}
			return "", false
		}),
		str("proc.pcmdline", "the parent's command line", func(ev *Event) (string, bool) {
			if parent(ev.E) == nil {
				return "", false
			}
			return ev.pcmdline(), true
		}),
		str("proc.pargs", "the parent's arguments", func(ev *Event) (string, bool) {
			if parent(ev.E) == nil {
				return "", false
			}
			return ev.pargs(), true
		}),
		num("proc.ppid.duration", "nanoseconds since the parent started", func(ev *Event) (int64, bool) {
			p := parent(ev.E)
			if p == nil || p.StartTime.IsZero() {
				return 0, false
			}
			return int64(ev.E.Time.Sub(p.StartTime)), true
		}),
		ancestor("proc.aname", "an ancestor's name: [1] the parent, [2] the grandparent...; without an index, any ancestor",
			func(p *event.Process) (string, bool) { return p.Name, true }),
		ancestor("proc.aexe", "an ancestor's argv[0], indexed as proc.aname", argv0),
		ancestor("proc.aexepath", "an ancestor's executable path, indexed as proc.aname",
			func(p *event.Process) (string, bool) { return p.Exe, p.Exe != "" }),
		rules.Field{Name: "proc.apid", Type: rules.TypeNumber, Arg: rules.IndexArg, AnyIndex: true,
			Desc: "an ancestor's pid, indexed as proc.aname",
			ExtractNumber: func(evt any, a rules.Arg) (int64, bool) {
				e := asEvent(evt).E
				i := a.Index
				if !a.Set {
					i = 1
				}
				if i == 0 {
					return int64(e.Process.PID), true
				}
				if i > len(e.Process.Ancestors) {
					return 0, false
				}
				return int64(e.Process.Ancestors[i-1].PID), true
			}},
		boolean("proc.is_exe_upper_layer", "the executable is in the container's writable (upper) layer: it was added or changed after the container started",
			func(ev *Event) (bool, bool) { return ev.E.Process.ExeUpperLayer, true }),
		boolean("proc.is_exe_from_memfd", "the executable is a memfd: the program runs from memory",
			func(ev *Event) (bool, bool) { return ev.E.Process.ExeFromMemfd, true }),
		boolean("proc.is_exe_writable", "the process's credentials may write its executable (owner, group and other write bits against its filesystem ids; CAP_DAC_OVERRIDE; not on a read-only filesystem)",
			func(ev *Event) (bool, bool) { return ev.E.Process.ExeWritable, true }),
		boolean("proc.is_exe_lower_layer", "the executable is on an overlayfs, in an image (lower) layer only",
			func(ev *Event) (bool, bool) { return ev.E.Process.ExeLowerLayer, true }),
		num("proc.exe_ino", "the executable's inode number", func(ev *Event) (int64, bool) {
			return int64(ev.E.Process.ExeInode), ev.E.Process.ExeInode != 0
		}),
		num("proc.exe_ino.ctime", "the executable's inode change time, ns since the epoch", func(ev *Event) (int64, bool) { return nanos(ev.E.Process.ExeCtime) }),
		num("proc.exe_ino.mtime", "the executable's modification time, ns since the epoch", func(ev *Event) (int64, bool) { return nanos(ev.E.Process.ExeMtime) }),
		num("proc.exe_ino.ctime_duration_proc_start", "ns from the executable's last change to the process's start", func(ev *Event) (int64, bool) {
			p := &ev.E.Process
			if p.ExeCtime.IsZero() || p.StartTime.IsZero() {
				return 0, false
			}
			return int64(p.StartTime.Sub(p.ExeCtime)), true
		}),
		{Name: "proc.env", Type: rules.TypeString, Arg: rules.KeyArg,
			Desc: "the environment at exec, its NAME=value strings joined by blanks; proc.env[NAME] is one variable's value (\"\" when unset). Captured only when a loaded rule reads it, at most 4096 bytes",
			ExtractString: func(evt any, a rules.Arg) (string, bool) {
				ev := asEvent(evt)
				env := ev.E.Process.Env
				if env == nil {
					return "", false
				}
				if a.Set {
					return envVar(env, a.Key), true
				}
				return ev.env(), true
			}},
		str("thread.cap_effective", "the effective capabilities, as CAP_ names separated by blanks", func(ev *Event) (string, bool) {
			return ev.caps(), true
		}),
		str("thread.cap_permitted", "the permitted capabilities, as CAP_ names separated by blanks", func(ev *Event) (string, bool) {
			return ev.capsPermitted(), true
		}),
		str("thread.cap_inheritable", "the inheritable capabilities, as CAP_ names separated by blanks", func(ev *Event) (string, bool) {
			return ev.capsInheritable(), true
		}),

		// user.*, group.*
		num("user.uid", "the effective user id", func(ev *Event) (int64, bool) { return int64(ev.E.Process.EUID), true }),
		str("user.name", "the effective user's name, from the process's own /etc/passwd (the container's for a container); root for 0 and <NA> for other ids it does not name",
			func(ev *Event) (string, bool) { return ev.idName(ev.E.Process.EUID, false), true }),
		num("user.loginuid", "the audit login uid; -1 when unset", func(ev *Event) (int64, bool) { return ev.E.Process.LoginUID, true }),
		str("user.loginname", "the login user's name, named as user.name; <NA> when there is no login uid", func(ev *Event) (string, bool) {
			if ev.E.Process.LoginUID < 0 {
				return "<NA>", true
			}
			return ev.idName(uint32(ev.E.Process.LoginUID), false), true
		}),
		num("group.gid", "the effective group id", func(ev *Event) (int64, bool) { return int64(ev.E.Process.EGID), true }),
		str("group.name", "the effective group's name, from the process's own /etc/group; root for 0 and <NA> for other ids it does not name",
			func(ev *Event) (string, bool) { return ev.idName(ev.E.Process.EGID, true), true }),

		// fd.*
		str("fd.name", "the fd's name, on events that create or use an fd: an open's path argument made absolute (symlinks not followed), a socket's client ip:port->server ip:port or unix path, the path of an fd passed", fdName),
		str("fd.nameraw", "an open's path argument exactly as the program passed it; fd.name on other fd events", func(ev *Event) (string, bool) {
			if f := ev.E.File; f != nil && fdUseOf(ev.E) == fdOpened {
				return f.PathRaw, true
			}
			return fdName(ev)
		}),
		str("fd.realpath", "mamori: the file an open opened, as the kernel resolved it (symlinks followed, /proc/self/fd/N as what it points to); fd.name is the path as the program named it",
			func(ev *Event) (string, bool) {
				e := ev.E
				if fdUseOf(e) != fdOpened || e.File == nil || e.Result < 0 || e.File.Path == "" {
					return "", false
				}
				return e.File.Path, true
			}),
		str("fd.directory", "a file's directory (/ for a file directly under the root), a directory's own path", fdDirectory),
		str("fd.filename", "an open file's name without its directory", fdFilename),
		num("fd.num", "the fd the event returns or acts on; -1 for a failed open", fdNum),
		str("fd.typechar", "the fd's type as one letter: f file, d directory (opened with O_DIRECTORY), 4 ipv4, 6 ipv6, u unix, n netlink, m memfd, b bpf, o other",
			func(ev *Event) (string, bool) { return fdTypeChar(ev.E) }),
		str("fd.type", "the fd's type: file, directory, ipv4, ipv6, unix, netlink, memfd, bpf, userfaultfd",
			func(ev *Event) (string, bool) { _, n, ok := fdType(ev.E); return n, ok }),
		str("fd.l4proto", "a socket's protocol: tcp, udp, icmp, raw", func(ev *Event) (string, bool) {
			if !isSocket(ev.E) || ev.E.Network.Protocol == "" {
				return "", false
			}
			return ev.E.Network.Protocol, true
		}),
		str("fd.sockfamily", "a socket's family: ip or unix", func(ev *Event) (string, bool) {
			if !isSocket(ev.E) {
				return "", false
			}
			switch ev.E.Network.Family {
			case "inet", "inet6":
				return "ip", true
			case "unix":
				return "unix", true
			}
			return "", false
		}),
		boolean("fd.connected", "the socket is connected: a connect that worked (or is under way), an accepted socket, a send or receive on a connected socket (a TCP connection or a connected UDP socket)", func(ev *Event) (bool, bool) {
			e := ev.E
			if !isSocket(e) {
				return false, false
			}
			switch e.Type {
			case event.Connect:
				return e.Result >= 0 || e.Result == -115, true // EINPROGRESS
			case event.Accept:
				return e.Result >= 0, true
			case event.Send, event.Recv:
				return e.Network.Connected, true
			}
			return e.Network.DstIP != "" || e.Network.DstPort != 0, true
		}),
		boolean("fd.name_changed", "sendto, sendmsg, recvfrom, recvmsg on an unconnected socket: its peer is not the one of its last send or receive (libsinsp's fd name changed); false on other fd events", func(ev *Event) (bool, bool) {
			e := ev.E
			if fdUseOf(e) == noFD {
				return false, false
			}
			if (e.Type == event.Send || e.Type == event.Recv) && e.Network != nil {
				return e.Network.PeerChanged && !e.Network.Connected, true
			}
			return false, true
		}),
		either("fd.ip", "either end's address (fd.ip[1] the server, fd.ip[2] the client)"),
		ip("fd.sip", "the server's address", endIP(server)),
		ip("fd.cip", "the client's address", endIP(client)),
		ip("fd.lip", "the local address", endIP(local)),
		ip("fd.rip", "the remote address", endIP(remote)),
		either("fd.net", "either end's address, compared with networks (fd.net = 10.0.0.0/8)"),
		ip("fd.snet", "the server's address, compared with networks", endIP(server)),
		ip("fd.cnet", "the client's address, compared with networks", endIP(client)),
		ip("fd.lnet", "the local address, compared with networks", endIP(local)),
		ip("fd.rnet", "the remote address, compared with networks", endIP(remote)),
		eitherPort("fd.port", "either end's port (fd.port[1] the server, fd.port[2] the client)"),
		num("fd.sport", "the server's port", endPort(server)),
		num("fd.cport", "the client's port", endPort(client)),
		num("fd.lport", "the local port", endPort(local)),
		num("fd.rport", "the remote port", endPort(remote)),
		nameField("fd.sip.name", "the server's name, as DNS responses seen on the node named its address (fd.sip.name[2] the next most recent...; without an index, any of them matches)", 0, endIP(server)),
		nameField("fd.cip.name", "the client's name, as fd.sip.name", 1, endIP(client)),
		nameField("fd.lip.name", "the local end's name, as fd.sip.name", 2, endIP(local)),
		nameField("fd.rip.name", "the remote end's name, as fd.sip.name", 3, endIP(remote)),
		missing("fd.types", rules.TypeStringList, "the types of the process's open fds", "the sensor does not keep an fd table"),

		// container.*, k8s.*
		str("container.id", "the container's id, shortened to 12 characters as Falco does; host for host processes", func(ev *Event) (string, bool) {
			c := ctr(ev.E)
			if c == nil {
				return event.HostID, true
			}
			if len(c.ID) > 12 {
				return c.ID[:12], true
			}
			return c.ID, true
		}),
		str("container.full_id", "the container's full id; host for host processes", func(ev *Event) (string, bool) {
			if c := ctr(ev.E); c != nil {
				return c.ID, true
			}
			return event.HostID, true
		}),
		str("container.name", "the container's name; host for host processes", func(ev *Event) (string, bool) {
			if c := ctr(ev.E); c != nil {
				return c.Name, c.Name != ""
			}
			return event.HostID, true
		}),
		str("container.image", "the container's image reference, with its tag", func(ev *Event) (string, bool) {
			if c := ctr(ev.E); c != nil && c.Image != "" {
				return c.Image, true
			}
			return "", false
		}),
		str("container.image.repository", "the image reference without tag or digest", func(ev *Event) (string, bool) {
			if c := ctr(ev.E); c != nil && c.Image != "" {
				return repository(c.Image), true
			}
			return "", false
		}),
		str("container.image.tag", "the image's tag", func(ev *Event) (string, bool) {
			if c := ctr(ev.E); c != nil {
				return tag(c.Image)
			}
			return "", false
		}),
		str("container.image.digest", "the image's digest", func(ev *Event) (string, bool) {
			if c := ctr(ev.E); c != nil && c.ImageDigest != "" {
				return c.ImageDigest, true
			}
			return "", false
		}),
		str("container.image.id", "the image's id", func(ev *Event) (string, bool) {
			if c := ctr(ev.E); c != nil && c.ImageID != "" {
				return c.ImageID, true
			}
			return "", false
		}),
		str("container.type", "the container runtime: podman, containerd", func(ev *Event) (string, bool) {
			if c := ctr(ev.E); c != nil && c.Runtime != "" {
				return c.Runtime, true
			}
			return "", false
		}),
		boolean("container.privileged", "the container runs privileged (podman; false where the runtime does not say)", func(ev *Event) (bool, bool) {
			if c := ctr(ev.E); c != nil {
				return c.Privileged, true
			}
			return false, false
		}),
		num("container.start_ts", "when the container was created, in ns since the epoch", func(ev *Event) (int64, bool) {
			if c := ctr(ev.E); c != nil && !c.Created.IsZero() {
				return c.Created.UnixNano(), true
			}
			return 0, false
		}),
		str("container.mounts", "the host paths bound into the container, each source:dest:mode:rdwr:propagation, separated by commas",
			func(ev *Event) (string, bool) {
				if ctr(ev.E) == nil {
					return "", false
				}
				return ev.mounts(), true
			}),
		mountField("container.mount", "one mount, by number (container.mount[0]) or by a glob on its source (container.mount[/usr/local/*]), as source:dest:mode:rdwr:propagation; none when there is no such mount", "none",
			true, func(ev *Event, m *event.BindMount) string { return ev.mountText(m) }),
		mountField("container.mount.source", "a mount's host path, by number or by a glob on its destination; N/A when there is no such mount", "N/A",
			false, func(_ *Event, m *event.BindMount) string { return m.Source }),
		mountField("container.mount.dest", "a mount's path in the container, by number or by a glob on its source (container.mount.dest[/proc*]); N/A when there is no such mount", "N/A",
			true, func(_ *Event, m *event.BindMount) string { return m.Destination }),
		mountField("container.mount.mode", "a mount's SELinux relabelling (z, Z or empty), by number or by a glob on its source; N/A when there is no such mount", "N/A",
			true, func(_ *Event, m *event.BindMount) string { return m.Mode }),
		mountField("container.mount.rdwr", "true for a mount that is not read-only, by number or by a glob on its source; N/A when there is no such mount", "N/A",
			true, func(_ *Event, m *event.BindMount) string { return strconv.FormatBool(m.RW) }),
		mountField("container.mount.propagation", "a mount's propagation (rprivate, rshared...), by number or by a glob on its source; N/A when there is no such mount", "N/A",
			true, func(_ *Event, m *event.BindMount) string { return m.Propagation }),
		str("k8s.ns.name", "the pod's namespace", func(ev *Event) (string, bool) {
			if p := pod(ev.E); p != nil {
				return p.Namespace, true
			}
			return "", false
		}),
		str("k8s.pod.name", "the pod's name", func(ev *Event) (string, bool) {
			if p := pod(ev.E); p != nil {
				return p.Name, true
			}
			return "", false
		}),
		str("k8s.pod.uid", "the pod's uid", func(ev *Event) (string, bool) {
			if p := pod(ev.E); p != nil && p.UID != "" {
				return p.UID, true
			}
			return "", false
		}),
		str("k8s.container.name", "the container's name in its pod", func(ev *Event) (string, bool) {
			if p := pod(ev.E); p != nil && p.Container != "" {
				return p.Container, true
			}
			return "", false
		}),
	}
}

// nameField is a field naming one end of a connection: its address's
// names from the DNS responses the node saw, index 1 the most recent; a
// check without an index holds when it holds for any of them.
func nameField(name, desc string, end int, ip func(*Event) (netip.Addr, bool)) rules.Field {
	return rules.Field{Name: name, Type: rules.TypeString, Arg: rules.IndexArg, AnyIndex: true, Desc: desc,
		ExtractString: func(evt any, a rules.Arg) (string, bool) {
			ev := asEvent(evt)
			names := ev.endNamesOf(end, ip)
			i := 1
			if a.Set {
				i = a.Index
			}
			if i < 1 || i > len(names) {
				return "", false
			}
			return names[i-1], true
		}}
}

// mountField is a container.mount* field: its argument is a mount's
// number, or a glob matched against the mount's source (bySource) or its
// destination; none is what it gives when no mount matches. libsinsp's
// container plugin gives nothing then, and upstream's sensitive_mount
// macro, written for an older Falco that printed N/A, tests
// `not container.mount.dest[/proc*] in ("<NA>","N/A")`: with nothing, that
// holds for every container, so mamori gives the value the macro expects.
func mountField(name, desc, none string, bySource bool, get func(*Event, *event.BindMount) string) rules.Field {
	return rules.Field{Name: name, Type: rules.TypeString, Arg: rules.KeyArg, ArgRequired: true, Desc: desc,
		ExtractString: func(evt any, a rules.Arg) (string, bool) {
			ev := asEvent(evt)
			c := ctr(ev.E)
			if c == nil {
				return "", false
			}
			if i, err := strconv.Atoi(a.Key); err == nil {
				if i < 0 || i >= len(c.Mounts) {
					return none, true
				}
				return get(ev, &c.Mounts[i]), true
			}
			for i := range c.Mounts {
				m := &c.Mounts[i]
				on := m.Destination
				if bySource {
					on = m.Source
				}
				if rules.Glob(a.Key, on) {
					return get(ev, m), true
				}
			}
			return none, true
		}}
}

func nanos(t time.Time) (int64, bool) {
	if t.IsZero() {
		return 0, false
	}
	return t.UnixNano(), true
}
