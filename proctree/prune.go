package proctree

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Prune marks exited every live process that has no directory under the
// proc root any more: its exit event was lost, for example to a full ring
// buffer. Marked processes stay resolvable for a while like any other
// exited one, since events already queued may still name them. Call it now
// and then from a goroutine other than the event path's; the lock is held
// only to take a snapshot and to mark, never while reading /proc. It
// returns how many processes it marked.
func (t *Tree) Prune() int {
	type candidate struct {
		pid uint32
		gen uint64
	}
	t.mu.Lock()
	live := make([]candidate, 0, len(t.procs)-t.nExited)
	for pid, en := range t.procs {
		if !en.exited {
			live = append(live, candidate{pid, en.gen})
		}
	}
	t.mu.Unlock()

	var gone []candidate
	for _, c := range live {
		_, err := os.Lstat(filepath.Join(t.cfg.ProcRoot, strconv.FormatUint(uint64(c.pid), 10)))
		if errors.Is(err, fs.ErrNotExist) {
			gone = append(gone, c)
		}
	}
	if len(gone) == 0 {
		return 0
	}

	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range gone {
		// The generation tells whether the pid was taken again meanwhile.
		if en := t.procs[c.pid]; en != nil && en.gen == c.gen && !en.exited {
			t.markExited(en, now)
			n++
		}
	}
	t.stats.Pruned += uint64(n)
	t.log.Info("pruned processes whose exit was lost", "count", n)
	return n
}
