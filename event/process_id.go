package event

import (
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"time"
)

// ProcessID names a process for as long as its node stays up: a pid is
// reused, but not together with the same start time on the same boot. The
// boot id (/proc/sys/kernel/random/boot_id) keeps ids of different nodes
// and boots apart. The start time counts in 10 ms steps, the kernel's
// USER_HZ in /proc: the agent learns a process's start from its exec, its
// fork or /proc, and these agree to that step, not to the nanosecond. It is
// 16 hex digits; "" when the start time is unknown, since a pid alone would
// merge distinct processes.
func ProcessID(bootID string, pid uint32, start time.Time) string {
	if start.IsZero() || pid == 0 {
		return ""
	}
	h := fnv.New64a()
	h.Write([]byte(bootID))
	var b [12]byte
	binary.LittleEndian.PutUint32(b[0:4], pid)
	binary.LittleEndian.PutUint64(b[4:12], uint64(start.UnixNano()/int64(10*time.Millisecond)))
	h.Write(b[:])
	var sum [8]byte
	return hex.EncodeToString(binary.BigEndian.AppendUint64(sum[:0], h.Sum64()))
}

// SetProcessIDs fills the ID and ParentID of p and of its ancestors (nearest
// first, each the parent of the one before). The oldest ancestor's parent
// is not known here and keeps an empty ParentID.
func SetProcessIDs(bootID string, p *Process) {
	p.ID = ProcessID(bootID, p.PID, p.StartTime)
	for i := range p.Ancestors {
		a := &p.Ancestors[i]
		a.ID = ProcessID(bootID, a.PID, a.StartTime)
		if i == 0 {
			p.ParentID = a.ID
		} else {
			p.Ancestors[i-1].ParentID = a.ID
		}
	}
}
