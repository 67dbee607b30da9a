package proctree

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Scan seeds the tree with every process under Config.ProcRoot. Start the
// sensor first, then Scan: a process the tree already knows from an event
// is left as the event said, so nothing that happens meanwhile is lost or
// overwritten with older state.
//
// A process that vanishes mid-scan, or whose files cannot be read, is
// skipped or kept with what could be read (a kernel thread has no exe and
// no args); only an unreadable proc root is an error. Scan returns how many
// processes it added.
func (t *Tree) Scan() (int, error) {
	root := t.cfg.ProcRoot
	dirents, err := os.ReadDir(root)
	if err != nil {
		return 0, fmt.Errorf("scan processes: %w", err)
	}
	boot, err := t.bootTime()
	if err != nil {
		t.log.Warn("process start times unknown", "err", err)
	}
	hz := t.clockTicks()

	found := make([]*entry, 0, len(dirents))
	var skipped int
	for _, d := range dirents {
		pid, err := strconv.ParseUint(d.Name(), 10, 32)
		if err != nil || pid == 0 || !d.IsDir() {
			continue // not a process: "self", "net", "stat"...
		}
		en, err := t.readProc(filepath.Join(root, d.Name()), uint32(pid), boot, hz)
		if err != nil {
			skipped++
			if !errors.Is(err, fs.ErrNotExist) {
				t.log.Debug("skip process in scan", "pid", pid, "err", err)
			}
			continue
		}
		found = append(found, en)
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	added := 0
	for _, en := range found {
		if _, ok := t.procs[en.pid]; ok {
			continue
		}
		fresh := t.insert(en.pid)
		en.gen = fresh.gen
		*fresh = *en
		added++
	}
	t.stats.Scanned += uint64(added)
	t.log.Info("process tree seeded from procfs", "root", root, "added", added, "skipped", skipped, "clock_ticks", hz)
	return added, nil
}

// readProc reads one /proc/<pid> directory. Only a missing or unparsable
// stat is an error; every other file adds what it can.
func (t *Tree) readProc(dir string, pid uint32, boot time.Time, hz int) (*entry, error) {
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return nil, err
	}
	st, err := parseStat(b)
	if err != nil {
		return nil, err
	}
	if st.pid != pid {
		return nil, fmt.Errorf("stat says pid %d", st.pid)
	}
	en := &entry{
		pid:      pid,
		ppid:     st.ppid,
		loginUID: -1,
		tty:      kernelDev(uint64(st.ttyNr)), // the sensor's encoding
		sid:      st.session,
		pgid:     st.pgrp,
	}
	if !boot.IsZero() && hz > 0 {
		ticks := time.Duration(st.startTime) * time.Second / time.Duration(hz)
		en.start = boot.Add(ticks)
	}
	img := &image{name: st.comm}
	en.img = img

	if b, err := os.ReadFile(filepath.Join(dir, "status")); err == nil {
		if s, err := parseStatus(b); err == nil {
			en.uid, en.euid, en.gid, en.egid, en.capEff = s.uid, s.euid, s.gid, s.egid, s.capEff
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "loginuid")); err == nil {
		if v, err := parseLoginUID(b); err == nil {
			en.loginUID = v
		}
	}
	if st.flags&pfKthread != 0 {
		return en, nil // no exe, args or cwd of its own
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		img.args, img.argsTruncated = parseCmdline(b, t.cfg.MaxArgBytes)
	}
	if cwd, err := os.Readlink(filepath.Join(dir, "cwd")); err == nil {
		img.cwd = cwd
	}
	exePath := filepath.Join(dir, "exe")
	if link, err := os.Readlink(exePath); err == nil {
		img.exe, img.exeDeleted, img.exeFromMemfd = exeFlags(link)
		// Stat through the magic link reaches the file even when deleted.
		if fi, err := os.Stat(exePath); err == nil {
			if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
				img.exeInode = sys.Ino
				img.exeDevice = kernelDev(uint64(sys.Dev))
				img.exeMtime = time.Unix(sys.Mtim.Unix())
				img.exeCtime = time.Unix(sys.Ctim.Unix())
			}
		}
	}
	return en, nil
}

func (t *Tree) bootTime() (time.Time, error) {
	b, err := os.ReadFile(filepath.Join(t.cfg.ProcRoot, "stat"))
	if err != nil {
		return time.Time{}, fmt.Errorf("read boot time: %w", err)
	}
	btime, err := parseBootTime(b)
	if err != nil {
		return time.Time{}, fmt.Errorf("read boot time: %w", err)
	}
	return time.Unix(btime, 0), nil
}

// clockTicks is USER_HZ: Config.ClockTicks, else AT_CLKTCK from the auxv of
// this process, else 100.
func (t *Tree) clockTicks() int {
	if t.cfg.ClockTicks > 0 {
		return t.cfg.ClockTicks
	}
	if b, err := os.ReadFile(filepath.Join(t.cfg.ProcRoot, "self", "auxv")); err == nil {
		if hz, ok := parseClockTicks(b); ok {
			return hz
		}
	}
	return 100
}
