package enforce

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
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
	t       *target
	f       *os.File
	log     *slog.Logger
	emit    func(Verdict)
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
func newGuard(t *target, timeout time.Duration, failDeny bool, emit func(Verdict), log *slog.Logger) (*guard, error) {
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK,
		unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fanotify_init(FAN_CLASS_CONTENT): %w", err)
	}
	g := &guard{t: t, log: log, emit: emit, timeout: timeout, failDeny: failDeny,
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

func (g *guard) run() {
	defer close(g.done)
	buf := make([]byte, 256*unix.FAN_EVENT_METADATA_LEN)
	for {
		n, err := g.f.Read(buf)
		if err != nil {
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

	d := g.t.decide(int(m.Fd))

	resp := uint32(unix.FAN_ALLOW)
	if d.reason != "" && g.t.ref.Mode == Enforce {
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
		Reason:    d.reason,
		Action:    Blocked,
		Mechanism: Fanotify,
	}
	if resp == unix.FAN_ALLOW || (late && !g.failDeny) {
		// Audit mode, or the watchdog allowed it first: the sigkill
		// line decides and reports on its own.
		return
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
	reason Reason // empty: from the image, or allowed
	path   string
	ino    uint64
}

// decide says whether the file open for exec behind fd is part of the
// image. It makes a bounded number of local system calls (statx, readlink,
// at most 2+len(lowers) lstats) and never blocks on anything but the
// local disk.
func (t *target) decide(fd int) decision {
	var st unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_INO|unix.STATX_NLINK|unix.STATX_MNT_ID, &st); err != nil {
		return decision{reason: UpperLayer, path: "?"} // cannot tell: refuse, the file was not proven an image file
	}
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		p = "?"
	}
	d := decision{path: p, ino: st.Ino}
	if st.Nlink == 0 {
		d.reason = Deleted
		return d
	}
	if t.allow[p] {
		return d
	}
	if st.Mnt_id == t.rootMnt {
		if t.onUpper(p, st.Ino) {
			d.reason = UpperLayer
		}
		return d
	}
	if t.execMounts[st.Mnt_id] {
		return d
	}
	var sfs unix.Statfs_t
	if unix.Fstatfs(fd, &sfs) == nil && sfs.Flags&unix.ST_RDONLY != 0 {
		return d
	}
	d.reason = Volume
	return d
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
