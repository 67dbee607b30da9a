package sensor

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"unsafe"

	"github.com/mamori-dev/mamori/event"
	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"
)

// TestLayoutMatchesBPF keeps the decoder's offsets in step with the C
// structs, whose Go twins bpf2go generates from the object's BTF.
func TestLayoutMatchesBPF(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"header", headerSize, unsafe.Sizeof(sensorHeader{})},
		{"exec body", execBodySize, unsafe.Sizeof(sensorExecBody{})},
		{"fork body", forkBodySize, unsafe.Sizeof(sensorForkBody{})},
		{"exit body", exitBodySize, unsafe.Sizeof(sensorExitBody{})},
		{"syscall body", syscallBodySize, unsafe.Sizeof(sensorSyscallBody{})},
		{"sock info", sockInfoSize, unsafe.Sizeof(sensorSockInfo{})},
		{"file info", fileInfoSize, unsafe.Sizeof(sensorFileInfo{})},
		{"dns body", dnsBodySize, unsafe.Sizeof(sensorDnsBody{})},
		{"file info.flags", 12, unsafe.Offsetof(sensorFileInfo{}.Flags)},
		{"header.size", 60, unsafe.Offsetof(sensorHeader{}.Size)},
		{"header.comm", 64, unsafe.Offsetof(sensorHeader{}.Comm)},
		{"header.kind", 16, unsafe.Offsetof(sensorHeader{}.Kind)},
		{"header.loginuid", 48, unsafe.Offsetof(sensorHeader{}.Loginuid)},
		{"exec.flags", 72, unsafe.Offsetof(sensorExecBody{}.Flags)},
		{"header.vpid", 80, unsafe.Offsetof(sensorHeader{}.Vpid)},
		{"exec.cap_permitted", 40, unsafe.Offsetof(sensorExecBody{}.CapPermitted)},
		{"exec.tty", 60, unsafe.Offsetof(sensorExecBody{}.Tty)},
		{"syscall.ret", 48, unsafe.Offsetof(sensorSyscallBody{}.Ret)},
		{"syscall.code", 60, unsafe.Offsetof(sensorSyscallBody{}.Code)},
		{"sock.saddr", 12, unsafe.Offsetof(sensorSockInfo{}.Saddr)},
		{"header.mntns", 52, unsafe.Offsetof(sensorHeader{}.Mntns)},
		{"header.pidns", 56, unsafe.Offsetof(sensorHeader{}.Pidns)},
		{"cgroup_move body", moveBodySize, unsafe.Sizeof(sensorCgroupMoveBody{})},
		{"cgroup_move.pid", 8, unsafe.Offsetof(sensorCgroupMoveBody{}.Pid)},
		{"cgroup_move.pidns", 20, unsafe.Offsetof(sensorCgroupMoveBody{}.Pidns)},
		{"cgroup_move.mntns", 24, unsafe.Offsetof(sensorCgroupMoveBody{}.Mntns)},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: decoder uses %d, the BPF object says %d", tc.name, tc.got, tc.want)
		}
	}
}

// recordBuilder writes records the way sensor.bpf.c does, for tests and
// the fuzzer's seeds.
type recordBuilder struct{ b []byte }

func newRecord(kind uint32, pid uint32, comm string) *recordBuilder {
	r := &recordBuilder{b: make([]byte, headerSize)}
	le := binary.LittleEndian
	le.PutUint64(r.b[0:], 1_000_000_000)
	le.PutUint64(r.b[8:], 4242)
	le.PutUint32(r.b[16:], kind)
	le.PutUint32(r.b[20:], pid)
	le.PutUint32(r.b[24:], pid)
	le.PutUint32(r.b[28:], 1)
	le.PutUint32(r.b[48:], ^uint32(0))
	copy(r.b[64:80], comm)
	return r
}

func (r *recordBuilder) body(b []byte) *recordBuilder { r.b = append(r.b, b...); return r }

func (r *recordBuilder) tlv(tag uint8, v []byte) *recordBuilder {
	r.b = append(r.b, tag, 0, byte(len(v)), byte(len(v)>>8))
	r.b = append(r.b, v...)
	return r
}

func (r *recordBuilder) done() []byte {
	binary.LittleEndian.PutUint32(r.b[60:], uint32(len(r.b)))
	return r.b
}

