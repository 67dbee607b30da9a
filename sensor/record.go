package sensor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"path/filepath"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// Record layout, mirrored from sensor.bpf.c. The sizes are checked against
// the bpf2go types in record_test.go.
const (
	headerSize      = 88
	execBodySize    = 80
	forkBodySize    = 16
	exitBodySize    = 8
	moveBodySize    = 32
	syscallBodySize = 64
	sockInfoSize    = 44
	tlvHeadSize     = 4
	maxTLVs         = 16
)

const (
	kindExec    = 1
	kindFork    = 2
	kindExit    = 3
	kindSyscall = 4
	kindMove    = 5 // cgroup_move
	kindDNS     = 6
)

const (
	tagExe      = 1
	tagCwd      = 2
	tagArgs     = 3
	tagFilename = 4
	tagRetPath  = 5
	tagSockaddr = 6
	tagBlob     = 7
	tagSock     = 8
	tagCgroup   = 9
	tagEnv      = 10
	tagFile     = 11
	tagData     = 12
	tagStr      = 0x10
	tagFDPath   = 0x20
	tagDir      = 0x30
)

const (
	execUpper         = 1 << 0
	execMemfd         = 1 << 1
	execDeleted       = 1 << 2
	execArgsTruncated = 1 << 3
	execEnvTruncated  = 1 << 4
	execLower         = 1 << 5
	execWritable      = 1 << 6
)

// Flags of struct file_info.
const (
	fileCreated = 1 << 0
	fileUpper   = 1 << 1
	fileLower   = 1 << 2

	fileInfoSize = 16
)

// ErrMalformed wraps every error about a record that does not parse.
var ErrMalformed = errors.New("malformed sensor record")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

type tlv struct {
	tag uint8
	val []byte
}

// fields is the TLV section of one record, parsed without allocating.
type fields struct {
	n    int
	list [maxTLVs]tlv
}

func (f *fields) get(tag uint8) ([]byte, bool) {
	for i := 0; i < f.n; i++ {
		if f.list[i].tag == tag {
			return f.list[i].val, true
		}
	}
	return nil, false
}

func (f *fields) str(tag uint8) string {
	v, _ := f.get(tag)
	return string(v)
}

func parseFields(b []byte, f *fields) error {
	f.n = 0
	for len(b) > 0 {
		if len(b) < tlvHeadSize {
			return malformed("%d stray bytes after the last field", len(b))
		}
		tag, n := b[0], int(binary.LittleEndian.Uint16(b[2:4]))
		if n > len(b)-tlvHeadSize {
			return malformed("field %#x claims %d bytes, %d left", tag, n, len(b)-tlvHeadSize)
		}
		if f.n == maxTLVs {
			return malformed("more than %d fields", maxTLVs)
		}
		f.list[f.n] = tlv{tag: tag, val: b[tlvHeadSize : tlvHeadSize+n]}
		f.n++
		b = b[tlvHeadSize+n:]
	}
	return nil
}

// decoder turns ring-buffer records into events. It is not safe for
// concurrent use; the sensor has one per reader.
type decoder struct {
	node      string
	bootToRT  int64 // add to a CLOCK_BOOTTIME ns value to get Unix ns
	syscalls  []syscallDef
	fields    fields
	flagNames flagCache
}

func newDecoder(node string, bootToRT int64) *decoder {
	return &decoder{node: node, bootToRT: bootToRT, syscalls: syscallTable}
}

func (d *decoder) wall(boot uint64) time.Time {
	return time.Unix(0, int64(boot)+d.bootToRT)
}

