package syscalls

import (
	"strconv"
	"strings"

	"github.com/mamori-dev/mamori/event"
	"golang.org/x/sys/unix"
)

// Falco's evt.arg.NAME reads argument NAME of the event by the name its
// event table gives it, and prints it as libsinsp does: an argument it
// resolves (an fd, a relative path, flags, an errno, a user id) prints
// resolved, any other as its plain value. evt.args prints every argument
// as name=value, followed by (resolved) where there is one.
//
// params lists, for each evt.type the sensor delivers, Falco's arguments
// in Falco's order, each with how to read it from a mamori event. An
// argument the sensor has no value for is left out.

// param is one argument of a Falco event.
type param struct {
	name string
	// get returns the plain text and the resolved text ("" when libsinsp
	// resolves nothing), and whether the event has the argument.
	get func(ev *Event) (plain, resolved string, ok bool)
}

var params = map[string][]param{}

func init() {
	open := []param{{"fd", openFD}, {"name", openName}, {"flags", openFlagsArg}, {"mode", openMode}, {"dev", fileDev}, {"ino", fileIno}}
	openat := []param{{"fd", openFD}, {"name", openName}, {"flags", openFlagsArg}, {"mode", openMode}, {"dev", fileDev}, {"ino", fileIno}}
	for name, ps := range map[string][]param{
		"open":     open,
		"openat":   openat,
		"openat2":  openat,
		"creat":    {{"fd", openFD}, {"name", openName}, {"mode", openMode}, {"dev", fileDev}, {"ino", fileIno}},
		"execve":   {{"res", res}, {"exe", procExe}, {"args", procArgs}, {"tid", tid}, {"pid", pid}, {"ptid", ppid}, {"cwd", cwd}, {"comm", comm}, {"env", env}, {"tty", tty}, {"loginuid", loginUID}, {"flags", exeFlags}, {"cap_inheritable", capInh}, {"cap_permitted", capPerm}, {"cap_effective", capEff}, {"exe_ino", exeIno}, {"uid", euid}, {"trusted_exepath", exePath}, {"gid", egid}, {"filename", exePath}},
		"clone":    {{"res", childPID}, {"exe", procExe}, {"args", procArgs}, {"tid", tid}, {"pid", pid}, {"ptid", ppid}, {"cwd", cwd}, {"comm", comm}, {"uid", euid}, {"gid", egid}},
		"procexit": {{"status", exitStatus}, {"ret", exitCode}, {"sig", exitSig}},

		"unlink":    {{"res", res}, {"path", filePath}},
		"unlinkat":  {{"res", res}, {"name", filePath}, {"flags", flagsOf(unlinkatFlags)}},
		"rmdir":     {{"res", res}, {"path", filePath}},
		"mkdir":     {{"res", res}, {"path", filePath}, {"mode", mkdirMode}},
		"mkdirat":   {{"res", res}, {"path", filePath}, {"mode", mkdirMode}},
		"rename":    {{"res", res}, {"oldpath", filePath}, {"newpath", fileTarget}},
		"renameat":  {{"res", res}, {"oldpath", filePath}, {"newpath", fileTarget}},
		"renameat2": {{"res", res}, {"oldpath", filePath}, {"newpath", fileTarget}},
		"link":      {{"res", res}, {"oldpath", fileTarget}, {"newpath", filePath}},
		"linkat":    {{"res", res}, {"oldpath", fileTarget}, {"newpath", filePath}},
		"symlink":   {{"res", res}, {"target", symlinkTarget}, {"linkpath", filePath}},
		"symlinkat": {{"res", res}, {"target", symlinkTarget}, {"linkpath", filePath}},
		"chmod":     {{"res", res}, {"filename", filePath}, {"mode", chmodMode}},
		"fchmod":    {{"res", res}, {"fd", fileFD}, {"mode", chmodMode}},
		"fchmodat":  {{"res", res}, {"filename", filePath}, {"mode", chmodMode}},
		"fchmodat2": {{"res", res}, {"filename", filePath}, {"mode", chmodMode}},
		"truncate":  {{"res", res}, {"path", filePath}},
		"ftruncate": {{"res", res}, {"fd", fileFD}},

		"memfd_create": {{"fd", resFD}, {"name", memfdName}, {"flags", flagsOf(memfdFlags)}},
		"connect":      {{"res", res}, {"tuple", tuple}, {"fd", sockFD}},
		"accept":       {{"fd", resFD}, {"tuple", tuple}},
		"accept4":      {{"fd", resFD}, {"tuple", tuple}},
		"bind":         {{"res", res}, {"fd", sockFD}},
		"listen":       {{"res", res}, {"fd", sockFD}, {"backlog", backlog}},
		"socket":       {{"fd", resFD}, {"domain", sockDomain}, {"type", sockType}, {"proto", sockProto}},
		"sendto":       {{"res", res}, {"data", ioData}, {"fd", sockFD}, {"size", ioSize}, {"tuple", tuple}},
		"sendmsg":      {{"res", res}, {"data", ioData}, {"fd", sockFD}, {"size", ioSize}, {"tuple", tuple}},
		"recvfrom":     {{"res", res}, {"data", ioData}, {"tuple", tuple}, {"fd", sockFD}, {"size", ioSize}},
		"recvmsg":      {{"res", res}, {"size", ioSize}, {"data", ioData}, {"tuple", tuple}, {"fd", sockFD}},
		"dup":          {{"res", resFD}, {"oldfd", dupOld}},
		"dup2":         {{"res", resFD}, {"oldfd", dupOld}, {"newfd", dupNew}},
		"dup3":         {{"res", resFD}, {"oldfd", dupOld}, {"newfd", dupNew}},

		"setuid":    {{"res", res}, {"uid", idArg(argUID)}},
		"setreuid":  {{"res", res}, {"ruid", idArg(argUID)}, {"euid", idArg(argEUID)}},
		"setresuid": {{"res", res}, {"ruid", idArg(argUID)}, {"euid", idArg(argEUID)}, {"suid", idArg(argSUID)}},
		"setgid":    {{"res", res}, {"gid", idArg(argGID)}},
		"setregid":  {{"res", res}, {"rgid", idArg(argGID)}, {"egid", idArg(argEGID)}},
		"setresgid": {{"res", res}, {"rgid", idArg(argGID)}, {"egid", idArg(argEGID)}, {"sgid", idArg(argSGID)}},
		"capset":    {{"res", res}, {"cap_inheritable", capsetArg(2)}, {"cap_permitted", capsetArg(1)}, {"cap_effective", capsetArg(0)}},
		"ptrace":    {{"res", res}, {"request", ptraceRequest}, {"pid", ptracePID}},
		"mount":     {{"res", res}, {"dev", mountSource}, {"dir", argsTarget}, {"type", mountType}, {"flags", flagsOf(mountFlags)}},
		"umount":    {{"res", res}, {"name", argsTarget}},
		"umount2":   {{"res", res}, {"name", argsTarget}, {"flags", flagsOf(umountFlags)}},

		"init_module":  {{"res", res}, {"uargs", moduleArgs}},
		"finit_module": {{"res", res}, {"fd", moduleFD}, {"uargs", moduleArgs}},
		"bpf":          {{"fd", resFD}, {"cmd", bpfCmd}},
		"unshare":      {{"res", res}, {"flags", flagsOf(cloneFlags)}},
		"setns":        {{"res", res}, {"fd", setnsFD}, {"nstype", flagsOf(cloneFlags)}},
		"userfaultfd":  {{"res", res}, {"flags", flagsOf(userfaultfdFlags)}},
	} {
		params[name] = ps
	}
	for _, alias := range [][2]string{{"execveat", "execve"}, {"clone3", "clone"}, {"fork", "clone"}, {"vfork", "clone"}} {
		params[alias[0]] = params[alias[1]]
	}
}

