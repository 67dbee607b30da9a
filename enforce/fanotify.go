package enforce

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// guard is one container's fanotify group: FAN_OPEN_EXEC_PERM marks on the
// container's mounts and the handler that answers them. One group per
// container makes the group itself say which container an event is for,
// and makes Release one close(2): the kernel drops the marks and allows
// whatever was pending. The same holds when the agent dies, so a crashed
// agent never leaves a container unable to exec (the sigkill line is gone
// with it too: enforcement ends with the agent, visibly).
type guard struct {
	t    *target
	f    *os.File
	log  *slog.Logger
	emit func(Verdict)
	// allowed records a path that AllowMatch let through, for the kernel.
	allowed func(*target, string)
	timeout time.Duration
	// failDeny answers FAN_DENY instead of FAN_ALLOW when a decision is
	// late.
	failDeny bool
	done     chan struct{}

	mu       sync.Mutex // serialises responses between handler and watchdog
	inflight int32      // fd of the event being decided, -1 for none
	since    time.Time
	answered bool
	late     uint64 // decisions the watchdog answered
}

// newGuard creates the group and marks every exec-capable mount of the
// container. The root mount must be marked; another mount that cannot be
// is logged and left to the sigkill line.
func newGuard(t *target, timeout time.Duration, failDeny bool, emit func(Verdict), allowed func(*target, string), log *slog.Logger) (*guard, error) {
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK,
		unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fanotify_init(FAN_CLASS_CONTENT): %w", err)
	}
	g := &guard{t: t, log: log, emit: emit, allowed: allowed, timeout: timeout, failDeny: failDeny,
		done: make(chan struct{}), inflight: -1}
	g.f = os.NewFile(uintptr(fd), "fanotify:"+t.ref.ID)
	root := fmt.Sprintf("/proc/%d/root", t.ref.RootPID)
	if err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD|unix.FAN_MARK_MOUNT, unix.FAN_OPEN_EXEC_PERM, unix.AT_FDCWD, root+"/"); err != nil {
		g.f.Close()
		return nil, fmt.Errorf("fanotify_mark %s: %w", root, err)
	}
	for _, m := range t.mounts {
		if m.id == t.rootMnt || m.noExec {
			continue
		}
		err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD|unix.FAN_MARK_MOUNT, unix.FAN_OPEN_EXEC_PERM, unix.AT_FDCWD, filepath.Join(root, m.point))
		if err != nil {
			log.Warn("drift: cannot mark a container mount; the sigkill line still covers it",
				"container", t.ref.ID, "mount", m.point, "err", err)
		}
	}
	go g.run()
	return g, nil
}

// close removes the marks; pending events are allowed by the kernel.
func (g *guard) close() {
	g.f.Close()
	<-g.done
}

// retireDrain is how long a retiring group keeps answering after its
// marks are gone: events the kernel queued to it before then are judged,
// not allowed by the close. An exec that passed the marks has its event
// queued within microseconds.
const retireDrain = 20 * time.Millisecond

// retire ends the group without letting through what it was asked about:
// its marks go first (no new events), then the handler answers every
// event already queued, and only then is the group closed (the kernel
// would allow whatever was still pending). The group that replaces it has
// its marks in place already, so every exec from then on asks it.
func (g *guard) retire() {
	if err := unix.FanotifyMark(int(g.f.Fd()), unix.FAN_MARK_FLUSH|unix.FAN_MARK_MOUNT, 0, unix.AT_FDCWD, "/"); err != nil {
		g.log.Warn("drift: cannot remove a replaced group's marks; closing it at once", "container", g.t.ref.ID, "err", err)
	} else if err := g.f.SetReadDeadline(time.Now().Add(retireDrain)); err == nil {
		<-g.done // the handler drains until the deadline, then returns
	}
	g.close()
}

func (g *guard) run() {
	defer close(g.done)
	buf := make([]byte, 256*unix.FAN_EVENT_METADATA_LEN)
	for {
		n, err := g.f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return // retired: drained
			}
			if !errors.Is(err, os.ErrClosed) {
				g.log.Error("drift: fanotify read failed; the sigkill line still enforces", "container", g.t.ref.ID, "err", err)
			}
			return
		}
		for off := 0; off+unix.FAN_EVENT_METADATA_LEN <= n; {
			m := (*unix.FanotifyEventMetadata)(unsafe.Pointer(&buf[off]))
			if m.Event_len < unix.FAN_EVENT_METADATA_LEN || m.Vers != unix.FANOTIFY_METADATA_VERSION {
				g.log.Error("drift: unexpected fanotify metadata", "container", g.t.ref.ID, "version", m.Vers)
				return
			}
			g.handle(m)
			off += int(m.Event_len)
		}
	}
}

