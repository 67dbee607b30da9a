package proctree

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseStat feeds arbitrary bytes to the stat parser: it must not panic,
// and what it accepts must hold together.
func FuzzParseStat(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "proc", "*", "stat"))
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("1 ((((() S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5"))
	f.Add([]byte("1 (x) S 0 1 1 -2147483648 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 18446744073709551615"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseStat(b)
		if err != nil {
			return
		}
		if len(s.comm) > len(b) {
			t.Errorf("comm %q longer than the input", s.comm)
		}
	})
}

// FuzzStatComm writes a stat line the way the kernel does for any comm and
// checks that the fields after it come back unchanged.
func FuzzStatComm(f *testing.F) {
	f.Add("a) b (c", uint32(1), uint64(250))
	f.Add(")", uint32(0), uint64(0))
	f.Add("(sd-pam)", uint32(4294967295), uint64(1<<63))
	f.Add("x) S 1 2 3", uint32(7), uint64(9))
	f.Fuzz(func(t *testing.T, comm string, ppid uint32, start uint64) {
		line := fmt.Sprintf("42 (%s) S %d 42 42 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 %d 1000 200\n", comm, ppid, start)
		s, err := parseStat([]byte(line))
		if err != nil {
			t.Fatalf("parseStat(%q): %v", line, err)
		}
		if s.pid != 42 || s.comm != comm || s.ppid != ppid || s.startTime != start || s.pgrp != 42 {
			t.Errorf("parseStat(%q) = %+v", line, s)
		}
	})
}
