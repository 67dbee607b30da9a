package agent

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// escapes recognises a container's process that left its container: it
// moved itself (or was moved) out of the container's cgroup, which a
// privileged container can do by mounting the cgroup file system and
// writing its pid into another cgroup.procs. Such a process is known by
// its PID namespace, which it cannot leave: the sensor reports the moved
// process's namespaces on cgroup_move, and every exec's. Drift Prevention
// follows it in the kernel by the same key (package enforce); the cgroup's
// other controls (network, fork guard) do not, so in a container with
// controls in enforce mode the process is killed.
type escapes struct {
	mu       sync.Mutex
	hostPID  uint32
	byNS     map[uint32]string        // PID namespace inode → container id (containers with their own only)
	ctrs     map[string]*escapeTarget // by container id
	reported map[uint32]bool          // pids already reported
	windows  map[string]*escapeWindow // by container id: an escape reported less than escapeWindow ago
}

// escapeFollowWindow is how long after an escape alert the further processes of
// the same container found outside it (the escaped shell's children) are
// handled and counted, then reported together, rather than one alert each.
const escapeFollowWindow = 10 * time.Second

type escapeWindow struct {
	pids   []uint32
	killed int
	last   *event.Event
	ctr    *event.Container
}

type escapeTarget struct {
	ctr    *event.Container
	pidNS  uint32
	pid    uint32 // the process of the container its pidNS was read from
	cgroup string // its own cgroup, below the cgroup v2 root
}

// current reports whether t still describes a live container: the process
// its PID namespace was read from still has it. Namespace inode numbers
// are reused as soon as a namespace is gone, and a new container's first
// process moving into its own cgroup must not pass for an old container's
// process leaving.
func (t *escapeTarget) current() bool {
	ns, err := nsInode("/proc/" + strconv.FormatUint(uint64(t.pid), 10) + "/ns/pid")
	return err == nil && ns == t.pidNS
}

func newEscapes() *escapes {
	e := &escapes{byNS: map[uint32]string{}, ctrs: map[string]*escapeTarget{}, reported: map[uint32]bool{}, windows: map[string]*escapeWindow{}}
	e.hostPID, _ = nsInode("/proc/self/ns/pid")
	return e
}

func nsInode(path string) (uint32, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return uint32(st.Ino), nil
}

// track notes that container c, whose own cgroup is cgroupPath, has
// process pid inside it: its PID namespace is the container's.
func (e *escapes) track(c *event.Container, cgroupPath string, pid uint32) {
	ns, err := nsInode("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/ns/pid")
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if old := e.ctrs[c.ID]; old != nil && old.pidNS != ns && e.byNS[old.pidNS] == c.ID {
		delete(e.byNS, old.pidNS)
	}
	t := &escapeTarget{ctr: c, pidNS: ns, pid: pid, cgroup: cgroupPath}
	e.ctrs[c.ID] = t
	if ns != e.hostPID {
		e.byNS[ns] = c.ID // --pid host containers have none of their own
	}
}

func (e *escapes) forget(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.ctrs[id]; t != nil && e.byNS[t.pidNS] == id {
		delete(e.byNS, t.pidNS)
	}
	delete(e.ctrs, id)
}

// owner returns the container whose PID namespace ns is, and its own
// cgroup; a stale entry (the container is gone and the inode number may
// name another namespace now) is dropped.
func (e *escapes) owner(ns uint32) (*escapeTarget, bool) {
	e.mu.Lock()
	id, ok := e.byNS[ns]
	t := e.ctrs[id]
	e.mu.Unlock()
	if !ok || t == nil {
		return nil, false
	}
	if !t.current() {
		e.mu.Lock()
		if e.byNS[ns] == id {
			delete(e.byNS, ns)
		}
		e.mu.Unlock()
		return nil, false
	}
	return t, true
}

// ownerOf returns what is tracked of container id.
func (e *escapes) ownerOf(id string) (*escapeTarget, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.ctrs[id]
	return t, t != nil
}

// first reports whether pid's escape has not been reported yet.
func (e *escapes) first(pid uint32) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.reported[pid] {
		return false
	}
	if len(e.reported) > 4096 {
		clear(e.reported)
	}
	e.reported[pid] = true
	return true
}

// under reports whether cgroup path p is cgroup dir or below it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// checkEscape looks at one event for a container's process that left its
// container: a cgroup move of a process of a container's PID namespace to
// a cgroup outside the container's, an exec in a host cgroup by a process
// of a container's PID namespace, or a container process mounting the
// cgroup file system (the first step of the move). Called on the event
// path, for the rare events it concerns.
func (a *Agent) checkEscape(ev *event.Event) {
	esc := a.escapes
	switch ev.Type {
	case event.CgroupMove:
		m := ev.Cgroup
		if m == nil || m.PidNS == 0 {
			return
		}
		t, ok := esc.owner(m.PidNS)
		if !ok || under(m.Path, t.cgroup) || !esc.first(m.PID) {
			return
		}
		a.escaped(ev, t, m.PID, fmt.Sprintf("was moved out of its container's cgroup %s into %s", t.cgroup, m.Path))
	case event.Exec:
		if !ev.Container.IsHost() || ev.Process.PidNS == 0 {
			return
		}
		t, ok := esc.owner(ev.Process.PidNS)
		if !ok || !esc.first(ev.Process.PID) {
			return
		}
		a.escaped(ev, t, ev.Process.PID, "runs outside its container's cgroup (exec of "+ev.Process.Exe+" in a host cgroup)")
	case event.Mount:
		if ev.Container.IsHost() || ev.Args == nil || ev.Result != 0 {
			return
		}
		if fs := ev.Args.FSType; fs == "cgroup" || fs == "cgroup2" {
			msg := fmt.Sprintf("Process %s in container %s mounted the cgroup file system (%s) at %s: the first step of leaving its cgroup",
				ev.Process.Exe, ev.Container.Name, fs, ev.Args.Target)
			a.writeAlert(escapeAlert(ev, ev.Container, "Warning", msg, event.Detected))
		}
	}
}