// paramNames returns every argument name of the table, for the catalogue.
func paramNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, ps := range params {
		for _, p := range ps {
			if !seen[p.name] {
				seen[p.name] = true
				out = append(out, p.name)
			}
		}
	}
	return out
}

// HasArg reports whether events of the Falco evt.type have the argument
// name: on the others evt.arg.NAME is never there.
func HasArg(evtType, name string) bool {
	for _, p := range params[evtType] {
		if p.name == name {
			return true
		}
	}
	return false
}

// arg returns evt.arg.NAME: the resolved text where libsinsp resolves the
// argument, else its plain text.
func (ev *Event) arg(name string) (string, bool) {
	for _, p := range params[EventType(ev.E)] {
		if p.name == name {
			plain, resolved, ok := p.get(ev)
			if resolved != "" {
				return resolved, ok
			}
			return plain, ok
		}
	}
	return "", false
}

// argAt returns evt.arg[i], the i-th argument.
func (ev *Event) argAt(i int) (string, bool) {
	ps := params[EventType(ev.E)]
	n := 0
	for _, p := range ps {
		plain, resolved, ok := p.get(ev)
		if !ok {
			continue
		}
		if n == i {
			if resolved != "" {
				return resolved, true
			}
			return plain, true
		}
		n++
	}
	return "", false
}