func syscallBody(code uint16, ret int64, args ...uint64) []byte {
	b := make([]byte, syscallBodySize)
	for i, a := range args {
		binary.LittleEndian.PutUint64(b[i*8:], a)
	}
	binary.LittleEndian.PutUint64(b[48:], uint64(ret))
	binary.LittleEndian.PutUint16(b[60:], code)
	return b
}

func codeOf(t testing.TB, name string) uint16 {
	i := slices.IndexFunc(syscallTable, func(d syscallDef) bool { return d.name == name })
	if i < 0 {
		t.Fatalf("no syscall %s", name)
	}
	return uint16(i + 1)
}

func TestDecodeCgroupMove(t *testing.T) {
	body := make([]byte, moveBodySize)
	le := binary.LittleEndian
	le.PutUint64(body[0:], 5321)        // destination id
	le.PutUint32(body[8:], 77)          // moved pid
	le.PutUint32(body[20:], 4026532175) // its pid namespace
	le.PutUint32(body[24:], 4026532174) // its mount namespace
	rec := newRecord(kindMove, 100, "sh")
	le.PutUint32(rec.b[52:], 4026531832) // the writer's mount namespace
	le.PutUint32(rec.b[56:], 4026531836) // the writer's pid namespace
	raw := rec.body(body).tlv(tagCgroup, []byte("/libpod_parent/libpod-abc")).done()
	var ev event.Event
	if err := newDecoder("node", 0).decode(raw, &ev); err != nil {
		t.Fatal(err)
	}
	want := event.Cgroup{ID: 5321, Path: "/libpod_parent/libpod-abc", PID: 77, PidNS: 4026532175, MntNS: 4026532174}
	if ev.Type != event.CgroupMove || ev.Cgroup == nil || *ev.Cgroup != want {
		t.Errorf("decoded %s %+v, want %+v", ev.Type, ev.Cgroup, want)
	}
	if p := ev.Process; p.PID != 100 || p.PidNS != 4026531836 || p.MntNS != 4026531832 {
		t.Errorf("writer %+v", p)
	}
}

func TestDecodeExec(t *testing.T) {
	body := make([]byte, execBodySize)
	binary.LittleEndian.PutUint64(body[8:], 77)                           // inode
	binary.LittleEndian.PutUint32(body[60:], 136<<20|3)                   // tty
	binary.LittleEndian.PutUint32(body[72:], execUpper|execArgsTruncated) // flags
	rec := newRecord(kindExec, 100, "x")
	binary.LittleEndian.PutUint32(rec.b[52:], 4026531832) // mount namespace
	binary.LittleEndian.PutUint32(rec.b[56:], 4026531836) // pid namespace
	raw := rec.body(body).
		tlv(tagExe, []byte("/tmp/x")).tlv(tagCwd, []byte("/root")).
		tlv(tagArgs, []byte("x\x00-a\x00\x00b\x00")).done()
	var ev event.Event
	d := newDecoder("node", 0)
	if err := d.decode(raw, &ev); err != nil {
		t.Fatal(err)
	}
	p := ev.Process
	if ev.Type != event.Exec || p.Exe != "/tmp/x" || p.Cwd != "/root" || p.ExeInode != 77 || p.TTY != 136<<20|3 ||
		!p.ExeUpperLayer || !p.ArgsTruncated || p.ExeFromMemfd || p.LoginUID != -1 || p.Name != "x" ||
		p.PidNS != 4026531836 || p.MntNS != 4026531832 {
		t.Errorf("decoded %+v", p)
	}
	if p.Env != nil || p.EnvTruncated {
		t.Errorf("env %q without an environment field", p.Env)
	}
	if !slices.Equal(p.Args, []string{"x", "-a", "", "b"}) {
		t.Errorf("args %q", p.Args)
	}
	if ev.Time.UnixNano() != 1_000_000_000 || ev.Node != "node" {
		t.Errorf("time %v node %q", ev.Time, ev.Node)
	}
}