func (g *guard) handle(m *unix.FanotifyEventMetadata) {
	if m.Fd < 0 {
		return // queue overflow; permission events are never dropped
	}
	if m.Mask&unix.FAN_OPEN_EXEC_PERM == 0 {
		g.respond(m.Fd, unix.FAN_ALLOW)
		unix.Close(int(m.Fd))
		return
	}
	g.mu.Lock()
	g.inflight, g.since, g.answered = m.Fd, time.Now(), false
	g.mu.Unlock()

	d := g.t.decide(int(m.Fd), m.Pid)
	if d.allowedBy {
		g.allowed(g.t, d.path) // before the answer: the kernel must agree at exec
	}

	resp := uint32(unix.FAN_ALLOW)
	if d.reason != "" {
		resp = unix.FAN_DENY
	}
	g.mu.Lock()
	late := g.answered
	if !late {
		g.write(m.Fd, resp)
	}
	g.inflight = -1
	g.mu.Unlock()
	unix.Close(int(m.Fd))

	if d.reason == "" {
		return
	}
	v := Verdict{
		Time:      time.Now(),
		Container: g.t.ref.ID,
		CgroupID:  g.t.cgroupID,
		PID:       uint32(m.Pid),
		Path:      d.path,
		Inode:     d.ino,
		SHA256:    d.sha256,
		Detail:    d.detail,
		Reason:    d.reason,
		Action:    Blocked,
		Mechanism: Fanotify,
	}
	if late && !g.failDeny {
		if d.reason.Drift() {
			return // the watchdog allowed it: the sigkill line decides and reports
		}
		// No other line refuses the exec checks: the program ran.
		v.Action = BlockFailed
	}
	g.emit(v)
}

// watch answers the event in flight if its decision is later than the
// timeout. Called by Drift's watchdog.
func (g *guard) watch(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inflight < 0 || g.answered || now.Sub(g.since) < g.timeout {
		return
	}
	resp := uint32(unix.FAN_ALLOW)
	if g.failDeny {
		resp = unix.FAN_DENY
	}
	g.write(g.inflight, resp)
	g.late++
	g.log.Warn("drift: fanotify decision late; answered by the fail policy",
		"container", g.t.ref.ID, "after", now.Sub(g.since), "deny", g.failDeny)
}

func (g *guard) respond(fd int32, resp uint32) {
	g.mu.Lock()
	g.write(fd, resp)
	g.mu.Unlock()
}

// write answers one event; the caller holds mu.
func (g *guard) write(fd int32, resp uint32) {
	r := unix.FanotifyResponse{Fd: fd, Response: resp}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&r)), unsafe.Sizeof(r))
	if _, err := g.f.Write(b); err != nil && !errors.Is(err, os.ErrClosed) {
		g.log.Error("drift: fanotify response failed", "container", g.t.ref.ID, "err", err)
	}
	g.answered = true
}

// decision is the handler's answer for one exec.
type decision struct {
	reason Reason // empty: allowed
	path   string
	ino    uint64
	sha256 string
	detail string
	// allowedBy: drifted, but allowed by ContainerRef.AllowMatch.
	allowedBy bool
}

// decide judges the file open for exec behind fd, executed by process pid:
// the exec checks first, then, in enforce mode, whether it is part of the
// image. It makes a bounded number of local system calls (statx, readlink,
// at most 2+len(lowers) lstats, the caller's /proc status, and one read of
// the file when digests are blocked and the file is not in the cache) and
// never blocks on anything but the local disk.
func (t *target) decide(fd int, pid int32) decision {
	var st unix.Statx_t
	mask := unix.STATX_INO | unix.STATX_NLINK | unix.STATX_MNT_ID | unix.STATX_MODE | unix.STATX_UID | unix.STATX_GID |
		unix.STATX_SIZE | unix.STATX_CTIME
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, mask, &st); err != nil {
		// Cannot tell: refuse; the file was not proven allowed.
		if t.ref.Mode == Enforce {
			return decision{reason: UpperLayer, path: "?"}
		}
		return decision{reason: Blocklisted, path: "?", detail: "cannot stat the file: " + err.Error()}
	}
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		p = "?"
	}
	d := decision{path: p, ino: st.Ino}
	if x := t.ref.Exec; x.Any() {
		if x.Blocked != nil && x.Blocked(p) {
			d.reason = Blocklisted
			return d
		}
		if x.Allowed != nil && (p == "?" || !x.Allowed(p)) {
			// A path that cannot be read is not proven allowed.
			d.reason = NotAllowlisted
			return d
		}
		if len(x.BlockedSHA256) > 0 {
			sum, err := t.digests.sum(fd, &st)
			switch {
			case err != nil:
				d.reason, d.detail = Blocklisted, "cannot hash the file: "+err.Error()
				return d
			case x.BlockedSHA256[sum]:
				d.reason, d.sha256, d.detail = Blocklisted, sum, "sha256 "+sum
				return d
			}
		}
		if x.NoNewPrivileges {
			if gain := newPrivileges(fd, &st, pid); gain != "" {
				d.reason, d.detail = NewPrivileges, gain
				return d
			}
		}
	}
	if t.ref.Mode != Enforce {
		return d
	}
	d.reason = t.drift(fd, p, &st)
	if d.reason != "" && t.ref.AllowMatch != nil && p != "?" && t.ref.AllowMatch(p) {
		d.reason, d.allowedBy = "", true
	}
	return d
}