// evtArgs renders evt.args: name=value for each argument, with the resolved
// text in parentheses where there is one.
func (ev *Event) evtArgs() string {
	if ev.have&(1<<dEvtArgs) != 0 {
		return ev.text[dEvtArgs]
	}
	// Every argument first: rendering them appends to the buffer too.
	var vals [32]struct{ plain, resolved string }
	ps := params[EventType(ev.E)]
	have := uint32(0)
	for i, p := range ps {
		if i == len(vals) {
			break
		}
		plain, resolved, ok := p.get(ev)
		if ok {
			vals[i].plain, vals[i].resolved = plain, resolved
			have |= 1 << i
		}
	}
	start := len(ev.buf)
	for i, p := range ps {
		if have&(1<<i) == 0 {
			continue
		}
		if len(ev.buf) > start {
			ev.buf = append(ev.buf, ' ')
		}
		ev.buf = append(append(append(ev.buf, p.name...), '='), vals[i].plain...)
		if vals[i].resolved != "" {
			ev.buf = append(append(append(ev.buf, '('), vals[i].resolved...), ')')
		}
	}
	s := ev.since(start)
	ev.text[dEvtArgs], ev.have = s, ev.have|1<<dEvtArgs
	return s
}

// since returns what was appended to the buffer from start.
func (ev *Event) since(start int) string {
	if len(ev.buf) == start {
		return ""
	}
	return unsafeString(ev.buf[start:])
}

func (ev *Event) appendInt(v int64) string {
	start := len(ev.buf)
	ev.buf = strconv.AppendInt(ev.buf, v, 10)
	return ev.since(start)
}

func (ev *Event) appendHex(v uint64) string {
	start := len(ev.buf)
	ev.buf = strconv.AppendUint(ev.buf, v, 16)
	for i := start; i < len(ev.buf); i++ {
		if c := ev.buf[i]; 'a' <= c && c <= 'f' {
			ev.buf[i] = c - 'a' + 'A'
		}
	}
	return ev.since(start)
}

// appendOct prints v as C's %#o does: with a leading 0, and 0 as "0".
func (ev *Event) appendOct(v uint64) string {
	start := len(ev.buf)
	if v != 0 {
		ev.buf = append(ev.buf, '0')
	}
	ev.buf = strconv.AppendUint(ev.buf, v, 8)
	return ev.since(start)
}

// errnoName is libsinsp's name for a negative return value.
func errnoName(v int64) string {
	if v >= 0 {
		return ""
	}
	return unix.ErrnoName(unix.Errno(-v))
}

func res(ev *Event) (string, string, bool) {
	r := ev.E.Result
	return ev.appendInt(r), errnoName(r), true
}

// resFD is a returned fd: the fd's description when it worked.
func resFD(ev *Event) (string, string, bool) {
	r := ev.E.Result
	if r < 0 {
		return ev.appendInt(r), errnoName(r), true
	}
	return ev.appendInt(r), ev.fdDesc(), true
}

func openFD(ev *Event) (string, string, bool) {
	if ev.E.File == nil {
		return "", "", false
	}
	return resFD(ev)
}

