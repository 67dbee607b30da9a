package syscalls

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
)

// absent is what a case expects of a field the event does not have.
type absent struct{}

// fieldCase is one field read on one event, and the value libsinsp gives
// it there (its documented format: flag names in its table's order, modes
// as names, mkdir's mode in hexadecimal, <NA> for unnamed users...).
type fieldCase struct {
	field string // with its argument, e.g. proc.env[HTTP_PROXY]
	want  any    // string, int64, bool, netip.Addr, or absent{}
}

func ptr[T any](v T) *T { return &v }

// events the cases read, each as the sensor decodes it.
var (
	createExec = &event.Event{Type: event.Open, Syscall: "openat", Result: 3,
		Process:   event.Process{PID: 10, Name: "cp", Cwd: "/tmp/x"},
		Container: &event.Container{ID: "host"},
		File: &event.File{Path: "/tmp/bin/tool", PathRaw: "../bin/tool", PathArg: "/tmp/bin/tool",
			Flags: "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC", Mode: 0o755, FD: 3, Created: true, Layer: "upper", Inode: 77, Device: 0x800001}}
	procSelfFD = &event.Event{Type: event.Open, Syscall: "openat", Result: 1,
		Container: &event.Container{ID: "host"},
		File:      &event.File{Path: "/", PathRaw: "/proc/self/fd/1", PathArg: "/proc/self/fd/1", Flags: "O_WRONLY", FD: 1}}
	failedRead = &event.Event{Type: event.Open, Syscall: "openat", Result: -2,
		Process:   event.Process{Cwd: "/var/www/"},
		Container: &event.Container{ID: "host"},
		File:      &event.File{PathRaw: "../../etc/shadow", PathArg: "/etc/shadow", Flags: "O_RDONLY", FD: -2}}
	readDir = &event.Event{Type: event.Open, Syscall: "openat", Result: 4,
		Container: &event.Container{ID: "host"},
		File:      &event.File{Path: "/etc/pam.d", PathRaw: "/etc/pam.d", PathArg: "/etc/pam.d", Flags: "O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY", FD: 4}}
	creat = &event.Event{Type: event.Open, Syscall: "creat", Result: 5,
		Container: &event.Container{ID: "host"},
		File:      &event.File{Path: "/dev/x", PathRaw: "/dev/x", PathArg: "/dev/x", Flags: "O_WRONLY|O_CREAT|O_TRUNC", Mode: 0o700, FD: 5, Created: true}}
	chmodSUID = &event.Event{Type: event.Chmod, Syscall: "fchmodat", Container: &event.Container{ID: "host"},
		File: &event.File{Path: "/tmp/sh", Mode: 0o4755}}
	chmodX = &event.Event{Type: event.Chmod, Syscall: "chmod", Container: &event.Container{ID: "host"},
		File: &event.File{Path: "/tmp/sh", Mode: 0o100}}
	chmodZero = &event.Event{Type: event.Chmod, Syscall: "chmod", Container: &event.Container{ID: "host"},
		File: &event.File{Path: "/tmp/sh", Mode: 0}}
	fchmod = &event.Event{Type: event.Chmod, Syscall: "fchmod", Container: &event.Container{ID: "host"},
		File: &event.File{Path: "/tmp/sh", Mode: 0o2755, FD: 3}}
	mkdir = &event.Event{Type: event.Mkdir, Syscall: "mkdir", Container: &event.Container{ID: "host"},
		File: &event.File{Path: "/usr/bin/.hidden", Mode: 0o755}}
	mkdirat = &event.Event{Type: event.Mkdir, Syscall: "mkdirat", Container: &event.Container{ID: "host"},
		File: &event.File{Path: "/tmp/sub", Mode: 0o700}}
	rmdir = &event.Event{Type: event.Unlink, Syscall: "unlinkat", Container: &event.Container{ID: "host"},
		File: &event.File{Path: "/root/.bash_history", Flags: "AT_REMOVEDIR"}}
	unlink = &event.Event{Type: event.Unlink, Syscall: "unlink", Result: -13, Container: &event.Container{ID: "host"},
		File: &event.File{Path: "/root/.bash_history"}}
	rename = &event.Event{Type: event.Rename, Syscall: "renameat2", Container: &event.Container{ID: "host"},
		File: &event.File{Path: "/usr/bin/ls", Target: "/tmp/.ls"}}
	symlink = &event.Event{Type: event.Symlink, Syscall: "symlinkat", Container: &event.Container{ID: "host"},
		File: &event.File{Path: "/tmp/s", Target: "/etc/shadow"}}
	link = &event.Event{Type: event.Link, Syscall: "linkat", Container: &event.Container{ID: "host"},
		File: &event.File{Path: "/tmp/h", Target: "/etc/shadow"}}
	setuid = &event.Event{Type: event.Setuid, Syscall: "setuid", Container: &event.Container{ID: "host"},
		Process: event.Process{EUID: 1001, LoginUID: -1}, Args: &event.Args{UID: ptr[uint32](4242)}}
	setuidNamed = &event.Event{Type: event.Setuid, Syscall: "setuid", Container: &event.Container{ID: "host"},
		Process: event.Process{EUID: 33, EGID: 33, LoginUID: 1000}, Args: &event.Args{UID: ptr[uint32](65534)}}
	setresuid = &event.Event{Type: event.Setuid, Syscall: "setresuid", Container: &event.Container{ID: "host"},
		Args: &event.Args{EUID: ptr[uint32](0)}}
	execUpper = &event.Event{Type: event.Exec, Syscall: "execve", Container: &event.Container{ID: "0123456789abcdef"},
		Process: event.Process{PID: 7, Name: "curl", Exe: "/tmp/curl", Args: []string{"curl", "-o", "x", "http://h/"},
			Env: []string{"PATH=/bin", "HTTP_PROXY= http://10.0.0.1:3128 ", "EMPTY="}, ExeUpperLayer: true, ExeWritable: true,
			CapPermitted: 1 << 21}}
	execPlain = &event.Event{Type: event.Exec, Syscall: "execve", Container: &event.Container{ID: "host"},
		Process: event.Process{PID: 8, Name: "true", Exe: "/bin/true", Args: []string{"true"}}}
	socketPacket = &event.Event{Type: event.Socket, Syscall: "socket", Result: 3, Container: &event.Container{ID: "host"},
		Network: &event.Network{Family: "packet", Type: "raw", Protocol: "packet", FD: 3}}
	socketUnix = &event.Event{Type: event.Socket, Syscall: "socket", Result: 3, Container: &event.Container{ID: "host"},
		Network: &event.Network{Family: "unix", Type: "stream", FD: 3}}
	mount = &event.Event{Type: event.Mount, Syscall: "mount", Container: &event.Container{ID: "host"},
		Args: &event.Args{Source: "/proc", Target: "/mnt", FSType: "none", Flags: "MS_BIND|MS_REC"}}
	unshare = &event.Event{Type: event.Unshare, Syscall: "unshare", Container: &event.Container{ID: "0123456789abcdef"},
		Args: &event.Args{Flags: "CLONE_NEWNS|CLONE_NEWUSER"}}
	unshareNS = &event.Event{Type: event.Unshare, Syscall: "unshare", Result: -1, Container: &event.Container{ID: "0123456789abcdef"},
		Args: &event.Args{Flags: "CLONE_NEWNS"}}
	bpf = &event.Event{Type: event.BPF, Syscall: "bpf", Result: 6, Container: &event.Container{ID: "host"},
		Args: &event.Args{Request: "BPF_PROG_LOAD"}}
	ptrace = &event.Event{Type: event.Ptrace, Syscall: "ptrace", Container: &event.Container{ID: "host"},
		Args: &event.Args{Request: "PTRACE_ATTACH", TargetPID: 99}}
	dup2 = &event.Event{Type: event.Dup, Syscall: "dup2", Result: 1, Container: &event.Container{ID: "host"},
		Network: &event.Network{Family: "inet", Protocol: "tcp", SrcIP: "10.0.0.2", SrcPort: 5000, DstIP: "10.0.0.9", DstPort: 4444, FD: 3},
		Args:    &event.Args{FD: 3, NewFD: 1}}
	mounted = &event.Event{Type: event.Exec, Syscall: "execve", Process: event.Process{VPID: 1},
		Container: &event.Container{ID: "0123456789abcdef", Mounts: []event.BindMount{
			{Source: "/etc", Destination: "/hostetc", RW: false, Propagation: "rprivate"},
			{Source: "/proc/1/root", Destination: "/host", RW: true, Mode: "Z"},
		}}}
	unmounted = &event.Event{Type: event.Exec, Syscall: "execve", Process: event.Process{VPID: 1},
		Container: &event.Container{ID: "0123456789abcdef"}}
	udpSend = &event.Event{Type: event.Send, Syscall: "sendto", Result: 3, Container: &event.Container{ID: "host"},
		Network: &event.Network{Family: "inet", Type: "dgram", Protocol: "udp", SrcIP: "10.0.0.2", SrcPort: 40000,
			DstIP: "169.254.169.254", DstPort: 80, FD: 5, PeerChanged: true, Size: 3, Data: []byte("GET")}}
	javaRecv = &event.Event{Type: event.Recv, Syscall: "recvfrom", Result: 12, Container: &event.Container{ID: "host"},
		Network: &event.Network{Family: "inet", Type: "stream", Protocol: "tcp", SrcIP: "10.0.0.9", SrcPort: 8080,
			DstIP: "10.0.0.2", DstPort: 41000, FD: 7, Connected: true, PeerChanged: true, Size: 12, Data: []byte("\xca\xfe\xba\xbe\x00\x00\x004class")}}
	memfd = &event.Event{Type: event.Memfd, Syscall: "memfd_create", Result: 4, Container: &event.Container{ID: "host"},
		File: &event.File{Path: "memfd:x", Name: "x", FD: 4}, Args: &event.Args{Flags: "MFD_CLOEXEC"}}
)