// decode fills ev from one record. ev is reset first, keeping the capacity
// of its Ancestors so that enrichment can reuse it.
func (d *decoder) decode(raw []byte, ev *event.Event) error {
	if len(raw) < headerSize {
		return malformed("%d bytes, shorter than the %d-byte header", len(raw), headerSize)
	}
	le := binary.LittleEndian
	size := le.Uint32(raw[60:64])
	if int(size) != len(raw) {
		// The ring buffer rounds records up to 8 bytes; anything else is corruption.
		if int(size) > len(raw) || len(raw)-int(size) >= 8 {
			return malformed("header says %d bytes, record has %d", size, len(raw))
		}
		raw = raw[:size]
	}
	anc := ev.Process.Ancestors[:0]
	*ev = event.Event{Kind: "event", Node: d.node}
	ev.Process.Ancestors = anc
	ev.Time = d.wall(le.Uint64(raw[0:8]))
	p := &ev.Process
	p.PID = le.Uint32(raw[20:24])
	p.TID = le.Uint32(raw[24:28])
	p.PPID = le.Uint32(raw[28:32])
	p.UID = le.Uint32(raw[32:36])
	p.GID = le.Uint32(raw[36:40])
	p.EUID = le.Uint32(raw[40:44])
	p.EGID = le.Uint32(raw[44:48])
	p.LoginUID = loginUID(le.Uint32(raw[48:52]))
	p.Name = cString(raw[64:80])
	p.VPID = le.Uint32(raw[80:84])

	kind := le.Uint32(raw[16:20])
	switch kind {
	case kindExec:
		return d.decodeExec(raw, ev)
	case kindFork:
		if len(raw) < headerSize+forkBodySize {
			return malformed("fork record of %d bytes", len(raw))
		}
		b := raw[headerSize:]
		ev.Type = event.Fork
		p.ChildPID = le.Uint32(b[8:12])
		p.ChildIsThread = le.Uint32(b[8:12]) != le.Uint32(b[12:16])
		return nil
	case kindExit:
		if len(raw) < headerSize+exitBodySize {
			return malformed("exit record of %d bytes", len(raw))
		}
		ev.Type = event.Exit
		status := int32(le.Uint32(raw[headerSize:]))
		if sig := status & 0x7f; sig != 0 {
			ev.Process.ExitSignal = &sig
		} else {
			code := (status >> 8) & 0xff
			ev.Process.ExitCode = &code
		}
		return nil
	case kindSyscall:
		return d.decodeSyscall(raw, ev)
	case kindMove:
		return d.decodeMove(raw, ev)
	case kindDNS:
		return d.decodeDNS(raw, ev)
	}
	return malformed("unknown record kind %d", kind)
}

// CgroupID returns the cgroup v2 id in a record's header, for attribution.
func cgroupID(raw []byte) uint64 {
	if len(raw) < 16 {
		return 0
	}
	return binary.LittleEndian.Uint64(raw[8:16])
}

func (d *decoder) decodeExec(raw []byte, ev *event.Event) error {
	if len(raw) < headerSize+execBodySize {
		return malformed("exec record of %d bytes", len(raw))
	}
	le := binary.LittleEndian
	b := raw[headerSize : headerSize+execBodySize]
	if err := parseFields(raw[headerSize+execBodySize:], &d.fields); err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	ev.Type = event.Exec
	ev.Syscall = "execve"
	p := &ev.Process
	p.StartTime = d.wall(le.Uint64(b[0:8]))
	p.ExeInode = le.Uint64(b[8:16])
	if ns := le.Uint64(b[16:24]); ns != 0 {
		p.ExeMtime = time.Unix(0, int64(ns))
	}
	if ns := le.Uint64(b[24:32]); ns != 0 {
		p.ExeCtime = time.Unix(0, int64(ns))
	}
	p.CapEffective = le.Uint64(b[32:40])
	p.CapPermitted = le.Uint64(b[40:48])
	p.CapInheritable = le.Uint64(b[48:56])
	p.ExeDevice = le.Uint32(b[56:60])
	p.TTY = le.Uint32(b[60:64])
	p.SID = le.Uint32(b[64:68])
	p.PGID = le.Uint32(b[68:72])
	p.MntNS, p.PidNS = le.Uint32(raw[52:56]), le.Uint32(raw[56:60])
	flags := le.Uint32(b[72:76])
	p.ExeUpperLayer = flags&execUpper != 0
	p.ExeFromMemfd = flags&execMemfd != 0
	p.ExeDeleted = flags&execDeleted != 0
	p.ExeLowerLayer = flags&execLower != 0
	p.ExeWritable = flags&execWritable != 0
	p.ArgsTruncated = flags&execArgsTruncated != 0
	p.Exe = d.fields.str(tagExe)
	p.Cwd = d.fields.str(tagCwd)
	args, _ := d.fields.get(tagArgs)
	p.Args = splitArgs(args)
	if env, ok := d.fields.get(tagEnv); ok {
		p.Env = splitEnv(env)
	}
	p.EnvTruncated = flags&execEnvTruncated != 0
	if p.Exe == "" {
		p.Exe = d.fields.str(tagFilename)
	}
	return nil
}