// fdDesc is libsinsp's resolved text of an fd: <typechar[l4 char]>name.
func (ev *Event) fdDesc() string {
	tc, _, ok := fdType(ev.E)
	if !ok {
		return ""
	}
	name, _ := fdName(ev)
	start := len(ev.buf)
	ev.buf = append(append(ev.buf, '<'), tc...)
	if n := ev.E.Network; n != nil {
		switch n.Protocol {
		case "tcp":
			ev.buf = append(ev.buf, 't')
		case "udp":
			ev.buf = append(ev.buf, 'u')
		case "icmp", "icmpv6":
			ev.buf = append(ev.buf, 'i')
		case "raw":
			ev.buf = append(ev.buf, 'r')
		}
	}
	ev.buf = append(append(ev.buf, '>'), name...)
	return ev.since(start)
}

// fdArg is an fd argument the event acted on: its number and what it is.
func fdArg(fd int64, ev *Event) (string, string, bool) {
	if fd < 0 {
		if fd == unix.AT_FDCWD {
			return ev.appendInt(fd), "AT_FDCWD", true
		}
		return ev.appendInt(fd), errnoName(fd), true
	}
	return ev.appendInt(fd), ev.fdDesc(), true
}

func fileFD(ev *Event) (string, string, bool) {
	if ev.E.File == nil {
		return "", "", false
	}
	return fdArg(int64(ev.E.File.FD), ev)
}

func sockFD(ev *Event) (string, string, bool) {
	if ev.E.Network == nil {
		return "", "", false
	}
	return fdArg(int64(ev.E.Network.FD), ev)
}

func setnsFD(ev *Event) (string, string, bool) {
	if ev.E.Args == nil {
		return "", "", false
	}
	return fdArg(int64(ev.E.Args.FD), ev)
}

func moduleFD(ev *Event) (string, string, bool) {
	if ev.E.Args == nil || ev.E.Args.Module == "" || ev.E.Args.Module == "<memory>" {
		return "", "", false
	}
	return fdArg(int64(ev.E.Args.FD), ev)
}

func dupOld(ev *Event) (string, string, bool) {
	if ev.E.Args == nil {
		return "", "", false
	}
	return fdArg(int64(ev.E.Args.FD), ev)
}

func dupNew(ev *Event) (string, string, bool) {
	if ev.E.Args == nil {
		return "", "", false
	}
	return fdArg(int64(ev.E.Args.NewFD), ev)
}

// openName is an open's path argument: as given when absolute, made
// absolute (and cleaned) when relative.
func openName(ev *Event) (string, string, bool) {
	f := ev.E.File
	if f == nil {
		return "", "", false
	}
	if f.PathRaw == "" || f.PathRaw[0] == '/' {
		return f.PathRaw, "", true
	}
	return f.PathRaw, f.PathArg, true
}

// filePath and fileTarget are path arguments as the decoder resolved them:
// as given when absolute, joined to their directory when relative.
func filePath(ev *Event) (string, string, bool) {
	if ev.E.File == nil {
		return "", "", false
	}
	return ev.E.File.Path, "", true
}

func fileTarget(ev *Event) (string, string, bool) {
	if ev.E.File == nil {
		return "", "", false
	}
	return ev.E.File.Target, "", true
}

// symlinkTarget is what the link points to, never resolved.
func symlinkTarget(ev *Event) (string, string, bool) {
	if ev.E.File == nil {
		return "", "", false
	}
	return ev.E.File.Target, "", true
}

func memfdName(ev *Event) (string, string, bool) {
	if ev.E.File == nil {
		return "", "", false
	}
	return ev.E.File.Name, "", true
}

// openFlagsValue is the Falco encoding of an open's flags, with whether
// the call created the file and the overlayfs layer of the file.
func openFlagsValue(ev *Event) uint32 {
	f := ev.E.File
	v := ev.openFlagBits()
	if f.Created {
		v |= ppmOFCreated
	}
	switch f.Layer {
	case "upper":
		v |= ppmFDUpper
	case "lower":
		v |= ppmFDLower
	}
	return v
}

