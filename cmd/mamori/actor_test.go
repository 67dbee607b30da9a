package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// The end-to-end tests need processes that make particular system calls.
// Rather than depend on tools that may be missing, the test binary re-runs
// itself as an "actor" when MAMORI_TEST_ACTOR names what to do.

const actorEnv = "MAMORI_TEST_ACTOR"

func actorMain(mode string) int {
	if err := act(mode, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "actor %s: %v\n", mode, err)
		return 1
	}
	return 0
}

func act(mode string, args []string) error {
	runtime.LockOSThread()
	switch mode {
	case "memfd-exec":
		// Copy a program into a memfd and run it from there, as fileless
		// malware does.
		fd, err := unix.MemfdCreate("mamori-fileless", 0)
		if err != nil {
			return err
		}
		src, err := os.Open("/bin/true")
		if err != nil {
			return err
		}
		if _, err := io.Copy(os.NewFile(uintptr(fd), "memfd"), src); err != nil {
			return err
		}
		path := "/proc/self/fd/" + strconv.Itoa(fd)
		// The arguments after the first go on, so that the program
		// carries the test's marker.
		return unix.Exec(path, append([]string{"fileless"}, after(args, 1)...), nil)
	case "deleted-exec":
		// Run a program whose file is already unlinked.
		dir := args[0]
		p := dir + "/vanishing"
		data, err := os.ReadFile("/bin/true")
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o755); err != nil {
			return err
		}
		fd, err := unix.Open(p, unix.O_RDONLY, 0)
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil {
			return err
		}
		return unix.Exec("/proc/self/fd/"+strconv.Itoa(fd), append([]string{"vanishing"}, after(args, 1)...), nil)
	case "priv":
		// setgid, setuid (all threads), capset, in that order.
		if err := unix.Setresgid(-1, 4242, -1); err != nil {
			return fmt.Errorf("setresgid: %w", err)
		}
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return err
		}
		data[0].Effective &^= 1 << unix.CAP_SYS_MODULE
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return fmt.Errorf("capset: %w", err)
		}
		_, _, errno := unix.RawSyscall(unix.SYS_SETUID, 4243, 0, 0)
		if errno != 0 {
			return fmt.Errorf("setuid: %w", errno)
		}
		return nil
	case "kernel":
		// ptrace, mount/umount, module loading, bpf, unshare, setns.
		dir := args[0]
		child, err := os.StartProcess("/bin/sleep", []string{"sleep", "5"}, &os.ProcAttr{})
		if err != nil {
			return err
		}
		defer child.Kill()
		if err := unix.PtraceAttach(child.Pid); err != nil {
			return fmt.Errorf("ptrace attach: %w", err)
		}
		var ws unix.WaitStatus
		unix.Wait4(child.Pid, &ws, 0, nil)
		unix.PtraceDetach(child.Pid)
		if err := unix.Mount("mamori-test", dir, "tmpfs", unix.MS_NOSUID, "size=1m"); err != nil {
			return fmt.Errorf("mount: %w", err)
		}
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("umount: %w", err)
		}
		// Neither call loads anything: the image is garbage and the
		// kernel refuses it, which is still an attempt worth an event.
		junk := []byte("not a module")
		unix.InitModule(junk, "mamori_test=1")
		if f, err := os.Open("/bin/true"); err == nil {
			unix.FinitModule(int(f.Fd()), "mamori_test=2", 0)
			f.Close()
		}
		unix.Syscall(unix.SYS_BPF, 0x7fff, 0, 0)
		ns, err := unix.Open("/proc/thread-self/ns/uts", unix.O_RDONLY, 0)
		if err != nil {
			return fmt.Errorf("open own uts namespace: %w", err)
		}
		if err := unix.Unshare(unix.CLONE_NEWUTS); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		if err := unix.Setns(ns, unix.CLONE_NEWUTS); err != nil {
			return fmt.Errorf("setns: %w", err)
		}
		return nil
	case "net":
		// A TCP listener and a client, a packet socket, and a socket
		// duplicated onto stdout as reverse shells do.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		done := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				c.Close()
			}
			done <- err
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		if err := <-done; err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "port", ln.Addr().(*net.TCPAddr).Port)
		if s, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0x0300); err == nil {
			unix.Close(s)
		} else {
			return fmt.Errorf("packet socket: %w", err)
		}
		f, err := c.(*net.TCPConn).File()
		if err != nil {
			return err
		}
		if err := unix.Dup2(int(f.Fd()), 1); err != nil {
			return fmt.Errorf("dup2: %w", err)
		}
		time.Sleep(10 * time.Millisecond)
		return nil
	case "ptrace-attach", "ptrace-peek":
		// Attach to a child (PTRACE_ATTACH), or only peek at a process
		// it does not trace (PTRACE_PEEKDATA, refused with ESRCH).
		child, err := os.StartProcess("/bin/sleep", []string{"sleep", "5"}, &os.ProcAttr{})
		if err != nil {
			return err
		}
		defer child.Kill()
		if mode == "ptrace-peek" {
			unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_PEEKDATA, uintptr(child.Pid), 0, 0, 0, 0)
			return nil
		}
		if err := unix.PtraceAttach(child.Pid); err != nil {
			return fmt.Errorf("ptrace attach: %w", err)
		}
		var ws unix.WaitStatus
		unix.Wait4(child.Pid, &ws, 0, nil)
		return unix.PtraceDetach(child.Pid)
	case "traceme":
		unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0, 0, 0, 0)
		return nil
	case "bpf-prog-load", "bpf-map-create":
		// Neither loads anything: the attributes are missing and the
		// kernel refuses, which is still the call.
		cmd := uintptr(5) // BPF_PROG_LOAD
		if mode == "bpf-map-create" {
			cmd = 0
		}
		unix.Syscall(unix.SYS_BPF, cmd, 0, 0)
		return nil
	case "setuid-self":
		_, _, errno := unix.RawSyscall(unix.SYS_SETUID, uintptr(os.Getuid()), 0, 0)
		if errno != 0 {
			return fmt.Errorf("setuid: %w", errno)
		}
		return nil
	case "userfaultfd":
		// UFFD_USER_MODE_ONLY: what an unprivileged process may ask for
		// when vm.unprivileged_userfaultfd is 0.
		fd, _, errno := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|1, 0, 0)
		if errno != 0 {
			return fmt.Errorf("userfaultfd: %w", errno)
		}
		unix.Close(int(fd))
		return nil
	}
	return fmt.Errorf("unknown actor mode %q", mode)
}

// after returns args after the first n, or none.
func after(args []string, n int) []string {
	if len(args) <= n {
		return nil
	}
	return args[n:]
}