// decodeMove reads a cgroup_move record: its header is the writer of
// cgroup.procs, its body the process moved.
func (d *decoder) decodeMove(raw []byte, ev *event.Event) error {
	if len(raw) < headerSize+moveBodySize {
		return malformed("cgroup_move record of %d bytes", len(raw))
	}
	le := binary.LittleEndian
	b := raw[headerSize : headerSize+moveBodySize]
	if err := parseFields(raw[headerSize+moveBodySize:], &d.fields); err != nil {
		return fmt.Errorf("cgroup_move: %w", err)
	}
	ev.Type = event.CgroupMove
	ev.Process.MntNS, ev.Process.PidNS = le.Uint32(raw[52:56]), le.Uint32(raw[56:60])
	ev.Cgroup = &event.Cgroup{
		ID:    le.Uint64(b[0:8]),
		Path:  d.fields.str(tagCgroup),
		PID:   le.Uint32(b[8:12]),
		PidNS: le.Uint32(b[20:24]),
		MntNS: le.Uint32(b[24:28]),
	}
	return nil
}

func (d *decoder) decodeSyscall(raw []byte, ev *event.Event) error {
	if len(raw) < headerSize+syscallBodySize {
		return malformed("syscall record of %d bytes", len(raw))
	}
	le := binary.LittleEndian
	b := raw[headerSize : headerSize+syscallBodySize]
	var a [6]uint64
	for i := range a {
		a[i] = le.Uint64(b[i*8:])
	}
	ret := int64(le.Uint64(b[48:56]))
	code := int(le.Uint16(b[60:62]))
	if code < 1 || code > len(d.syscalls) {
		return malformed("unknown syscall code %d", code)
	}
	if err := parseFields(raw[headerSize+syscallBodySize:], &d.fields); err != nil {
		return fmt.Errorf("%s: %w", d.syscalls[code-1].name, err)
	}
	def := &d.syscalls[code-1]
	ev.Type, ev.Syscall, ev.Result = def.typ, def.name, ret
	f := &d.fields

	switch def.typ {
	case event.Open:
		file := &event.File{Path: f.str(tagRetPath), FD: int32(ret)}
		for i := uint8(0); i < 6; i++ {
			if def.spec.StrArgs&(1<<i) != 0 {
				file.PathRaw = f.str(tagStr + i)
				dir, _ := f.get(tagDir + i)
				file.PathArg = lexicalPath(string(dir), file.PathRaw)
			}
		}
		if fi, ok := f.get(tagFile); ok && len(fi) >= fileInfoSize {
			file.Inode, file.Device = le.Uint64(fi[0:8]), le.Uint32(fi[8:12])
			fl := le.Uint32(fi[12:16])
			file.Created = fl&fileCreated != 0
			switch {
			case fl&fileUpper != 0:
				file.Layer = "upper"
			case fl&fileLower != 0:
				file.Layer = "lower"
			}
		}
		switch def.name {
		case "open":
			file.Flags, file.Mode = d.flagNames.open(a[1]), uint32(a[2])
		case "creat":
			file.Flags, file.Mode = d.flagNames.open(0o1101), uint32(a[1]) // O_WRONLY|O_CREAT|O_TRUNC
		case "openat":
			file.Flags, file.Mode = d.flagNames.open(a[2]), uint32(a[3])
		case "openat2":
			if how, ok := f.get(tagBlob); ok && len(how) >= 16 {
				file.Flags, file.Mode = d.flagNames.open(le.Uint64(how[0:8])), uint32(le.Uint64(how[8:16]))
			}
		}
		ev.File = file
	case event.Unlink, event.Chmod, event.Truncate, event.Mkdir, event.Rmdir:
		file := &event.File{}
		for i := uint8(0); i < 6; i++ {
			if def.spec.StrArgs&(1<<i) != 0 {
				file.Path = resolve(f, i)
			}
			if def.spec.FdArgs&(1<<i) != 0 {
				file.Path, file.FD = f.str(tagFDPath+i), int32(a[i])
			}
		}
		switch def.name {
		case "chmod", "fchmod", "mkdir":
			file.Mode = uint32(a[1])
		case "mkdirat":
			file.Mode = uint32(a[2])
		case "fchmodat", "fchmodat2":
			file.Mode = uint32(a[2])
		case "unlinkat":
			if a[2]&0x200 != 0 {
				file.Flags = "AT_REMOVEDIR"
			}
		}
		ev.File = file
	case event.Rename, event.Link, event.Symlink:
		var first, second uint8 = 0, 1
		if def.spec.StrArgs&(1<<3) != 0 { // renameat, linkat
			first, second = 1, 3
		} else if def.name == "symlinkat" {
			first, second = 0, 2
		}
		switch def.typ {
		case event.Rename:
			ev.File = &event.File{Path: resolve(f, first), Target: resolve(f, second)}
		case event.Link:
			ev.File = &event.File{Path: resolve(f, second), Target: resolve(f, first)}
		case event.Symlink:
			ev.File = &event.File{Path: resolve(f, second), Target: f.str(tagStr + first)}
		}
	case event.Memfd:
		name := f.str(tagStr)
		ev.File = &event.File{Path: "memfd:" + name, Name: name, FD: int32(ret)}
		ev.Args = &event.Args{Flags: memfdFlags(a[1])}
	case event.Send, event.Recv:
		ev.Network = d.sendRecv(def, a, ret, f)
	case event.Connect, event.Bind, event.Listen, event.Accept, event.Dup:
		ev.Network = d.network(def, a, ret, f)
		if def.typ == event.Dup {
			ev.Args = &event.Args{FD: int32(a[0]), NewFD: int32(ret)}
		}
	case event.Socket:
		ev.Network = &event.Network{
			Family:   familyName(uint16(a[0])),
			Type:     sockTypeName(a[1] & 0xf),
			Protocol: protoName(uint16(a[0]), uint16(a[1]&0xf), uint16(a[2])),
			FD:       int32(ret),
		}
	case event.Setuid, event.Setgid:
		ev.Args = idArgs(def, a)
	case event.Capset:
		args := &event.Args{}
		if data, ok := f.get(tagBlob); ok && len(data) >= 24 {
			eff := uint64(le.Uint32(data[0:])) | uint64(le.Uint32(data[12:]))<<32
			perm := uint64(le.Uint32(data[4:])) | uint64(le.Uint32(data[16:]))<<32
			inh := uint64(le.Uint32(data[8:])) | uint64(le.Uint32(data[20:]))<<32
			args.CapEffective, args.CapPermitted, args.CapInheritable = &eff, &perm, &inh
		}
		ev.Args = args
	case event.Ptrace:
		ev.Args = &event.Args{Request: ptraceRequest(a[0]), TargetPID: uint32(a[1])}
	case event.Mount:
		ev.Args = &event.Args{Source: f.str(tagStr), Target: f.str(tagStr + 1), FSType: f.str(tagStr + 2), Flags: mountFlags(a[3])}
	case event.Umount:
		ev.Args = &event.Args{Target: f.str(tagStr), Flags: umountFlags(a[1])}
	case event.ModuleLoad:
		args := &event.Args{Module: "<memory>", Flags: f.str(tagStr + 2)}
		if def.name == "finit_module" {
			args.Module, args.FD, args.Flags = f.str(tagFDPath), int32(a[0]), f.str(tagStr+1)
		}
		ev.Args = args
	case event.BPF:
		ev.Args = &event.Args{Request: bpfCommand(a[0])}
	case event.Userfaultfd:
		ev.Args = &event.Args{Flags: userfaultfdFlags(a[0])}
	case event.Unshare:
		ev.Args = &event.Args{Flags: nsFlags(a[0])}
	case event.Setns:
		// nsfs names its files on demand, so the fd's path is rarely more than "/".
		target := f.str(tagFDPath)
		if target == "/" {
			target = ""
		}
		ev.Args = &event.Args{FD: int32(a[0]), Target: target, Flags: nsFlags(a[1])}
	}
	return nil
}