func openFlagsArg(ev *Event) (string, string, bool) {
	f := ev.E.File
	if f == nil || ev.E.Type != event.Open {
		return "", "", false
	}
	if ev.have&(1<<dOpenFlags) == 0 {
		v := openFlagsValue(ev)
		ev.text[dOpenFlagsRaw] = ev.appendInt(int64(v))
		start := len(ev.buf)
		ev.buf = openFlags.render(ev.buf, v)
		ev.text[dOpenFlags] = ev.since(start)
		ev.have |= 1 << dOpenFlags
	}
	return ev.text[dOpenFlagsRaw], ev.text[dOpenFlags], true
}

// openMode is the mode an open passes, which Falco keeps only when the
// open may create a file (O_CREAT, or O_TMPFILE as its driver tests it).
func openMode(ev *Event) (string, string, bool) {
	f := ev.E.File
	if f == nil || ev.E.Type != event.Open {
		return "", "", false
	}
	return ev.appendOct(uint64(openModeValue(ev))), "", true
}

func openModeValue(ev *Event) uint32 {
	f := ev.E.File
	if ev.E.Syscall != "creat" && ev.openFlagBits()&(ppmOCreat|ppmOTmpfile) == 0 {
		return 0
	}
	return f.Mode & 0o7777
}

func fileDev(ev *Event) (string, string, bool) {
	f := ev.E.File
	if f == nil || f.Inode == 0 {
		return "", "", false
	}
	return ev.appendHex(uint64(f.Device)), "", true
}

func fileIno(ev *Event) (string, string, bool) {
	f := ev.E.File
	if f == nil || f.Inode == 0 {
		return "", "", false
	}
	return ev.appendInt(int64(f.Inode)), "", true
}

// chmodMode prints as Falco's mode names (S_IRUSR|S_ISUID...), or in
// octal when no name applies.
func chmodMode(ev *Event) (string, string, bool) {
	if ev.E.File == nil {
		return "", "", false
	}
	m := ev.E.File.Mode & 0o7777
	plain := ev.appendOct(uint64(m))
	start := len(ev.buf)
	ev.buf = renderMode(ev.buf, m)
	return plain, ev.since(start), true
}

// mkdirMode is printed in hexadecimal: Falco declares it so.
func mkdirMode(ev *Event) (string, string, bool) {
	if ev.E.File == nil {
		return "", "", false
	}
	return ev.appendHex(uint64(ev.E.File.Mode)), "", true
}

// flagsOf renders flags the event carries as the sensor's names: the
// number, and Falco's names for it.
func flagsOf(t *flagTable) func(*Event) (string, string, bool) {
	return func(ev *Event) (string, string, bool) {
		var names string
		switch {
		case ev.E.Args != nil:
			names = ev.E.Args.Flags
		case ev.E.File != nil:
			names = ev.E.File.Flags
		default:
			return "", "", false
		}
		v := t.value(names)
		plain := ev.appendInt(int64(v))
		start := len(ev.buf)
		ev.buf = t.render(ev.buf, v)
		return plain, ev.since(start), true
	}
}

// exeFlagsValue says what Falco's execve exit says of the executable.
func exeFlagsValue(p *event.Process) uint32 {
	var v uint32
	if p.ExeWritable {
		v |= exeWritable
	}
	if p.ExeUpperLayer {
		v |= exeUpperLayer
	}
	if p.ExeFromMemfd {
		v |= exeFromMemfd
	}
	if p.ExeLowerLayer {
		v |= exeLowerLayer
	}
	return v
}

func exeFlags(ev *Event) (string, string, bool) {
	v := exeFlagsValue(&ev.E.Process)
	plain := ev.appendInt(int64(v))
	if v == 0 {
		return plain, "", true
	}
	start := len(ev.buf)
	ev.buf = execveFlags.render(ev.buf, v)
	return plain, ev.since(start), true
}

