package output

import (
	"slices"

	"github.com/mamori-dev/mamori/event"
)

// memoSets is how many sets of two slots a Writer remembers processes'
// JSON in: a process's set is chosen by its pid, and whether it is written
// as an acting process or as an ancestor (the two differ: an ancestor has
// no thread id, environment or namespaces). Two slots a set keep two busy
// processes whose pids meet in a set from taking each other's place on
// every event.
const memoSets = 64

// memoMaxBytes bounds what one slot keeps: a process whose members take
// more (a long environment) is written anew every time.
const memoMaxBytes = 8 << 10

// processMemo remembers the JSON of the processes a Writer wrote lately.
// A process writes many events in a row (a file storm is one process
// opening and unlinking files), and its ancestors are in every event of its
// descendants, up to 8 of them: with --events, writing the same processes'
// members again and again was three quarters of the agent's CPU. A
// remembered process is reused only when it is equal, field by field, to the
// one being written (sameProcess), so that the output is byte for byte
// AppendJSON's (TestWriterMatchesEncodingJSON).
type processMemo struct {
	sets [memoSets][2]memoSlot
	last [memoSets]uint8 // the slot of each set used last
}

// memoSlot is one remembered process.
type memoSlot struct {
	used bool
	// p is the process as it was written, without ancestors; its slices
	// and pointers are the slot's own, so that a caller that reuses its
	// event cannot change it.
	p                    event.Process
	args, env            []string
	exitCode, exitSignal int32
	json                 []byte // appendMembers(p)
}

// appendMembers appends what appendMembers writes for p, from the memo
// when it has p.
func (m *processMemo) appendMembers(b []byte, p *event.Process, ancestor bool) []byte {
	i := uint(p.PID) << 1
	if ancestor {
		i |= 1
	}
	i %= memoSets
	set, last := &m.sets[i], m.last[i]
	if s := &set[last]; s.used && sameProcess(&s.p, p) {
		return append(b, s.json...)
	}
	if s := &set[1-last]; s.used && sameProcess(&s.p, p) {
		m.last[i] = 1 - last
		return append(b, s.json...)
	}
	// In place of the process's earlier state if the set has it (or of a
	// process that had its pid before), else of the slot used less lately.
	k := 1 - last
	if set[last].p.PID == p.PID {
		k = last
	}
	m.last[i] = k
	s := &set[k]
	start := len(b)
	b = appendMembers(b, p)
	if len(b)-start > memoMaxBytes {
		*s = memoSlot{}
		return b
	}
	s.keep(p, b[start:])
	return b
}

// keep remembers p, written as enc.
func (s *memoSlot) keep(p *event.Process, enc []byte) {
	s.used = true
	s.json = append(s.json[:0], enc...)
	s.p = *p
	s.p.Ancestors = nil
	s.p.Args = cloneInto(s.args, p.Args)
	s.args = s.p.Args
	s.p.Env = cloneInto(s.env, p.Env)
	s.env = s.p.Env
	if p.ExitCode != nil {
		s.exitCode = *p.ExitCode
		s.p.ExitCode = &s.exitCode
	}
	if p.ExitSignal != nil {
		s.exitSignal = *p.ExitSignal
		s.p.ExitSignal = &s.exitSignal
	}
}

// cloneInto copies src into dst's storage; nil stays nil and empty stays
// empty, since JSON tells them apart (args: null or []).
func cloneInto(dst, src []string) []string {
	if src == nil {
		return nil
	}
	if dst == nil {
		dst = make([]string, 0, len(src))
	}
	return append(dst[:0], src...)
}

// sameProcess reports whether a and b are written alike, leaving their
// ancestors aside: every member appendMembers writes is compared.
// TestSameProcessSeesEveryField fails when event.Process gains a field
// that is not.
func sameProcess(a, b *event.Process) bool {
	return a.PID == b.PID && a.VPID == b.VPID && a.TID == b.TID && a.PPID == b.PPID &&
		a.ID == b.ID && a.ParentID == b.ParentID &&
		a.Name == b.Name && a.Exe == b.Exe &&
		sameStrings(a.Args, b.Args) && a.ArgsTruncated == b.ArgsTruncated &&
		sameStrings(a.Env, b.Env) && a.EnvTruncated == b.EnvTruncated &&
		a.Cwd == b.Cwd &&
		a.UID == b.UID && a.GID == b.GID && a.EUID == b.EUID && a.EGID == b.EGID &&
		a.LoginUID == b.LoginUID && a.TTY == b.TTY && a.SID == b.SID && a.PGID == b.PGID &&
		a.PidNS == b.PidNS && a.MntNS == b.MntNS &&
		a.CapEffective == b.CapEffective && a.CapPermitted == b.CapPermitted && a.CapInheritable == b.CapInheritable &&
		// ==, not Equal: the same instant in another zone is written
		// differently.
		a.StartTime == b.StartTime &&
		a.ExeInode == b.ExeInode && a.ExeDevice == b.ExeDevice &&
		a.ExeMtime == b.ExeMtime && a.ExeCtime == b.ExeCtime &&
		a.ExeUpperLayer == b.ExeUpperLayer && a.ExeFromMemfd == b.ExeFromMemfd && a.ExeDeleted == b.ExeDeleted &&
		a.ExeLowerLayer == b.ExeLowerLayer && a.ExeWritable == b.ExeWritable &&
		sameInt32(a.ExitCode, b.ExitCode) && sameInt32(a.ExitSignal, b.ExitSignal) &&
		a.ChildPID == b.ChildPID && a.ChildIsThread == b.ChildIsThread
}

func sameStrings(a, b []string) bool {
	return (a == nil) == (b == nil) && slices.Equal(a, b)
}

func sameInt32(a, b *int32) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
