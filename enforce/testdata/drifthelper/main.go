// drifthelper runs inside a test container and does what an attacker or a
// benchmark needs from there, where busybox cannot:
//
//	drifthelper memfd [-proc] SRC ARGV...   copy SRC into a memfd and exec it
//	drifthelper drop N SRC ARGV0 ARG         N times: copy SRC to a new file
//	                                         /tmp/drop/I/ARGV0, exec it at once
//	                                         with ARG (I substituted for %d);
//	                                         one JSON line per attempt
//	drifthelper bench N PROG                 fork+exec+wait PROG N times; print
//	                                         the median and p99 in ns as JSON
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: drifthelper memfd|drop|bench ...")
	}
	switch os.Args[1] {
	case "memfd":
		memfd(os.Args[2:])
	case "drop":
		drop(os.Args[2:])
	case "bench":
		bench(os.Args[2:])
	default:
		fail("unknown command " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "drifthelper:", msg)
	os.Exit(2)
}

func memfd(args []string) {
	viaProc := len(args) > 0 && args[0] == "-proc"
	if viaProc {
		args = args[1:]
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		fail(err.Error())
	}
	fd, err := unix.MemfdCreate("payload", 0)
	if err != nil {
		fail("memfd_create: " + err.Error())
	}
	if _, err := unix.Write(fd, data); err != nil {
		fail(err.Error())
	}
	if viaProc {
		err = unix.Exec(fmt.Sprintf("/proc/self/fd/%d", fd), args[1:], os.Environ())
	} else {
		empty, _ := unix.BytePtrFromString("")
		argv, _ := syscall.SlicePtrFromStrings(args[1:])
		envv, _ := syscall.SlicePtrFromStrings(os.Environ())
		_, _, e := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(empty)),
			uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])), unix.AT_EMPTY_PATH, 0)
		err = e
	}
	fmt.Fprintln(os.Stderr, "drifthelper: exec:", err)
	os.Exit(126)
}

// attempt is one drop-and-exec.
type attempt struct {
	Path   string `json:"path"`
	Start  int64  `json:"start"` // unix ns just before execve
	Err    string `json:"err,omitempty"`
	Exit   int    `json:"exit"`
	Signal string `json:"signal,omitempty"`
}

func drop(args []string) {
	n, _ := strconv.Atoi(args[0])
	data, err := os.ReadFile(args[1])
	if err != nil {
		fail(err.Error())
	}
	enc := json.NewEncoder(os.Stdout)
	for i := range n {
		dir := filepath.Join("/tmp/drop", strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fail(err.Error())
		}
		p := filepath.Join(dir, args[2])
		if err := os.WriteFile(p, data, 0o755); err != nil {
			fail(err.Error())
		}
		cmd := exec.Command(p, strings.ReplaceAll(args[3], "%d", strconv.Itoa(i)))
		a := attempt{Path: p, Start: time.Now().UnixNano()}
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			ws := ee.Sys().(syscall.WaitStatus)
			a.Exit = ws.ExitStatus()
			if ws.Signaled() {
				a.Signal = ws.Signal().String()
			}
		case err != nil:
			a.Err = err.Error()
			a.Exit = -1
		}
		enc.Encode(a)
	}
}

func bench(args []string) {
	n, _ := strconv.Atoi(args[0])
	ds := make([]time.Duration, 0, n)
	for range n {
		t := time.Now()
		if err := exec.Command(args[1]).Run(); err != nil {
			fail(err.Error())
		}
		ds = append(ds, time.Since(t))
	}
	slices.Sort(ds)
	json.NewEncoder(os.Stdout).Encode(map[string]int64{
		"n": int64(n), "median_ns": int64(ds[n/2]), "p99_ns": int64(ds[n*99/100]),
	})
}
