package proctree

import (
	"slices"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// image is what an exec loaded. It is immutable once built, so a forked
// child shares its parent's image until it execs itself.
type image struct {
	name          string
	exe           string
	args          []string
	argsTruncated bool
	env           []string // only when the sensor captures environments
	envTruncated  bool
	cwd           string
	exeInode      uint64
	exeDevice     uint32
	exeMtime      time.Time
	exeCtime      time.Time
	exeUpperLayer bool
	exeFromMemfd  bool
	exeDeleted    bool
	exeLower      bool
	exeWritable   bool
}

// imageOf copies what p says about its program. The Args slice is copied so
// that a caller reusing its event cannot change the tree.
func imageOf(p *event.Process) *image {
	img := &image{
		name:          p.Name,
		exe:           p.Exe,
		argsTruncated: p.ArgsTruncated,
		cwd:           p.Cwd,
		exeInode:      p.ExeInode,
		exeDevice:     p.ExeDevice,
		exeMtime:      p.ExeMtime,
		exeCtime:      p.ExeCtime,
		exeUpperLayer: p.ExeUpperLayer,
		exeFromMemfd:  p.ExeFromMemfd,
		exeDeleted:    p.ExeDeleted,
		exeLower:      p.ExeLowerLayer,
		exeWritable:   p.ExeWritable,
	}
	if p.Args != nil {
		img.args = append(make([]string, 0, len(p.Args)), p.Args...)
	}
	if p.Env != nil {
		img.env, img.envTruncated = slices.Clone(p.Env), p.EnvTruncated
	}
	return img
}

// entry is one process (tgid) as the tree knows it.
type entry struct {
	pid, ppid  uint32
	img        *image
	uid, gid   uint32
	euid, egid uint32
	loginUID   int64
	tty        uint32
	sid, pgid  uint32
	capEff     uint64
	capPerm    uint64
	capInh     uint64
	vpid       uint32
	start      time.Time

	gen    uint64 // tells this process from an earlier one with the same pid
	seen   uint64 // Tree.seen when an event last named it
	exited bool
}

// setCreds takes the per-process fields (not the image) from p.
func (en *entry) setCreds(p *event.Process) {
	en.uid, en.gid, en.euid, en.egid = p.UID, p.GID, p.EUID, p.EGID
	en.loginUID = p.LoginUID
	en.tty, en.sid, en.pgid = p.TTY, p.SID, p.PGID
	en.capEff, en.capPerm, en.capInh = p.CapEffective, p.CapPermitted, p.CapInheritable
	if p.VPID != 0 {
		en.vpid = p.VPID
	}
}

// fill writes everything the tree knows of en into p, replacing what was
// there, as an ancestor (or a lookup result) without ancestors of its own.
// It sets every field one by one rather than assigning a composite literal:
// that builds a temporary and copies it with a bulk write barrier, which
// made Enrich twice as slow. TestFillSetsEveryField keeps it complete when
// event.Process grows.
func (en *entry) fill(p *event.Process) {
	img := en.img
	p.PID = en.pid
	p.VPID = en.vpid
	p.TID = 0
	p.PPID = en.ppid
	p.ID, p.ParentID = "", "" // set from the start time by whoever needs them (console/link)
	p.Name = img.name
	p.Exe = img.exe
	p.Args = img.args
	p.ArgsTruncated = img.argsTruncated
	// An ancestor's environment is left out: no field reads it, and it
	// would repeat in every alert.
	p.Env, p.EnvTruncated = nil, false
	p.Cwd = img.cwd
	p.UID, p.GID, p.EUID, p.EGID = en.uid, en.gid, en.euid, en.egid
	p.LoginUID = en.loginUID
	p.TTY, p.SID, p.PGID = en.tty, en.sid, en.pgid
	// Namespaces are reported only as the kernel saw them on the event:
	// setns and unshare change them after exec (runc's init does), so a
	// value kept from exec could name the wrong one.
	p.PidNS, p.MntNS = 0, 0
	p.CapEffective, p.CapPermitted, p.CapInheritable = en.capEff, en.capPerm, en.capInh
	p.StartTime = en.start
	p.ExeInode, p.ExeDevice = img.exeInode, img.exeDevice
	p.ExeMtime, p.ExeCtime = img.exeMtime, img.exeCtime
	p.ExeUpperLayer, p.ExeFromMemfd, p.ExeDeleted = img.exeUpperLayer, img.exeFromMemfd, img.exeDeleted
	p.ExeLowerLayer, p.ExeWritable = img.exeLower, img.exeWritable
	p.ExitCode, p.ExitSignal = nil, nil
	p.ChildPID, p.ChildIsThread = 0, false
	p.Ancestors = nil
}

// complete fills the fields of the acting process p that its event left
// empty. The event's own fields win: the sensor reads exe, args and cwd only
// at exec, so on other events they are empty and the tree's are current.
func (en *entry) complete(p *event.Process) {
	img := en.img
	if p.Name == "" {
		p.Name = img.name
	}
	if p.PPID == 0 {
		p.PPID = en.ppid
	}
	if p.Exe == "" && img.exe != "" {
		// The exe's metadata belongs to the exe: take all or nothing.
		p.Exe = img.exe
		p.ExeInode, p.ExeDevice = img.exeInode, img.exeDevice
		p.ExeMtime, p.ExeCtime = img.exeMtime, img.exeCtime
		p.ExeUpperLayer, p.ExeFromMemfd, p.ExeDeleted = img.exeUpperLayer, img.exeFromMemfd, img.exeDeleted
		p.ExeLowerLayer, p.ExeWritable = img.exeLower, img.exeWritable
	}
	if p.Args == nil && img.args != nil {
		p.Args, p.ArgsTruncated = img.args, img.argsTruncated
	}
	if p.Env == nil && img.env != nil {
		p.Env, p.EnvTruncated = img.env, img.envTruncated
	}
	if p.Cwd == "" {
		p.Cwd = img.cwd
	}
	// Credentials and loginuid come with every event and are left alone;
	// tty, session, group and capabilities only with exec, so a zero is
	// taken as "not sent".
	if p.TTY == 0 {
		p.TTY = en.tty
	}
	if p.SID == 0 {
		p.SID = en.sid
	}
	if p.PGID == 0 {
		p.PGID = en.pgid
	}
	if p.CapEffective == 0 && p.CapPermitted == 0 && p.CapInheritable == 0 {
		p.CapEffective, p.CapPermitted, p.CapInheritable = en.capEff, en.capPerm, en.capInh
	}
	if p.StartTime.IsZero() {
		p.StartTime = en.start
	}
}

// exitRing remembers exited processes in the order they exited, so the
// oldest can be dropped after enough later exits or enough time.
type exitRing struct {
	buf        []exitRec
	head, size int
}

type exitRec struct {
	pid uint32
	gen uint64
	at  time.Time
}

func newExitRing(n int) exitRing { return exitRing{buf: make([]exitRec, n)} }

func (r *exitRing) len() int   { return r.size }
func (r *exitRing) full() bool { return r.size == len(r.buf) }

func (r *exitRing) push(x exitRec) {
	r.buf[(r.head+r.size)%len(r.buf)] = x
	r.size++
}

func (r *exitRing) oldest() exitRec { return r.buf[r.head] }

func (r *exitRing) pop() exitRec {
	x := r.buf[r.head]
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	return x
}