var fieldCases = []struct {
	name  string
	ev    *event.Event
	cases []fieldCase
}{
	{"openat that creates a file on the upper layer", createExec, []fieldCase{
		{"evt.arg.flags", "O_TRUNC|O_CREAT|O_WRONLY|O_CLOEXEC|O_F_CREATED|FD_UPPER_LAYER"},
		{"evt.arg[flags]", "O_TRUNC|O_CREAT|O_WRONLY|O_CLOEXEC|O_F_CREATED|FD_UPPER_LAYER"},
		{"evt.arg.mode", "0755"},
		{"evt.arg.name", "/tmp/bin/tool"},
		{"evt.arg.fd", "<f>/tmp/bin/tool"},
		{"evt.arg.ino", "77"},
		{"evt.arg.dev", "800001"},
		{"evt.arg[1]", "/tmp/bin/tool"},
		{"evt.args", "fd=3(<f>/tmp/bin/tool) name=../bin/tool(/tmp/bin/tool) flags=53510(O_TRUNC|O_CREAT|O_WRONLY|O_CLOEXEC|O_F_CREATED|FD_UPPER_LAYER) mode=0755 dev=800001 ino=77"},
		{"evt.is_open_write", true}, {"evt.is_open_read", false}, {"evt.is_open_exec", true}, {"evt.is_open_create", true},
		{"fd.name", "/tmp/bin/tool"}, {"fd.nameraw", "../bin/tool"}, {"fd.directory", "/tmp/bin"}, {"fd.filename", "tool"},
		{"fd.typechar", "f"}, {"fd.type", "file"}, {"fd.num", int64(3)},
		{"evt.arg.path", absent{}}, {"evt.arg.uid", absent{}},
	}},
	{"open of /proc/self/fd/1, a pipe", procSelfFD, []fieldCase{
		{"fd.name", "/proc/self/fd/1"}, {"fd.directory", "/proc/self/fd"}, {"fd.filename", "1"},
		{"evt.arg.name", "/proc/self/fd/1"}, {"evt.arg.mode", "0"}, {"evt.arg.flags", "O_WRONLY"},
		{"evt.is_open_exec", false}, {"evt.is_open_create", false},
	}},
	{"failed open through ../", failedRead, []fieldCase{
		{"fd.num", int64(-1)}, {"evt.res", "ENOENT"}, {"evt.rawres", int64(-2)}, {"fd.name", "/etc/shadow"},
		{"fd.nameraw", "../../etc/shadow"}, {"fd.directory", "/etc"}, {"fd.filename", absent{}}, {"fd.type", absent{}},
		// libsinsp guesses a type for an fd that was never made: f for
		// openat, o for open.
		{"fd.typechar", "f"},
		{"evt.is_open_read", true}, {"evt.arg.fd", "ENOENT"}, {"evt.arg.flags", "O_RDONLY"},
	}},
	{"open of a directory", readDir, []fieldCase{
		{"fd.typechar", "d"}, {"fd.type", "directory"}, {"fd.directory", "/etc/pam.d"}, {"fd.filename", absent{}},
		// The kernel's O_TMPFILE includes O_DIRECTORY, and Falco's driver
		// tests the whole mask.
		{"evt.arg.flags", "O_DIRECTORY|O_NONBLOCK|O_RDONLY|O_CLOEXEC|O_TMPFILE"},
		{"evt.is_open_create", true},
	}},
	{"creat", creat, []fieldCase{
		{"evt.is_open_write", false}, {"evt.is_open_exec", true}, {"evt.arg.flags", absent{}}, {"evt.arg.mode", "0700"},
		{"fd.name", "/dev/x"}, {"fd.directory", "/dev"},
	}},
	{"fchmodat of a setuid mode", chmodSUID, []fieldCase{
		{"evt.arg.mode", "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID"},
		{"evt.arg.filename", "/tmp/sh"}, {"fd.name", ""}, {"fd.typechar", absent{}},
		{"evt.args", "res=0 filename=/tmp/sh mode=04755(S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID)"},
	}},
	{"chmod +x", chmodX, []fieldCase{{"evt.arg.mode", "S_IXUSR"}, {"fd.name", absent{}}, {"evt.arg.path", absent{}}}},
	{"chmod 0", chmodZero, []fieldCase{{"evt.arg.mode", "0"}}},
	{"fchmod", fchmod, []fieldCase{
		{"evt.arg.fd", "<f>/tmp/sh"}, {"evt.arg.mode", "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISGID"},
		{"fd.name", "/tmp/sh"}, {"fd.num", int64(3)}, {"evt.arg.filename", absent{}},
	}},
	{"mkdir", mkdir, []fieldCase{
		{"evt.arg.path", "/usr/bin/.hidden"}, {"evt.arg.mode", "1ED"}, {"fd.name", absent{}}, {"fd.directory", absent{}},
	}},
	{"mkdirat", mkdirat, []fieldCase{{"evt.arg.path", "/tmp/sub"}, {"evt.arg.mode", "1C0"}, {"fd.name", ""}}},
	{"unlinkat of a directory", rmdir, []fieldCase{
		{"evt.arg.name", "/root/.bash_history"}, {"evt.arg.flags", "AT_REMOVEDIR"}, {"evt.arg.path", absent{}},
	}},
	{"failed unlink", unlink, []fieldCase{
		{"evt.arg.path", "/root/.bash_history"}, {"evt.arg.res", "EACCES"}, {"evt.res", "EACCES"}, {"evt.arg.name", absent{}},
		{"fd.name", absent{}},
	}},
	{"renameat2", rename, []fieldCase{{"evt.arg.oldpath", "/usr/bin/ls"}, {"evt.arg.newpath", "/tmp/.ls"}, {"fd.name", absent{}}}},
	{"symlinkat", symlink, []fieldCase{{"evt.arg.target", "/etc/shadow"}, {"evt.arg.linkpath", "/tmp/s"}, {"fd.name", ""}}},
	{"linkat", link, []fieldCase{{"evt.arg.oldpath", "/etc/shadow"}, {"evt.arg.newpath", "/tmp/h"}, {"fd.name", absent{}}}},
	{"setuid to an unnamed user", setuid, []fieldCase{
		{"evt.arg.uid", "<NA>"}, {"user.name", "<NA>"}, {"user.uid", int64(1001)}, {"user.loginname", "<NA>"}, {"user.loginuid", int64(-1)},
		{"group.name", "root"},
	}},
	{"setuid by www-data to nobody", setuidNamed, []fieldCase{
		{"evt.arg.uid", "nobody"}, {"user.name", "www-data"}, {"group.name", "www-data"}, {"user.loginname", "alice"},
	}},
	{"setresuid", setresuid, []fieldCase{{"evt.arg.euid", "root"}, {"evt.arg.ruid", "<NONE>"}, {"evt.arg.uid", absent{}}}},
	{"execve of a dropped binary", execUpper, []fieldCase{
		{"evt.arg.flags", "EXE_WRITABLE|EXE_UPPER_LAYER"}, {"proc.is_exe_writable", true},
		{"proc.env", "PATH=/bin HTTP_PROXY= http://10.0.0.1:3128  EMPTY="}, {"proc.env[HTTP_PROXY]", "http://10.0.0.1:3128"},
		{"proc.env[EMPTY]", ""}, {"proc.env[NONE]", ""}, {"fd.name", absent{}}, {"evt.is_open_read", false},
		{"thread.cap_permitted", "CAP_SYS_ADMIN"}, {"container.id", "0123456789ab"},
	}},
	{"execve without environment", execPlain, []fieldCase{{"evt.arg.flags", "0"}, {"proc.env", absent{}}, {"container.name", "host"}}},
	{"packet socket", socketPacket, []fieldCase{{"evt.arg.domain", "AF_PACKET"}, {"fd.typechar", "o"}, {"evt.arg.fd", "<o>"}}},
	{"unix socket", socketUnix, []fieldCase{{"evt.arg.domain", "AF_LOCAL|AF_UNIX"}, {"fd.sockfamily", "unix"}}},
	{"mount", mount, []fieldCase{{"evt.arg.flags", "BIND|REC"}, {"evt.arg.dev", "/proc"}, {"evt.arg.dir", "/mnt"}}},
	{"unshare into a user namespace", unshare, []fieldCase{
		// libsinsp gives the thread every capability when it parses
		// the call, before rules see it.
		{"evt.arg.flags", "CLONE_NEWNS|CLONE_NEWUSER"}, {"thread.cap_permitted", strings.Join(capNames[:], " ")},
	}},
	{"unshare of a mount namespace", unshareNS, []fieldCase{{"evt.arg.flags", "CLONE_NEWNS"}, {"thread.cap_permitted", ""}, {"evt.arg.res", "EPERM"}}},
	{"bpf", bpf, []fieldCase{{"evt.arg.cmd", "BPF_PROG_LOAD"}, {"fd.type", "bpf"}}},
	{"ptrace", ptrace, []fieldCase{{"evt.arg.request", "PTRACE_ATTACH"}, {"evt.arg.pid", "99"}}},
	{"dup2 of a socket onto stdout", dup2, []fieldCase{
		{"evt.rawres", int64(1)}, {"fd.type", "ipv4"}, {"fd.name", "10.0.0.2:5000->10.0.0.9:4444"}, {"evt.arg.oldfd", "<4t>10.0.0.2:5000->10.0.0.9:4444"},
		{"fd.sip", netip.MustParseAddr("10.0.0.9")},
	}},
	{"container with two bind mounts", mounted, []fieldCase{
		{"container.mounts", "/etc:/hostetc::false:rprivate,/proc/1/root:/host:Z:true:"},
		{"container.mount[0]", "/etc:/hostetc::false:rprivate"}, {"container.mount[2]", "none"},
		{"container.mount[/proc*]", "/proc/1/root:/host:Z:true:"},
		{"container.mount.dest[/proc*]", "/host"}, {"container.mount.dest[/etc]", "/hostetc"},
		{"container.mount.dest[/]", "N/A"}, {"container.mount.dest[/var/run/docker.sock]", "N/A"},
		{"container.mount.source[/host*]", "/etc"}, {"container.mount.source[1]", "/proc/1/root"},
		{"container.mount.rdwr[/etc]", "false"}, {"container.mount.mode[1]", "Z"}, {"container.mount.propagation[0]", "rprivate"},
	}},
	{"container without mounts", unmounted, []fieldCase{
		{"container.mounts", ""}, {"container.mount.dest[/proc*]", "N/A"}, {"container.mount[0]", "none"},
	}},
	{"host process", execPlain, []fieldCase{{"container.mounts", absent{}}, {"container.mount.dest[/proc*]", absent{}}}},
	{"sendto on an unconnected UDP socket", udpSend, []fieldCase{
		{"fd.name_changed", true}, {"fd.connected", false}, {"fd.l4proto", "udp"}, {"fd.sip", netip.MustParseAddr("169.254.169.254")},
		{"fd.sport", int64(80)}, {"fd.name", "10.0.0.2:40000->169.254.169.254:80"}, {"evt.buffer", "GET"}, {"evt.buflen", int64(3)},
		{"evt.args", "res=3 data=GET fd=5(<4u>10.0.0.2:40000->169.254.169.254:80) size=3 tuple=10.0.0.2:40000->169.254.169.254:80"},
	}},
	{"recvfrom of a class file on a TCP connection", javaRecv, []fieldCase{
		{"fd.name_changed", false}, {"fd.connected", true}, {"fd.cip", netip.MustParseAddr("10.0.0.9")}, {"fd.type", "ipv4"},
		{"evt.arg.data", ".......4class"}, {"evt.buffer", "\xca\xfe\xba\xbe\x00\x00\x004class"},
	}},
	{"connect", &event.Event{Type: event.Connect, Syscall: "connect", Result: -115, Container: &event.Container{ID: "host"},
		Network: &event.Network{Family: "inet", Protocol: "tcp", SrcIP: "10.0.0.2", SrcPort: 5000, DstIP: "10.0.0.9", DstPort: 22, FD: 3}},
		[]fieldCase{{"fd.connected", true}, {"fd.name_changed", false}, {"evt.res", "EINPROGRESS"}}},
	{"memfd_create", memfd, []fieldCase{{"evt.arg.name", "x"}, {"evt.arg.flags", "MFD_CLOEXEC"}, {"fd.type", "memfd"}, {"fd.name", "x"}}},
}