// drift says why the file behind fd at p is not part of the image, or ""
// when it is or is allowed by path.
func (t *target) drift(fd int, p string, st *unix.Statx_t) Reason {
	if st.Nlink == 0 {
		return Deleted
	}
	if t.allow[p] {
		return ""
	}
	if st.Mnt_id == t.rootMnt {
		if t.upper == "" {
			// Not an overlay (a plain directory, podman --rootfs):
			// nothing here tells a new file from the image's, and
			// the caller was told so (RootJudged).
			return ""
		}
		if t.onUpper(p, st.Ino) {
			return UpperLayer
		}
		return ""
	}
	if t.execMounts[st.Mnt_id] {
		return ""
	}
	var sfs unix.Statfs_t
	if unix.Fstatfs(fd, &sfs) == nil && sfs.Flags&unix.ST_RDONLY != 0 {
		return ""
	}
	return Volume
}

// newPrivileges says how executing the file behind fd would raise the
// privileges of process pid, or "" when it would not: a set-user-ID file
// owned by another user than pid's effective one, a set-group-ID file of
// another group, or file capabilities; none of them count on a nosuid
// mount or for a process with no_new_privs, where the kernel ignores
// them. A process whose credentials cannot be read is judged as gaining.
func newPrivileges(fd int, st *unix.Statx_t, pid int32) string {
	setuid := st.Mode&unix.S_ISUID != 0
	setgid := st.Mode&unix.S_ISGID != 0 && st.Mode&unix.S_IXGRP != 0
	caps := false
	if n, err := unix.Fgetxattr(fd, "security.capability", nil); err == nil && n > 0 {
		caps = true
	}
	if !setuid && !setgid && !caps {
		return ""
	}
	var sfs unix.Statfs_t
	if unix.Fstatfs(fd, &sfs) == nil && sfs.Flags&unix.ST_NOSUID != 0 {
		return ""
	}
	cred, err := readCreds(int(pid))
	if err != nil {
		return "set-user-ID, set-group-ID or file capabilities, and the caller's credentials cannot be read: " + err.Error()
	}
	switch {
	case cred.noNewPrivs:
		return ""
	case setuid && st.Uid != cred.euid:
		return fmt.Sprintf("set-user-ID to uid %d (caller euid %d)", st.Uid, cred.euid)
	case setgid && st.Gid != cred.egid:
		return fmt.Sprintf("set-group-ID to gid %d (caller egid %d)", st.Gid, cred.egid)
	case caps:
		return "file capabilities"
	}
	return ""
}

// creds are the parts of a process's credentials newPrivileges needs.
type creds struct {
	euid, egid uint32
	noNewPrivs bool
}

// readCreds reads them from /proc/PID/status.
func readCreds(pid int) (creds, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return creds{}, err
	}
	var c creds
	seen := 0
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		switch {
		case k == "Uid" && len(f) >= 2:
			c.euid, err = parseID(f[1])
		case k == "Gid" && len(f) >= 2:
			c.egid, err = parseID(f[1])
		case k == "NoNewPrivs" && len(f) == 1:
			c.noNewPrivs = f[0] == "1"
		default:
			continue
		}
		if err != nil {
			return creds{}, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		seen++
	}
	if seen < 2 {
		return creds{}, fmt.Errorf("/proc/%d/status: no Uid or Gid line", pid)
	}
	return c, nil
}

func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err
}

// onUpper reports whether the root-mount file at p (inside the container)
// with inode ino is not the image's file at p: it is on the upper layer
// (new, or copied up by a write or chmod), or, where overlayfs shows lower
// inode numbers unchanged, it is not the inode the topmost lower layer
// holds at p.
func (t *target) onUpper(p string, ino uint64) bool {
	var st unix.Stat_t
	if unix.Lstat(filepath.Join(t.upper, p), &st) == nil {
		return true // the file, a copy-up of it, or the whiteout left by a rename
	}
	if !t.inoIdentity {
		return false
	}
	for _, l := range t.lowers {
		if unix.Lstat(filepath.Join(l, p), &st) == nil {
			return st.Ino != ino
		}
	}
	return true // in no layer under its name: not an image file
}