// escaped reports process pid of container t that left it, and kills it
// when the container has controls in enforce mode: the cgroup-bound ones
// (network refusal, fork guard) no longer hold for it. The first escaped
// process of a container raises an alert at once; those found in the next
// escapeFollowWindow are handled alike and reported in one alert with their
// number.
func (a *Agent) escaped(ev *event.Event, t *escapeTarget, pid uint32, how string) {
	action, fate := event.Detected, "its drift prevention follows it by its PID namespace; the cgroup's other controls do not"
	if a.protect != nil && a.protect.enforcing(t.ctr.ID) {
		// The process must still be the container's: its PID namespace
		// is checked right before the kill.
		var err error = syscall.ESRCH
		if ns, nerr := nsInode("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/ns/pid"); nerr == nil && ns == t.pidNS {
			err = syscall.Kill(int(pid), syscall.SIGKILL)
		}
		switch {
		case err == nil:
			action, fate = event.Blocked, "killed: the container's policies are in enforce mode"
		case err == syscall.ESRCH:
			fate = "the process is gone already"
		default:
			fate = "could NOT be killed: " + err.Error()
		}
	}
	esc := a.escapes
	esc.mu.Lock()
	if w := esc.windows[t.ctr.ID]; w != nil {
		w.pids = append(w.pids, pid)
		if action == event.Blocked {
			w.killed++
		}
		last := *ev // ev is the sensor's, reused for the next record
		last.Process.Args = slices.Clone(ev.Process.Args)
		last.Process.Ancestors = slices.Clone(ev.Process.Ancestors)
		w.last = &last
		esc.mu.Unlock()
		a.log.Warn("another process of the container left its container", "container", t.ctr.Name, "pid", pid, "action", action)
		return
	}
	w := &escapeWindow{ctr: t.ctr}
	esc.windows[t.ctr.ID] = w
	esc.mu.Unlock()
	time.AfterFunc(escapeFollowWindow, func() { a.closeEscapeWindow(t.ctr.ID, w) })

	msg := fmt.Sprintf("Process %d (%s) of container %s %s", pid, ev.Process.Exe, t.ctr.Name, how)
	if ev.Type == event.CgroupMove && ev.Process.PID != pid {
		msg += fmt.Sprintf("; moved by process %d (%s)", ev.Process.PID, ev.Process.Exe)
	}
	msg += "; " + fate
	a.log.Warn("a container's process left its container", "container", t.ctr.Name, "pid", pid, "how", how, "action", action)
	a.writeAlert(escapeAlert(ev, t.ctr, "Critical", msg, action))
}

// flushEscapes reports the processes counted in every open window now: the
// agent is stopping.
func (a *Agent) flushEscapes() {
	a.escapes.mu.Lock()
	ws := make(map[string]*escapeWindow, len(a.escapes.windows))
	for id, w := range a.escapes.windows {
		ws[id] = w
	}
	a.escapes.mu.Unlock()
	for id, w := range ws {
		a.closeEscapeWindow(id, w)
	}
}

// closeEscapeWindow reports the processes of a container found outside it
// after its escape alert, if any.
func (a *Agent) closeEscapeWindow(id string, w *escapeWindow) {
	esc := a.escapes
	esc.mu.Lock()
	if esc.windows[id] == w {
		delete(esc.windows, id)
	}
	pids, killed, last := w.pids, w.killed, w.last
	w.pids = nil // reported once, by the timer or by flushEscapes
	esc.mu.Unlock()
	if len(pids) == 0 {
		return
	}
	action := event.Detected
	if killed == len(pids) {
		action = event.Blocked
	}
	msg := fmt.Sprintf("%d more processes of container %s ran outside its cgroup after it escaped (pids %v); %d killed", len(pids), w.ctr.Name, pids, killed)
	al := escapeAlert(last, w.ctr, "Critical", msg, action)
	al.Count = len(pids)
	a.writeAlert(al)
}

func escapeAlert(ev *event.Event, c *event.Container, priority, msg, action string) *event.Alert {
	now := ev.Time
	if now.IsZero() {
		now = time.Now()
	}
	p := ev.Process
	p.Ancestors = append([]event.Process(nil), ev.Process.Ancestors...)
	return &event.Alert{
		Kind:     "alert",
		Time:     now,
		Rule:     "Container Escape",
		Priority: priority,
		Output:   now.Format("15:04:05.000000000") + ": " + priority + " " + msg,
		OutputFields: map[string]any{
			"container.id": c.ID, "container.name": c.Name, "container.image": c.Image,
			"proc.pid": int64(p.PID), "proc.exepath": p.Exe, "proc.cmdline": strings.Join(p.Args, " "),
			"evt.type": string(ev.Type),
		},
		Source:    "syscall",
		Tags:      []string{"mamori", "container", "escape", "mitre_privilege_escalation", "T1611"},
		Hostname:  ev.Node,
		Action:    action,
		Event:     ev.Type,
		Process:   &p,
		Container: c,
	}
}
