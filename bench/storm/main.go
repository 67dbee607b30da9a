// Command storm is a deterministic workload generator for the sensor
// benchmark (bench/sensor.sh). Each mode does one kind of work N times as
// fast as it can, using raw system calls so that its own cost is stable,
// and prints one JSON line: the wall time, the operations per second and
// the CPU that the storm (and its children) spent in user and kernel mode.
//
//	storm -mode exec -n 5000 -workers 2   fork+exec /bin/true, wait
//	storm -mode file -n 20000             open(O_CREAT|O_WRONLY), write, close, unlink
//	storm -mode connect -n 10000          TCP connect to its own 127.0.0.1 listener
//	storm -mode mixed -n 500000 -workers 2 -execs 200
//	                                      the file storm, while one more thread
//	                                      runs /bin/true -execs times, -exec-every apart
//
// It must not depend on anything in the agent: it is what the agent watches.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Result is what one storm prints.
type Result struct {
	Mode     string  `json:"mode"`
	Workers  int     `json:"workers"`
	N        int     `json:"n"`
	WallSec  float64 `json:"wall_s"`
	OpsPerS  float64 `json:"ops_per_s"`
	UserSec  float64 `json:"user_s"` // the storm and its reaped children
	SysSec   float64 `json:"sys_s"`
	Failures int     `json:"failures"`
	// Mixed mode: the execs run during the file storm, from this process.
	Execs        int `json:"execs,omitempty"`
	ExecFailures int `json:"exec_failures,omitempty"`
	StormPID     int `json:"pid"`
}

func main() {
	mode := flag.String("mode", "exec", "exec, file or connect")
	n := flag.Int("n", 2000, "operations in total (split between workers)")
	workers := flag.Int("workers", 1, "parallel workers (goroutines locked to OS threads)")
	prog := flag.String("exec", "/bin/true", "program that exec mode runs")
	dir := flag.String("dir", "", "directory for file mode (default: a new one under $TMPDIR)")
	execs := flag.Int("execs", 200, "mixed mode: execs of -exec to run during the file storm")
	execEvery := flag.Duration("exec-every", 10*time.Millisecond, "mixed mode: pause between two execs")
	flag.Parse()
	if *n < 1 || *workers < 1 {
		fmt.Fprintln(os.Stderr, "storm: -n and -workers must be at least 1")
		os.Exit(2)
	}

	var op func(worker, i int) error
	var cleanup func()
	switch *mode {
	case "exec":
		op = execOp(*prog)
	case "file", "mixed":
		d := *dir
		if d == "" {
			var err error
			if d, err = os.MkdirTemp("", "storm-file-"); err != nil {
				fatal(err)
			}
			cleanup = func() { os.RemoveAll(d) }
		}
		op = fileOp(d)
	case "connect":
		var err error
		op, cleanup, err = connectOp()
		if err != nil {
			fatal(err)
		}
	default:
		fmt.Fprintf(os.Stderr, "storm: unknown mode %q (exec, file, connect or mixed)\n", *mode)
		os.Exit(2)
	}

	var ru0, ru0c syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru0c)
	var failures sync.Map
	var wg sync.WaitGroup
	start := time.Now()
	var execsRun, execsFailed int
	execsDone := make(chan struct{})
	if *mode == "mixed" {
		// Execs on a thread of their own, spread over the storm: they are
		// what must not be lost while the file events overflow the ring.
		run := execOp(*prog)
		go func() {
			defer close(execsDone)
			runtime.LockOSThread()
			time.Sleep(100 * time.Millisecond) // into the storm first
			for range *execs {
				if err := run(0, 0); err != nil {
					if execsFailed == 0 {
						fmt.Fprintf(os.Stderr, "storm: exec: %v\n", err)
					}
					execsFailed++
				}
				execsRun++
				time.Sleep(*execEvery)
			}
		}()
	} else {
		close(execsDone)
	}
	for w := 0; w < *workers; w++ {
		count := *n / *workers
		if w < *n%*workers {
			count++
		}
		wg.Add(1)
		go func(w, count int) {
			defer wg.Done()
			failed := 0
			for i := 0; i < count; i++ {
				if err := op(w, i); err != nil {
					if failed == 0 {
						fmt.Fprintf(os.Stderr, "storm: %s worker %d: %v\n", *mode, w, err)
					}
					failed++
				}
			}
			failures.Store(w, failed)
		}(w, count)
	}
	wg.Wait()
	wall := time.Since(start)
	<-execsDone
	var ru1, ru1c syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru1c)
	if cleanup != nil {
		cleanup()
	}
	r := Result{Mode: *mode, Workers: *workers, N: *n, WallSec: wall.Seconds(), OpsPerS: float64(*n) / wall.Seconds(),
		Execs: execsRun, ExecFailures: execsFailed, StormPID: os.Getpid()}
	r.UserSec = tv(ru1.Utime) - tv(ru0.Utime) + tv(ru1c.Utime) - tv(ru0c.Utime)
	r.SysSec = tv(ru1.Stime) - tv(ru0.Stime) + tv(ru1c.Stime) - tv(ru0c.Stime)
	failures.Range(func(_, v any) bool { r.Failures += v.(int); return true })
	json.NewEncoder(os.Stdout).Encode(r)
	if r.Failures+r.ExecFailures > 0 {
		os.Exit(1)
	}
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "storm:", err)
	os.Exit(1)
}