func TestDecodeSyscalls(t *testing.T) {
	sockaddr := make([]byte, 16)
	binary.LittleEndian.PutUint16(sockaddr, unix.AF_INET)
	binary.BigEndian.PutUint16(sockaddr[2:], 443)
	copy(sockaddr[4:], []byte{10, 1, 2, 3})
	si := make([]byte, sockInfoSize)
	binary.LittleEndian.PutUint16(si[0:], unix.AF_INET)
	binary.LittleEndian.PutUint16(si[2:], unix.SOCK_STREAM)
	binary.LittleEndian.PutUint16(si[4:], unix.IPPROTO_TCP)
	binary.LittleEndian.PutUint16(si[6:], 50000)
	copy(si[12:], []byte{192, 168, 0, 9})

	for _, tc := range []struct {
		name  string
		raw   []byte
		check func(*event.Event) bool
	}{
		{"openat", newRecord(kindSyscall, 1, "a").body(syscallBody(codeOf(t, "openat"), 3, 0, 0, unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o644)).
			tlv(tagRetPath, []byte("/etc/passwd")).done(),
			func(e *event.Event) bool {
				return e.Type == event.Open && e.File.Path == "/etc/passwd" && e.File.Flags == "O_WRONLY|O_CREAT|O_CLOEXEC" && e.File.Mode == 0o644 && e.File.FD == 3
			}},
		{"openat relative", newRecord(kindSyscall, 1, "a").body(syscallBody(codeOf(t, "openat"), 4, 0xffffff9c, 0, unix.O_RDONLY, 0)).
			tlv(tagRetPath, []byte("/proc/1/fd/1")).tlv(tagStr+1, []byte("../x/./y/")).tlv(tagDir+1, []byte("/srv/a")).
			tlv(tagFile, []byte{7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0x10, 0, fileCreated | fileUpper, 0, 0, 0}).done(),
			func(e *event.Event) bool {
				f := e.File
				return f.PathRaw == "../x/./y/" && f.PathArg == "/srv/x/y/" && f.Path == "/proc/1/fd/1" &&
					f.Inode == 7 && f.Device == 0x100001 && f.Created && f.Layer == "upper"
			}},
		{"renameat relative", newRecord(kindSyscall, 1, "a").body(syscallBody(codeOf(t, "renameat2"), 0)).
			tlv(tagStr+1, []byte("old")).tlv(tagDir+1, []byte("/srv")).tlv(tagStr+3, []byte("/abs/new")).done(),
			func(e *event.Event) bool { return e.File.Path == "/srv/old" && e.File.Target == "/abs/new" }},
		{"connect", newRecord(kindSyscall, 1, "a").body(syscallBody(codeOf(t, "connect"), -115, 5)).
			tlv(tagSockaddr, sockaddr).tlv(tagSock, si).done(),
			func(e *event.Event) bool {
				n := e.Network
				return e.Result == -115 && n.DstIP == "10.1.2.3" && n.DstPort == 443 && n.SrcIP == "192.168.0.9" && n.SrcPort == 50000 && n.Protocol == "tcp" && n.Family == "inet"
			}},
		{"setresuid", newRecord(kindSyscall, 1, "a").body(syscallBody(codeOf(t, "setresuid"), 0, 0xffffffff, 0, 0xffffffff)).done(),
			func(e *event.Event) bool {
				return e.Args.UID == nil && e.Args.EUID != nil && *e.Args.EUID == 0 && e.Args.SUID == nil
			}},
		{"ptrace", newRecord(kindSyscall, 1, "a").body(syscallBody(codeOf(t, "ptrace"), 0, 16, 77)).done(),
			func(e *event.Event) bool { return e.Args.Request == "PTRACE_ATTACH" && e.Args.TargetPID == 77 }},
		{"unshare", newRecord(kindSyscall, 1, "a").body(syscallBody(codeOf(t, "unshare"), 0, unix.CLONE_NEWNS|unix.CLONE_NEWUSER)).done(),
			func(e *event.Event) bool { return e.Args.Flags == "CLONE_NEWNS|CLONE_NEWUSER" }},
	} {
		var ev event.Event
		if err := newDecoder("n", 0).decode(tc.raw, &ev); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !tc.check(&ev) {
			t.Errorf("%s: decoded %+v file %+v net %+v args %+v", tc.name, ev, ev.File, ev.Network, ev.Args)
		}
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	good := newRecord(kindSyscall, 1, "a").body(syscallBody(codeOf(t, "unlink"), 0)).tlv(tagStr, []byte("/x")).done()
	for name, raw := range map[string][]byte{
		"short":        good[:10],
		"size too big": func() []byte { b := slices.Clone(good); binary.LittleEndian.PutUint32(b[60:], 9999); return b }(),
		"unknown kind": func() []byte { b := slices.Clone(good); binary.LittleEndian.PutUint32(b[16:], 99); return b }(),
		"short move":   newRecord(kindMove, 1, "x").body(make([]byte, moveBodySize-1)).done(),
		"unknown code": func() []byte {
			b := slices.Clone(good)
			binary.LittleEndian.PutUint16(b[headerSize+60:], 999)
			return b
		}(),
		"tlv overflows": func() []byte { b := slices.Clone(good); b[len(b)-4] = 200; return b }(),
	} {
		var ev event.Event
		if err := newDecoder("n", 0).decode(raw, &ev); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
}

func TestOpenFlags(t *testing.T) {
	for v, want := range map[uint64]string{
		unix.O_RDONLY:                            "O_RDONLY",
		unix.O_RDWR | unix.O_APPEND:              "O_RDWR|O_APPEND",
		unix.O_WRONLY | unix.O_TMPFILE:           "O_WRONLY|O_TMPFILE",
		unix.O_RDONLY | unix.O_SYNC | 0x40000000: "O_RDONLY|O_SYNC|0x40000000",
	} {
		if got := openFlags(v); got != want {
			t.Errorf("openFlags(%#o) = %q, want %q", v, got, want)
		}
	}
}

// FuzzDecode feeds the decoder arbitrary records: it must return an error or
// an event, never panic.
func FuzzDecode(f *testing.F) {
	f.Add(newRecord(kindExec, 1, "x").body(make([]byte, execBodySize)).tlv(tagExe, []byte("/bin/x")).tlv(tagArgs, []byte("a\x00b")).
		tlv(tagEnv, []byte("A=1\x00\x00B")).done())
	f.Add(newRecord(kindFork, 1, "x").body(make([]byte, forkBodySize)).done())
	f.Add(newRecord(kindExit, 1, "x").body(make([]byte, exitBodySize)).done())
	f.Add(newRecord(kindMove, 1, "x").body(make([]byte, moveBodySize)).tlv(tagCgroup, []byte("/a/b")).done())
	for _, d := range syscallTable {
		code := codeOf(f, d.name)
		f.Add(newRecord(kindSyscall, 1, "x").body(syscallBody(code, 0, 1, 2, 3)).
			tlv(tagStr, []byte("rel")).tlv(tagDir, []byte("/d")).tlv(tagBlob, make([]byte, 24)).
			tlv(tagSockaddr, []byte{10, 0, 1, 2, 0, 0, 0, 0}).tlv(tagSock, make([]byte, sockInfoSize)).
			tlv(tagFile, make([]byte, fileInfoSize)).tlv(tagData, []byte("\xca\xfe")).done())
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{Response: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("a.example."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	b.StartAnswers()
	b.AResource(dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName("a.example."), Class: dnsmessage.ClassINET, TTL: 5}, dnsmessage.AResource{A: [4]byte{10, 0, 0, 1}})
	msg, _ := b.Finish()
	f.Add(newRecord(kindDNS, 0, "").body(make([]byte, dnsBodySize)).tlv(tagData, msg).done())
	d := newDecoder("n", 0)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ev event.Event
		d.decode(raw, &ev)
	})
}

func TestLexicalPath(t *testing.T) {
	for _, tc := range []struct{ dir, name, want string }{
		{"", "/etc/shadow", "/etc/shadow"},
		{"", "/etc/../etc//shadow", "/etc/shadow"},
		{"/tmp", "../../etc/shadow", "/etc/shadow"},
		{"/", "proc/self/fd/1", "/proc/self/fd/1"},
		{"/srv", "./", "/srv/"},
		{"/srv", "a/..", "/srv"},
		{"", "rel", "rel"},
		{"/x", "", ""},
	} {
		if got := lexicalPath(tc.dir, tc.name); got != tc.want {
			t.Errorf("lexicalPath(%q, %q) = %q, want %q", tc.dir, tc.name, got, tc.want)
		}
	}
}

func TestSplitEnv(t *testing.T) {
	for in, want := range map[string][]string{
		"":                     nil,
		"A=1":                  {"A=1"},
		"A=1\x00B=\x00":        {"A=1", "B="},
		"A=1\x00\x00\x00C=3":   {"A=1", "C=3"},
		"HTTP_PROXY=x\x00tail": {"HTTP_PROXY=x", "tail"},
	} {
		if got := splitEnv([]byte(in)); !slices.Equal(got, want) {
			t.Errorf("splitEnv(%q) = %q, want %q", in, got, want)
		}
	}
}