func procExe(ev *Event) (string, string, bool) { s, ok := argv0(&ev.E.Process); return s, "", ok }
func procArgs(ev *Event) (string, string, bool) {
	return ev.args(), "", true
}
func exePath(ev *Event) (string, string, bool) {
	return ev.E.Process.Exe, "", ev.E.Process.Exe != ""
}
func tid(ev *Event) (string, string, bool) {
	p := &ev.E.Process
	if p.TID != 0 {
		return ev.appendInt(int64(p.TID)), "", true
	}
	return ev.appendInt(int64(p.PID)), "", true
}
func pid(ev *Event) (string, string, bool) {
	return ev.appendInt(int64(ev.E.Process.PID)), "", true
}
func ppid(ev *Event) (string, string, bool) {
	return ev.appendInt(int64(ev.E.Process.PPID)), "", true
}
func childPID(ev *Event) (string, string, bool) {
	return ev.appendInt(int64(ev.E.Process.ChildPID)), "", true
}
func cwd(ev *Event) (string, string, bool) { return ev.cwd(), "", ev.E.Process.Cwd != "" }
func comm(ev *Event) (string, string, bool) {
	return ev.E.Process.Name, "", true
}
func env(ev *Event) (string, string, bool) {
	return ev.env(), "", ev.E.Process.Env != nil
}
func tty(ev *Event) (string, string, bool) {
	return ev.appendInt(int64(ev.E.Process.TTY)), "", true
}
func loginUID(ev *Event) (string, string, bool) {
	l := ev.E.Process.LoginUID
	if l < 0 {
		return "-1", "<NONE>", true
	}
	return ev.appendInt(l), ev.userName(uint32(l)), true
}
func euid(ev *Event) (string, string, bool) {
	u := ev.E.Process.EUID
	return ev.appendInt(int64(u)), ev.userName(u), true
}
func egid(ev *Event) (string, string, bool) {
	g := ev.E.Process.EGID
	return ev.appendInt(int64(g)), ev.groupName(g), true
}
func capInh(ev *Event) (string, string, bool) {
	return ev.appendHex(ev.E.Process.CapInheritable), "", true
}
func capPerm(ev *Event) (string, string, bool) {
	return ev.appendHex(ev.E.Process.CapPermitted), "", true
}
func capEff(ev *Event) (string, string, bool) {
	return ev.appendHex(ev.E.Process.CapEffective), "", true
}
func exeIno(ev *Event) (string, string, bool) {
	p := &ev.E.Process
	return ev.appendInt(int64(p.ExeInode)), "", p.ExeInode != 0
}

func exitStatus(ev *Event) (string, string, bool) {
	p := &ev.E.Process
	switch {
	case p.ExitSignal != nil:
		return ev.appendInt(int64(*p.ExitSignal)), "", true
	case p.ExitCode != nil:
		return ev.appendInt(int64(*p.ExitCode) << 8), "", true
	}
	return "", "", false
}

func exitCode(ev *Event) (string, string, bool) {
	if c := ev.E.Process.ExitCode; c != nil {
		return ev.appendInt(int64(*c)), "", true
	}
	return "", "", false
}

func exitSig(ev *Event) (string, string, bool) {
	s := ev.E.Process.ExitSignal
	if s == nil {
		return "0", "", true
	}
	return ev.appendInt(int64(*s)), unix.SignalName(unix.Signal(*s)), true
}

// tuple is a socket's connection: client ip:port->server ip:port.
func tuple(ev *Event) (string, string, bool) {
	if !isSocket(ev.E) {
		return "", "", false
	}
	return ev.tuple(), "", true
}

func backlog(ev *Event) (string, string, bool) {
	if ev.E.Network == nil {
		return "", "", false
	}
	return ev.appendInt(int64(ev.E.Network.Backlog)), "", true
}

func sockDomain(ev *Event) (string, string, bool) {
	n := ev.E.Network
	if n == nil {
		return "", "", false
	}
	v := familyNumber(n.Family)
	plain := ev.appendInt(int64(v))
	start := len(ev.buf)
	ev.buf = socketFamilies.render(ev.buf, v)
	return plain, ev.since(start), true
}

var sockTypes = map[string]int64{"stream": 1, "dgram": 2, "raw": 3, "seqpacket": 5}

func sockType(ev *Event) (string, string, bool) {
	n := ev.E.Network
	if n == nil {
		return "", "", false
	}
	return ev.appendInt(sockTypes[n.Type]), "", true
}