// resolve returns string argument i as an absolute path where the kernel sent
// the directory a relative one is resolved in.
func resolve(f *fields, i uint8) string {
	s := f.str(tagStr + i)
	if s == "" || s[0] == '/' {
		return s
	}
	if dir, ok := f.get(tagDir + i); ok {
		return filepath.Join(string(dir), s)
	}
	return s
}

func (d *decoder) network(def *syscallDef, a [6]uint64, ret int64, f *fields) *event.Network {
	n := &event.Network{FD: int32(a[0])}
	if def.typ == event.Accept {
		n.FD = int32(ret)
	}
	if def.typ == event.Listen {
		n.Backlog = int32(a[1])
	}
	if si, ok := f.get(tagSock); ok && len(si) >= sockInfoSize {
		le := binary.LittleEndian
		fam, typ, proto := le.Uint16(si[0:]), le.Uint16(si[2:]), le.Uint16(si[4:])
		sport, dport := le.Uint16(si[6:]), le.Uint16(si[8:])
		n.Family, n.Type, n.Protocol = familyName(fam), sockTypeName(uint64(typ)), protoName(fam, typ, proto)
		local, remote := ipString(fam, si[12:28]), ipString(fam, si[28:44])
		if def.typ == event.Accept {
			// The peer initiated: it is the source.
			n.SrcIP, n.SrcPort, n.DstIP, n.DstPort = remote, dport, local, sport
		} else {
			n.SrcIP, n.SrcPort = local, sport
			if def.typ != event.Bind && def.typ != event.Listen {
				n.DstIP, n.DstPort = remote, dport
			}
		}
	}
	if sa, ok := f.get(tagSockaddr); ok && len(sa) >= 2 {
		fam, ip, port, path := parseSockaddr(sa)
		if n.Family == "" {
			n.Family = familyName(fam)
		}
		switch def.typ {
		case event.Connect:
			if ip != "" {
				n.DstIP, n.DstPort = ip, port
			}
			if path != "" {
				n.Path = path
			}
		case event.Bind:
			if ip != "" {
				n.SrcIP, n.SrcPort = ip, port
			}
			if path != "" {
				n.Path = path
			}
		}
	}
	return n
}

