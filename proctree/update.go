package proctree

import (
	"time"

	"github.com/mamori-dev/mamori/event"
)

// evictionSample is how many live entries are looked at to pick one to
// evict when the tree is full and no exited entry is left to drop.
const evictionSample = 16

// Update applies what e says about the process tree: an exec replaces the
// process's image, a fork creates the child with its parent's image, an exit
// marks the process exited (it stays resolvable for a while, see Config). Any
// event adds a process the tree did not know and corrects its parent pid:
// after reparenting the kernel's word is the event's.
//
// Call Update before Enrich for the same event, so that an exec event's
// ancestors are those of the new program.
func (t *Tree) Update(e *event.Event) {
	p := &e.Process
	if p.PID == 0 {
		return // the idle task, or a record without a process
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seen++
	switch e.Type {
	case event.Exec:
		t.exec(p)
	case event.Fork:
		t.fork(e)
	case event.Exit:
		t.exit(e)
	default:
		t.touch(p)
	}
	if !e.Time.IsZero() {
		t.expire(e.Time)
	}
}

// touch returns p's entry after correcting its parent, adding it from what
// the event says when the tree did not know it.
func (t *Tree) touch(p *event.Process) *entry {
	en := t.procs[p.PID]
	if en == nil {
		en = t.insert(p.PID)
		en.img = imageOf(p)
		en.ppid = p.PPID
		en.setCreds(p)
		en.start = p.StartTime
	} else if p.PPID != 0 && p.PPID != en.ppid && !en.exited {
		en.ppid = p.PPID
	}
	en.seen = t.seen
	return en
}

func (t *Tree) exec(p *event.Process) {
	t.stats.Execs++
	en := t.procs[p.PID]
	if en != nil && en.exited {
		// An exec after the pid's exit is a new process whose fork was lost.
		t.remove(en)
		en = nil
	}
	if en == nil {
		en = t.insert(p.PID)
	}
	// An exec in a non-leader thread arrives with the tgid in PID: the
	// kernel has made the thread the leader, so it is the same process.
	en.img = imageOf(p)
	if p.PPID != 0 {
		en.ppid = p.PPID
	}
	en.setCreds(p)
	if !p.StartTime.IsZero() {
		en.start = p.StartTime
	}
	en.seen = t.seen
}

func (t *Tree) fork(e *event.Event) {
	t.stats.Forks++
	p := &e.Process
	parent := *t.touch(p) // a copy: insert may evict or recycle the entry
	child := p.ChildPID
	if p.ChildIsThread || child == 0 || child == p.PID {
		return // a new thread is the same process
	}
	if old := t.procs[child]; old != nil {
		// The pid was reused: the earlier process's exit was lost, or it is
		// an exited entry still held. Either way it is gone now.
		t.remove(old)
	}
	ce := t.insert(child)
	gen := ce.gen
	*ce = parent
	ce.gen, ce.pid, ce.ppid = gen, child, p.PID
	ce.exited = false
	ce.start = e.Time
	// The child has its parent's credentials of now, which the event has.
	ce.uid, ce.gid, ce.euid, ce.egid = p.UID, p.GID, p.EUID, p.EGID
	ce.seen = t.seen
}

func (t *Tree) exit(e *event.Event) {
	p := &e.Process
	if p.TID != 0 && p.TID != p.PID {
		return // a thread, not the process, exited
	}
	t.stats.Exits++
	en := t.procs[p.PID]
	if en == nil {
		// Keep what the event says, so late events of its children resolve.
		en = t.touch(p)
	}
	at := e.Time
	if at.IsZero() {
		at = time.Now()
	}
	t.markExited(en, at)
}

// markExited keeps en resolvable until enough later exits or time pass.
func (t *Tree) markExited(en *entry, at time.Time) {
	if en.exited {
		return
	}
	if t.exited.full() {
		t.dropOldestExited()
	}
	en.exited = true
	t.nExited++
	t.exited.push(exitRec{pid: en.pid, gen: en.gen, at: at})
}

// expire drops exited entries older than the TTL.
func (t *Tree) expire(now time.Time) {
	for t.exited.len() > 0 && now.Sub(t.exited.oldest().at) > t.cfg.ExitedTTL {
		t.dropOldestExited()
	}
}

// dropOldestExited forgets the process that exited first, unless its pid
// has since been taken by a new process. It reports whether an entry went.
func (t *Tree) dropOldestExited() bool {
	rec := t.exited.pop()
	en := t.procs[rec.pid]
	if en == nil || en.gen != rec.gen || !en.exited {
		return false
	}
	t.remove(en)
	return true
}

// insert adds a fresh entry for pid, making room first if the tree is full.
// The caller fills it in.
func (t *Tree) insert(pid uint32) *entry {
	if len(t.procs) >= t.cfg.MaxEntries {
		t.makeRoom()
	}
	var en *entry
	if n := len(t.free); n > 0 {
		en = t.free[n-1]
		t.free = t.free[:n-1]
		*en = entry{}
	} else {
		en = new(entry)
	}
	t.gen++
	en.pid, en.gen = pid, t.gen
	t.procs[pid] = en
	return en
}

// remove forgets en and keeps its memory for the next insert.
func (t *Tree) remove(en *entry) {
	delete(t.procs, en.pid)
	if en.exited {
		t.nExited--
	}
	en.img = nil
	if len(t.free) < 1024 {
		t.free = append(t.free, en)
	}
}

// makeRoom evicts one entry: the oldest exited one, or else the least
// recently seen of a few live ones. Only lost exits or a cap set too low
// get here, which the Evicted counter and the log make visible.
func (t *Tree) makeRoom() {
	for t.exited.len() > 0 {
		if t.dropOldestExited() {
			return
		}
	}
	var victim *entry
	n := 0
	for pid, en := range t.procs {
		if pid == 1 {
			continue
		}
		if victim == nil || en.seen < victim.seen {
			victim = en
		}
		if n++; n == evictionSample {
			break
		}
	}
	if victim == nil {
		return
	}
	t.stats.Evicted++
	if t.stats.Evicted&(t.stats.Evicted-1) == 0 { // 1, 2, 4, 8...: log without flooding
		t.log.Warn("process tree full, evicting a live process",
			"pid", victim.pid, "max_entries", t.cfg.MaxEntries, "evicted", t.stats.Evicted)
	}
	t.remove(victim)
}