var protoNumbers = map[string]int64{"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "raw": 255}

func sockProto(ev *Event) (string, string, bool) {
	n := ev.E.Network
	if n == nil {
		return "", "", false
	}
	return ev.appendInt(protoNumbers[n.Protocol]), "", true
}

// Which id an idArg reads.
const (
	argUID = iota
	argEUID
	argSUID
	argGID
	argEGID
	argSGID
)

// idArg is a user or group id a set*id call asked for: resolved to its
// name in the process's own passwd or group file, <NA> when it has none,
// and -1 (unchanged) as <NONE>.
func idArg(which int) func(*Event) (string, string, bool) {
	return func(ev *Event) (string, string, bool) {
		a := ev.E.Args
		if a == nil {
			return "", "", false
		}
		id := [...]*uint32{a.UID, a.EUID, a.SUID, a.GID, a.EGID, a.SGID}[which]
		if id == nil {
			return "-1", "<NONE>", true
		}
		if which >= argGID {
			return ev.appendInt(int64(*id)), ev.groupName(*id), true
		}
		return ev.appendInt(int64(*id)), ev.userName(*id), true
	}
}

func capsetArg(which int) func(*Event) (string, string, bool) {
	return func(ev *Event) (string, string, bool) {
		a := ev.E.Args
		if a == nil {
			return "", "", false
		}
		v := [...]*uint64{a.CapEffective, a.CapPermitted, a.CapInheritable}[which]
		if v == nil {
			return "", "", false
		}
		return ev.appendHex(*v), "", true
	}
}

func ptraceRequest(ev *Event) (string, string, bool) {
	a := ev.E.Args
	if a == nil || ev.E.Type != event.Ptrace {
		return "", "", false
	}
	return a.Request, a.Request, true
}

func ptracePID(ev *Event) (string, string, bool) {
	a := ev.E.Args
	if a == nil {
		return "", "", false
	}
	return ev.appendInt(int64(a.TargetPID)), "", true
}

func bpfCmd(ev *Event) (string, string, bool) {
	a := ev.E.Args
	if a == nil || ev.E.Type != event.BPF {
		return "", "", false
	}
	n := strconv.Itoa(bpfCommandNumber(a.Request))
	return n, a.Request, true
}

func bpfCommandNumber(name string) int {
	if i := strings.Index(bpfCommandNames, " "+name+" "); i >= 0 {
		return strings.Count(bpfCommandNames[:i], " ")
	}
	n, _ := strconv.Atoi(name)
	return n
}

// bpfCommandNames are bpf(2)'s commands in the order of their numbers.
const bpfCommandNames = " BPF_MAP_CREATE BPF_MAP_LOOKUP_ELEM BPF_MAP_UPDATE_ELEM BPF_MAP_DELETE_ELEM BPF_MAP_GET_NEXT_KEY" +
	" BPF_PROG_LOAD BPF_OBJ_PIN BPF_OBJ_GET BPF_PROG_ATTACH BPF_PROG_DETACH BPF_PROG_TEST_RUN BPF_PROG_GET_NEXT_ID" +
	" BPF_MAP_GET_NEXT_ID BPF_PROG_GET_FD_BY_ID BPF_MAP_GET_FD_BY_ID BPF_OBJ_GET_INFO_BY_FD BPF_PROG_QUERY" +
	" BPF_RAW_TRACEPOINT_OPEN BPF_BTF_LOAD BPF_BTF_GET_FD_BY_ID BPF_TASK_FD_QUERY BPF_MAP_LOOKUP_AND_DELETE_ELEM" +
	" BPF_MAP_FREEZE BPF_BTF_GET_NEXT_ID BPF_MAP_LOOKUP_BATCH BPF_MAP_LOOKUP_AND_DELETE_BATCH BPF_MAP_UPDATE_BATCH" +
	" BPF_MAP_DELETE_BATCH BPF_LINK_CREATE BPF_LINK_UPDATE BPF_LINK_GET_FD_BY_ID BPF_LINK_GET_NEXT_ID" +
	" BPF_ENABLE_STATS BPF_ITER_CREATE BPF_LINK_DETACH BPF_PROG_BIND_MAP BPF_TOKEN_CREATE "

func mountSource(ev *Event) (string, string, bool) {
	if a := ev.E.Args; a != nil {
		return a.Source, "", true
	}
	return "", "", false
}

func argsTarget(ev *Event) (string, string, bool) {
	if a := ev.E.Args; a != nil {
		return a.Target, "", true
	}
	return "", "", false
}

func mountType(ev *Event) (string, string, bool) {
	if a := ev.E.Args; a != nil {
		return a.FSType, "", true
	}
	return "", "", false
}

func moduleArgs(ev *Event) (string, string, bool) {
	if a := ev.E.Args; a != nil {
		return a.Flags, "", true
	}
	return "", "", false
}

// argDescs describes the arguments whose meaning differs by event, for
// `mamori rules fields`; the others are named as Falco names them.
var argDescs = map[string]string{
	"flags":    "the flags of the call in Falco's names and order: opens O_TRUNC|O_CREAT|O_WRONLY|O_CLOEXEC (with O_F_CREATED, FD_UPPER_LAYER/FD_LOWER_LAYER), execve EXE_WRITABLE|EXE_UPPER_LAYER|EXE_FROM_MEMFD|EXE_LOWER_LAYER, mount BIND|REC, unshare and setns CLONE_*, unlinkat AT_REMOVEDIR",
	"mode":     "chmod, fchmod, fchmodat: the mode as S_IXUSR|S_ISUID... names; open, openat, creat: octal (0644), 0 unless the call may create; mkdir, mkdirat: hexadecimal (1ED)",
	"path":     "unlink, rmdir, mkdir, mkdirat: the path, made absolute when relative",
	"name":     "open, openat, openat2, creat, unlinkat: the path as given when absolute, made absolute when relative; memfd_create: the memfd's name; umount: the mount point",
	"filename": "chmod, fchmodat: the file; execve: the program",
	"oldpath":  "rename, link: the existing path",
	"newpath":  "rename, link: the new path",
	"target":   "symlink: what the link points to, as given",
	"linkpath": "symlink: the link created",
	"fd":       "the fd the call acted on or returned, resolved as <f>/path, <4t>tuple, AT_FDCWD or an errno name",
	"res":      "the return value; an errno name when negative",
	"uid":      "setuid: the user asked for, by name from the process's own passwd file; <NA> without one, <NONE> for -1",
	"request":  "ptrace: PTRACE_ATTACH, PTRACE_TRACEME, ...",
	"domain":   "socket: the address family, e.g. AF_PACKET (AF_LOCAL|AF_UNIX for 1)",
	"cmd":      "bpf: the command, e.g. BPF_PROG_LOAD",
}

// openAccess is the access mode of an open, open or openat or openat2 (not
// creat: libsinsp does not count its implied write), in Falco's bits.
func openAccess(ev *Event) uint32 {
	if e := ev.E; e.Type != event.Open || e.File == nil || e.Syscall == "creat" {
		return 0
	}
	return ev.openFlagBits() & ppmORdwr
}

// isOpenExec is evt.is_open_exec: an open that may create the file with
// any execute bit in its mode.
func isOpenExec(ev *Event) bool {
	if e := ev.E; e.Type != event.Open || e.File == nil {
		return false
	}
	return openModeValue(ev)&0o111 != 0
}

// isOpenCreate is evt.is_open_create.
func isOpenCreate(ev *Event) bool {
	e := ev.E
	if e.Type != event.Open || e.File == nil || e.Syscall == "creat" {
		return false
	}
	return e.File.Created || (e.Result >= 0 && ev.openFlagBits()&ppmOTmpfile != 0)
}

// ioData is the data of a send or receive as libsinsp prints a buffer:
// printable bytes as they are, others as dots.
func ioData(ev *Event) (string, string, bool) {
	n := ev.E.Network
	if n == nil || (ev.E.Type != event.Send && ev.E.Type != event.Recv) {
		return "", "", false
	}
	start := len(ev.buf)
	for _, c := range n.Data {
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		ev.buf = append(ev.buf, c)
	}
	return ev.since(start), "", true
}

func ioSize(ev *Event) (string, string, bool) {
	n := ev.E.Network
	if n == nil || (ev.E.Type != event.Send && ev.E.Type != event.Recv) {
		return "", "", false
	}
	return ev.appendInt(n.Size), "", true
}