// sendRecv reads a send or a receive: the socket's local end, the peer the
// call sent to or received from (the sockaddr it gave or got back, else
// the connected socket's peer), and the first bytes.
func (d *decoder) sendRecv(def *syscallDef, a [6]uint64, ret int64, f *fields) *event.Network {
	n := &event.Network{FD: int32(a[0])}
	var local, remote string
	var lport, rport uint16
	if si, ok := f.get(tagSock); ok && len(si) >= sockInfoSize {
		le := binary.LittleEndian
		fam, typ, proto := le.Uint16(si[0:]), le.Uint16(si[2:]), le.Uint16(si[4:])
		n.Family, n.Type, n.Protocol = familyName(fam), sockTypeName(uint64(typ)), protoName(fam, typ, proto)
		lport, rport = le.Uint16(si[6:]), le.Uint16(si[8:])
		flags := le.Uint16(si[10:])
		n.Connected, n.PeerChanged = flags&sockConnected != 0, flags&sockPeerChanged != 0
		local, remote = ipString(fam, si[12:28]), ipString(fam, si[28:44])
	}
	if sa, ok := f.get(tagSockaddr); ok && len(sa) >= 2 {
		if _, ip, port, _ := parseSockaddr(sa); ip != "" {
			remote, rport = netip.MustParseAddr(ip).Unmap().String(), port
		}
	}
	if def.typ == event.Recv {
		// The peer sent: it is the source, as for accept.
		n.SrcIP, n.SrcPort, n.DstIP, n.DstPort = remote, rport, local, lport
	} else {
		n.SrcIP, n.SrcPort, n.DstIP, n.DstPort = local, lport, remote, rport
	}
	if data, ok := f.get(tagData); ok {
		n.Data = append([]byte(nil), data...)
	}
	if ret > 0 {
		n.Size = ret
	}
	return n
}

