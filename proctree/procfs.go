package proctree

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unsafe"
)

// pfKthread is PF_KTHREAD in stat's flags field: the task is a kernel thread.
const pfKthread = 0x00200000

// procStat is what the tree takes from /proc/<pid>/stat.
type procStat struct {
	pid       uint32
	comm      string
	state     byte
	ppid      uint32
	pgrp      uint32
	session   uint32
	ttyNr     uint32 // as /proc encodes it: minor&0xff | major<<8 | (minor&^0xff)<<12
	flags     uint32
	startTime uint64 // clock ticks after boot
}

// Fields after the comm's closing parenthesis, counted from 0 at state
// (field 3 in proc(5)).
const (
	statState     = 0
	statPPID      = 1
	statPgrp      = 2
	statSession   = 3
	statTTY       = 4
	statFlags     = 6
	statStartTime = 19
)

// parseStat parses /proc/<pid>/stat. The comm sits between the first '('
// and the last ')': it is up to 15 bytes the process chose, and may itself
// hold spaces and parentheses, so the fields are counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	var s procStat
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return s, errors.New("stat: no (comm)")
	}
	pid, err := strconv.ParseUint(string(bytes.TrimSpace(b[:open])), 10, 32)
	if err != nil {
		return s, fmt.Errorf("stat: pid: %w", err)
	}
	s.pid = uint32(pid)
	s.comm = string(b[open+1 : end])

	rest := b[end+1:]
	for i := 0; i <= statStartTime; i++ {
		rest = bytes.TrimLeft(rest, " ")
		f := rest
		if sp := bytes.IndexByte(rest, ' '); sp >= 0 {
			f, rest = rest[:sp], rest[sp:]
		} else {
			rest = nil
		}
		f = bytes.TrimRight(f, "\n")
		if len(f) == 0 {
			return s, fmt.Errorf("stat: %d fields after comm, want %d", i, statStartTime+1)
		}
		switch i {
		case statState:
			s.state = f[0]
		case statPPID:
			s.ppid, err = parseU32(f)
		case statPgrp:
			s.pgrp, err = parseU32(f)
		case statSession:
			s.session, err = parseU32(f)
		case statTTY:
			// tty_nr is printed as a signed int; it fits 32 bits.
			var v int64
			v, err = strconv.ParseInt(string(f), 10, 64)
			s.ttyNr = uint32(v)
		case statFlags:
			s.flags, err = parseU32(f)
		case statStartTime:
			s.startTime, err = strconv.ParseUint(string(f), 10, 64)
		}
		if err != nil {
			return s, fmt.Errorf("stat: field %d: %w", i+3, err)
		}
	}
	return s, nil
}

func parseU32(f []byte) (uint32, error) {
	v, err := strconv.ParseUint(string(f), 10, 32)
	return uint32(v), err
}

// procStatus is what the tree takes from /proc/<pid>/status.
type procStatus struct {
	uid, euid, gid, egid uint32
	capEff               uint64
}

// parseStatus parses the Uid, Gid and CapEff lines of /proc/<pid>/status.
func parseStatus(b []byte) (procStatus, error) {
	var s procStatus
	var haveUID, haveGID bool
	for line := range bytes.Lines(b) {
		key, val, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		var err error
		switch string(key) {
		case "Uid":
			s.uid, s.euid, err = twoIDs(val)
			haveUID = err == nil
		case "Gid":
			s.gid, s.egid, err = twoIDs(val)
			haveGID = err == nil
		case "CapEff":
			s.capEff, err = strconv.ParseUint(string(bytes.TrimSpace(val)), 16, 64)
		}
		if err != nil {
			return s, fmt.Errorf("status: %s: %w", key, err)
		}
	}
	if !haveUID || !haveGID {
		return s, errors.New("status: no Uid or Gid line")
	}
	return s, nil
}

// twoIDs returns the real and effective ids of a "real eff saved fs" line.
func twoIDs(val []byte) (real, eff uint32, err error) {
	f := strings.Fields(string(val))
	if len(f) < 2 {
		return 0, 0, fmt.Errorf("%d ids, want 4", len(f))
	}
	r, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil {
		return 0, 0, err
	}
	e, err := strconv.ParseUint(f[1], 10, 32)
	return uint32(r), uint32(e), err
}

// parseCmdline splits /proc/<pid>/cmdline at NULs, keeping at most max
// bytes. A kernel thread or zombie has an empty cmdline and gets nil.
func parseCmdline(b []byte, max int) (args []string, truncated bool) {
	if len(b) > max {
		b, truncated = b[:max], true
	}
	b = bytes.TrimSuffix(b, []byte{0})
	if len(b) == 0 {
		return nil, truncated
	}
	for a := range bytes.SplitSeq(b, []byte{0}) {
		args = append(args, string(a))
	}
	return args, truncated
}

// parseLoginUID parses /proc/<pid>/loginuid, where 4294967295 means unset.
func parseLoginUID(b []byte) (int64, error) {
	v, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 32)
	if err != nil {
		return -1, fmt.Errorf("loginuid: %w", err)
	}
	if v == 1<<32-1 {
		return -1, nil
	}
	return int64(v), nil
}

// exeFlags strips what the kernel appends to the exe link of a deleted file
// and says whether the program came from a memfd.
func exeFlags(link string) (exe string, deleted, memfd bool) {
	exe, deleted = strings.CutSuffix(link, " (deleted)")
	return exe, deleted, strings.HasPrefix(exe, "/memfd:")
}

// parseBootTime returns btime, the boot time in seconds since the epoch,
// from /proc/stat.
func parseBootTime(b []byte) (int64, error) {
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			return strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		}
	}
	return 0, errors.New("stat: no btime line")
}

// atClkTck is AT_CLKTCK in the ELF auxiliary vector: the kernel's USER_HZ.
const atClkTck = 17

// parseClockTicks finds AT_CLKTCK in an auxiliary vector (/proc/self/auxv),
// pairs of native words; it is what sysconf(_SC_CLK_TCK) returns, without cgo.
func parseClockTicks(b []byte) (int, bool) {
	const w = int(unsafe.Sizeof(uintptr(0)))
	word := func(b []byte) uint64 {
		if w == 4 {
			return uint64(binary.NativeEndian.Uint32(b))
		}
		return binary.NativeEndian.Uint64(b)
	}
	for ; len(b) >= 2*w; b = b[2*w:] {
		if word(b) == atClkTck {
			if v := word(b[w:]); v > 0 && v < 1<<20 {
				return int(v), true
			}
			return 0, false
		}
	}
	return 0, false
}

// kernelDev turns a user-space st_dev, or stat's tty_nr, into the kernel's
// major<<20|minor, the encoding the sensor uses for ExeDevice and TTY.
func kernelDev(dev uint64) uint32 {
	major := uint32((dev>>8)&0xfff | (dev>>32)&^0xfff)
	minor := uint32(dev&0xff | (dev>>12)&^0xff)
	return major<<20 | minor&(1<<20-1)
}