// execOp forks and execs prog with stdio on /dev/null and waits for it.
// syscall.ForkExec uses clone(CLONE_VFORK|CLONE_VM), as posix_spawn does.
func execOp(prog string) func(int, int) error {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fatal(err)
	}
	fd := null.Fd()
	attr := &syscall.ProcAttr{Env: []string{"PATH=/usr/bin:/bin"}, Files: []uintptr{fd, fd, fd}}
	argv := []string{prog}
	return func(int, int) error {
		// Keep null open: were it collected, its finalizer would close the
		// fd under attr, and a file of the storm could take its number.
		defer runtime.KeepAlive(null)
		pid, err := syscall.ForkExec(prog, argv, attr)
		if err != nil {
			return err
		}
		var ws syscall.WaitStatus
		for {
			_, err = syscall.Wait4(pid, &ws, 0, nil)
			if err != syscall.EINTR {
				break
			}
		}
		if err != nil {
			return err
		}
		if !ws.Exited() || ws.ExitStatus() != 0 {
			return fmt.Errorf("%s: %v", prog, ws)
		}
		return nil
	}
}

// fileOp creates, writes, closes and unlinks one file per operation.
func fileOp(dir string) func(int, int) error {
	buf := make([]byte, 512)
	return func(w, i int) error {
		p := filepath.Join(dir, "f"+strconv.Itoa(w)+"-"+strconv.Itoa(i))
		fd, err := syscall.Open(p, syscall.O_CREAT|syscall.O_WRONLY|syscall.O_TRUNC|syscall.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		_, werr := syscall.Write(fd, buf)
		cerr := syscall.Close(fd)
		uerr := syscall.Unlink(p)
		for _, e := range []error{werr, cerr, uerr} {
			if e != nil {
				return e
			}
		}
		return nil
	}
}

// connectOp starts a listener on 127.0.0.1 that accepts each connection and
// resets it (SO_LINGER 0, so that no TIME_WAIT piles up across runs); each
// operation connects, waits for the reset or EOF, and closes.
func connectOp() (func(int, int) error, func(), error) {
	ls, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	syscall.SetsockoptInt(ls, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	if err := syscall.Bind(ls, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return nil, nil, err
	}
	if err := syscall.Listen(ls, 4096); err != nil {
		return nil, nil, err
	}
	sa, err := syscall.Getsockname(ls)
	if err != nil {
		return nil, nil, err
	}
	addr := sa.(*syscall.SockaddrInet4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			fd, _, err := syscall.Accept4(ls, syscall.SOCK_CLOEXEC)
			if err == syscall.EINTR || err == syscall.ECONNABORTED {
				continue
			}
			if err != nil {
				return // the listener was shut down
			}
			syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
			syscall.Close(fd)
		}
	}()
	op := func(int, int) error {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer syscall.Close(fd)
		// The server may accept and reset before connect returns to us:
		// the connection was made all the same.
		if err := syscall.Connect(fd, addr); err != nil && err != syscall.ECONNRESET {
			return err
		}
		var b [1]byte
		syscall.Read(fd, b[:]) // returns on the server's reset
		return nil
	}
	cleanup := func() {
		syscall.Shutdown(ls, syscall.SHUT_RDWR)
		<-done
		syscall.Close(ls)
	}
	return op, cleanup, nil
}