// TestFieldRendering reads each field of the table on its event and holds
// it to libsinsp's value and format.
func TestFieldRendering(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc", "group"), []byte("www-data:x:33:\n"), 0o644)
	cat := New()
	byName := map[string]rules.Field{}
	for _, f := range cat.Fields() {
		byName[f.Name] = f
	}
	ev := NewEvent(NewUsers(root+"/"), nil)
	for _, c := range fieldCases {
		ev.Reset(c.ev, 1)
		for _, fc := range c.cases {
			got, ok := extract(t, byName, ev, fc.field)
			if _, wantAbsent := fc.want.(absent); wantAbsent {
				if ok {
					t.Errorf("%s: %s = %#v, want no value", c.name, fc.field, got)
				}
				continue
			}
			if !ok || got != fc.want {
				t.Errorf("%s: %s = %#v (present %v), want %#v", c.name, fc.field, got, ok, fc.want)
			}
		}
	}
}

func extract(t *testing.T, byName map[string]rules.Field, ev *Event, spec string) (any, bool) {
	t.Helper()
	name, arg := spec, rules.Arg{}
	if i := strings.IndexByte(spec, '['); i >= 0 {
		name, arg.Key, arg.Set = spec[:i], strings.TrimSuffix(spec[i+1:], "]"), true
		fmt.Sscan(arg.Key, &arg.Index)
	}
	f, ok := byName[name]
	if !ok {
		t.Fatalf("no field %s", name)
	}
	switch f.Type {
	case rules.TypeString, rules.TypeBytes:
		return f.ExtractString(ev, arg)
	case rules.TypeNumber:
		return f.ExtractNumber(ev, arg)
	case rules.TypeBool:
		return f.ExtractBool(ev, arg)
	case rules.TypeIP:
		return f.ExtractIP(ev, arg)
	}
	t.Fatalf("field %s of type %s", name, f.Type)
	return nil, false
}

// TestBufferCondition evaluates Falco's class-file condition, bcontains on
// evt.buffer with a hex pattern, on a receive that holds one and on one
// that does not.
func TestBufferCondition(t *testing.T) {
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{New()}}, rules.File{Name: "t.yaml", Data: []byte(`
- rule: class file
  desc: d
  condition: evt.type=recvfrom and fd.type in (ipv4, ipv6) and evt.buffer bcontains cafebabe
  output: o
  priority: NOTICE
`)})
	if err != nil {
		t.Fatal(err)
	}
	ev := NewEvent(nil, nil)
	ev.Reset(javaRecv, 1)
	if rs.Match(Source, "recvfrom", ev) == nil {
		t.Errorf("a receive holding cafebabe does not match")
	}
	plain := *javaRecv
	n := *plain.Network
	n.Data = []byte("HTTP/1.1 200 OK")
	plain.Network = &n
	ev.Reset(&plain, 2)
	if rs.Match(Source, "recvfrom", ev) != nil {
		t.Errorf("a receive without cafebabe matches")
	}
}