// Flags of struct sock_info on sends and receives.
const (
	sockConnected   = 1 << 0
	sockPeerChanged = 1 << 1
)

func parseSockaddr(sa []byte) (family uint16, ip string, port uint16, path string) {
	family = binary.LittleEndian.Uint16(sa[0:2])
	switch family {
	case afInet:
		if len(sa) >= 8 {
			port = binary.BigEndian.Uint16(sa[2:4])
			ip = netip.AddrFrom4([4]byte(sa[4:8])).String()
		}
	case afInet6:
		if len(sa) >= 24 {
			port = binary.BigEndian.Uint16(sa[2:4])
			ip = netip.AddrFrom16([16]byte(sa[8:24])).String()
		}
	case afUnix:
		p := sa[2:]
		if len(p) > 0 && p[0] == 0 {
			path = "@" + cString(p[1:])
		} else {
			path = cString(p)
		}
	}
	return
}

func ipString(family uint16, b []byte) string {
	switch family {
	case afInet:
		return netip.AddrFrom4([4]byte(b[:4])).String()
	case afInet6:
		return netip.AddrFrom16([16]byte(b[:16])).Unmap().String()
	}
	return ""
}

func idArgs(def *syscallDef, a [6]uint64) *event.Args {
	id := func(v uint64) *uint32 {
		if uint32(v) == ^uint32(0) { // -1: unchanged
			return nil
		}
		u := uint32(v)
		return &u
	}
	args := &event.Args{}
	switch def.name {
	case "setuid":
		args.UID = id(a[0])
	case "setreuid":
		args.UID, args.EUID = id(a[0]), id(a[1])
	case "setresuid":
		args.UID, args.EUID, args.SUID = id(a[0]), id(a[1]), id(a[2])
	case "setgid":
		args.GID = id(a[0])
	case "setregid":
		args.GID, args.EGID = id(a[0]), id(a[1])
	case "setresgid":
		args.GID, args.EGID, args.SGID = id(a[0]), id(a[1]), id(a[2])
	}
	return args
}

// splitEnv splits a NUL-separated environment, leaving out empty strings
// (a NUL-padded tail).
func splitEnv(b []byte) []string {
	var env []string
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != 0 {
			i++
		}
		if i > 0 {
			env = append(env, string(b[:i]))
		}
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return env
}

// lexicalPath makes name absolute against dir, the directory a relative
// name is resolved in, and folds "." and ".." and repeated slashes without
// following symlinks, as Falco names the file an open was asked for. A
// trailing slash is kept. dir is empty when name is absolute or the
// directory is unknown.
func lexicalPath(dir, name string) string {
	if name == "" {
		return ""
	}
	full := name
	if name[0] != '/' {
		if dir == "" {
			return path.Clean(name)
		}
		full = dir + "/" + name
	}
	p := path.Clean(full)
	if name[len(name)-1] == '/' && p != "/" {
		p += "/"
	}
	return p
}

func splitArgs(b []byte) []string {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return []string{}
	}
	n := 1
	for _, c := range b {
		if c == 0 {
			n++
		}
	}
	args := make([]string, 0, n)
	start := 0
	for i, c := range b {
		if c == 0 {
			args = append(args, string(b[start:i]))
			start = i + 1
		}
	}
	return append(args, string(b[start:]))
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func loginUID(v uint32) int64 {
	if v == ^uint32(0) {
		return -1
	}
	return int64(v)
}
