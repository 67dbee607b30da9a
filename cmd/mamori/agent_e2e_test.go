package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/podmantest"
)

// mamoriBin is the whole platform's binary under test; leanBin is the
// lean node agent, the same source built with -tags agentonly.
var mamoriBin, leanBin string

func TestMain(m *testing.M) {
	if mode := os.Getenv(actorEnv); mode != "" {
		os.Exit(actorMain(mode))
	}
	dir, err := os.MkdirTemp("", "mamori-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mamoriBin, leanBin = filepath.Join(dir, "mamori"), filepath.Join(dir, "mamori-agent")
	if bin := os.Getenv("MAMORI_E2E_BINARY"); bin != "" {
		// Another build (e.g. an older commit's) under the same tests: how
		// a regression test is shown to fail before its fix.
		mamoriBin = bin
	} else if out, err := exec.Command("go", "build", "-o", mamoriBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build mamori: %v\n%s", err, out)
		os.Exit(1)
	}
	if bin := os.Getenv("MAMORI_E2E_LEAN_BINARY"); bin != "" {
		leanBin = bin
	} else if out, err := exec.Command("go", "build", "-tags", "agentonly", "-o", leanBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build mamori-agent (-tags agentonly): %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// agentProc is a `mamori agent` process started by a test, as a user would
// start it, with its own health address and output file.
type agentProc struct {
	cmd    *exec.Cmd
	out    string
	addr   string
	stderr *strings.Builder
}

// launch starts the agent with outFlag naming its output file, and waits
// until it is ready.
func launch(t *testing.T, outFlag string, args ...string) *agentProc {
	t.Helper()
	return launchCmd(t, []string{mamoriBin, "agent"}, outFlag, args...)
}

// launchCmd is launch for the agent command line command (the full
// binary's mamori agent, or the lean mamori-agent).
func launchCmd(t *testing.T, command []string, outFlag string, args ...string) *agentProc {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the agent loads eBPF programs: run the tests as root")
	}
	a := &agentProc{out: filepath.Join(t.TempDir(), "out.json"), addr: freeAddr(t), stderr: &strings.Builder{}}
	// Each agent answers hooks on a socket of its own: agents of other
	// test processes may run at the same time.
	hook := filepath.Join(t.TempDir(), "hook.sock")
	if slices.Contains(args, "--hook-socket") {
		hook = ""
	}
	// The agent sees every process of the node, and the suite runs other
	// packages' tests beside it on two cores (podman, Kubernetes, BPF
	// loads, NATS clusters): with the default 4 MiB ring, an agent
	// starved of CPU for a moment once lost 8,293 syscall records of
	// their storms in a full run (no exec). Agents under test get 32 MiB,
	// so that a loss is the agent's, not the machine's; tests of the ring
	// itself give their own size (the last flag wins).
	base := []string{outFlag, a.out, "-o", "json", "--health-addr", a.addr, "--ring-buffer-size", "32M"}
	if hook != "" {
		base = append(base, "--hook-socket", hook)
	}
	a.cmd = exec.Command(command[0], append(append(command[1:], base...), args...)...)
	a.cmd.Stderr = a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			a.cmd.Process.Kill()
			a.cmd.Wait()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Ready: every container running on the node has its
		// enforcement in place (503 until then).
		resp, err := http.Get("http://" + a.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a
			}
			err = fmt.Errorf("/healthz: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent not ready after 20s: %v\n%s", err, a.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// finish sends Ctrl-C, waits for the agent to drain and exit, and checks
// that it lost nothing.
func (a *agentProc) finish(t *testing.T) {
	t.Helper()
	a.cmd.Process.Signal(os.Interrupt)
	if err := a.cmd.Wait(); err != nil {
		t.Fatalf("agent exited with %v\n%s", err, a.stderr)
	}
	if !strings.Contains(a.stderr.String(), "dropped=0 decode_errors=0") {
		t.Errorf("agent lost events:\n%s", a.stderr)
	}
}

// readLines reads a JSON-lines file the agent wrote.
func readLines[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line is not JSON: %v: %s", err, sc.Bytes())
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// runningAgent is an agent started for its events.
type runningAgent struct{ *agentProc }

func startAgent(t *testing.T, extra ...string) *runningAgent {
	t.Helper()
	return &runningAgent{launch(t, "--events-output", append([]string{"--events"}, extra...)...)}
}

// stop stops the agent and returns every event it wrote.
func (a *runningAgent) stop(t *testing.T) []event.Event {
	t.Helper()
	a.finish(t)
	return readLines[event.Event](t, a.out)
}

func find(evs []event.Event, pred func(*event.Event) bool) *event.Event {
	for i := range evs {
		if pred(&evs[i]) {
			return &evs[i]
		}
	}
	return nil
}

func mustFind(t *testing.T, evs []event.Event, what string, pred func(*event.Event) bool) *event.Event {
	t.Helper()
	e := find(evs, pred)
	if e == nil {
		t.Errorf("no %s event among %d", what, len(evs))
	}
	return e
}

func runActor(t *testing.T, mode string, args ...string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), actorEnv+"="+mode)
	out, err := cmd.CombinedOutput()
	if err != nil && mode != "memfd-exec" && mode != "deleted-exec" {
		t.Fatalf("actor %s: %v\n%s", mode, err, out)
	}
	return cmd.Process.Pid
}

func sh(t *testing.T, script string) int {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if !errorsAs(err, &ee) {
			t.Fatalf("sh -c %q: %v\n%s", script, err, out)
		}
	}
	return cmd.Process.Pid
}

func errorsAs(err error, target **exec.ExitError) bool {
	ee, ok := err.(*exec.ExitError)
	if ok {
		*target = ee
	}
	return ok
}

func isHost(e *event.Event) bool { return e.Container != nil && e.Container.ID == event.HostID }

// TestAgentHostEvents performs every kind of action on the host and checks
// that each arrives with the facts a rule needs.
func TestAgentHostEvents(t *testing.T) {
	// The module calls are captured on a kernel built without them too.
	a := startAgent(t, "--capture-absent-calls")
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)

	exitPid := sh(t, "exit 3")
	killPid := sh(t, "kill -9 $$")
	filesPid := sh(t, fmt.Sprintf(`cd %s && echo secret > data && ln -s data soft && ln data hard && mv data moved &&
		chmod 600 moved && truncate -s 0 moved && rm soft hard && mkdir sub && rmdir sub &&
		cat /etc/shadow > /dev/null && cat /etc/hostname > /dev/null`, dir))
	// "; :" keeps each shell from exec'ing its last command in place.
	nested := "/bin/true"
	for range 5 {
		nested = "sh -c '" + strings.ReplaceAll(nested, "'", `'\''`) + "; :'"
	}
	deep := sh(t, nested)
	memfdPid := runActor(t, "memfd-exec")
	deletedPid := runActor(t, "deleted-exec", dir)
	privPid := runActor(t, "priv")
	kernelPid := runActor(t, "kernel", mnt)
	netPid := runActor(t, "net")

	evs := a.stop(t)
	byPid := func(pid int) func(*event.Event) bool {
		return func(e *event.Event) bool { return e.Process.PID == uint32(pid) && isHost(e) }
	}
	has := func(pid int, typ event.Type, what string, pred func(*event.Event) bool) *event.Event {
		t.Helper()
		return mustFind(t, evs, what, func(e *event.Event) bool {
			return byPid(pid)(e) && e.Type == typ && (pred == nil || pred(e))
		})
	}

	// Process lifecycle: fork from this test, exec with args and ancestry, exit.
	if e := has(exitPid, event.Exec, "exec of sh -c 'exit 3'", nil); e != nil {
		if !strings.HasSuffix(e.Process.Exe, "sh") && !strings.HasSuffix(e.Process.Exe, "dash") && !strings.HasSuffix(e.Process.Exe, "bash") {
			t.Errorf("exe %q", e.Process.Exe)
		}
		if !slices.Equal(e.Process.Args, []string{"/bin/sh", "-c", "exit 3"}) {
			t.Errorf("args %q", e.Process.Args)
		}
		if len(e.Process.Ancestors) == 0 || e.Process.Ancestors[0].PID != uint32(os.Getpid()) {
			t.Errorf("ancestors %+v: want this test (%d) first", e.Process.Ancestors, os.Getpid())
		}
		if e.Process.PPID != uint32(os.Getpid()) || e.Process.Cwd == "" || e.Process.LoginUID == 0 && false {
			t.Errorf("ppid %d cwd %q", e.Process.PPID, e.Process.Cwd)
		}
		if e.Process.StartTime.IsZero() || time.Since(e.Process.StartTime) > time.Minute {
			t.Errorf("start time %v", e.Process.StartTime)
		}
	}
	mustFind(t, evs, "fork of the exit-3 shell", func(e *event.Event) bool {
		return e.Type == event.Fork && e.Process.PID == uint32(os.Getpid()) && e.Process.ChildPID == uint32(exitPid)
	})
	if e := has(exitPid, event.Exit, "exit 3", nil); e != nil && (e.Process.ExitCode == nil || *e.Process.ExitCode != 3) {
		t.Errorf("exit code %v, want 3", e.Process.ExitCode)
	}
	if e := has(killPid, event.Exit, "exit by SIGKILL", nil); e != nil && (e.Process.ExitSignal == nil || *e.Process.ExitSignal != 9) {
		t.Errorf("exit signal %v, want 9", e.Process.ExitSignal)
	}

	// Five levels of ancestry, nearest first, each with its command line.
	if e := mustFind(t, evs, "exec of the innermost true", func(e *event.Event) bool {
		return e.Type == event.Exec && e.Process.Exe == "/usr/bin/true" && len(e.Process.Ancestors) >= 5 &&
			slices.ContainsFunc(e.Process.Ancestors, func(p event.Process) bool { return p.PID == uint32(deep) })
	}); e != nil {
		for i, p := range e.Process.Ancestors[:4] {
			if p.Name != "sh" || len(p.Args) == 0 || p.Exe == "" {
				t.Errorf("ancestor %d: %+v", i, p)
			}
			if i > 0 && e.Process.Ancestors[i-1].PPID != p.PID {
				t.Errorf("ancestor %d (pid %d) is not the parent of ancestor %d (ppid %d)", i, p.PID, i-1, e.Process.Ancestors[i-1].PPID)
			}
		}
	}

	// Files, with relative paths resolved against the shell's cwd.
	fileChild := func(typ event.Type, what string, pred func(*event.Event) bool) *event.Event {
		t.Helper()
		return mustFind(t, evs, what, func(e *event.Event) bool {
			return e.Type == typ && e.File != nil && isHost(e) && pred(e) &&
				(e.Process.PID == uint32(filesPid) || e.Process.PPID == uint32(filesPid))
		})
	}
	data, moved := filepath.Join(dir, "data"), filepath.Join(dir, "moved")
	if e := fileChild(event.Open, "open of data for write", func(e *event.Event) bool { return e.File.Path == data }); e != nil {
		if !strings.Contains(e.File.Flags, "O_WRONLY") || !strings.Contains(e.File.Flags, "O_CREAT") || e.Result < 0 || e.File.PathRaw != "data" {
			t.Errorf("open: %+v result %d", e.File, e.Result)
		}
	}
	fileChild(event.Symlink, "symlink", func(e *event.Event) bool {
		return e.File.Path == filepath.Join(dir, "soft") && e.File.Target == "data"
	})
	fileChild(event.Link, "hard link", func(e *event.Event) bool {
		return e.File.Path == filepath.Join(dir, "hard") && e.File.Target == data
	})
	fileChild(event.Rename, "rename", func(e *event.Event) bool { return e.File.Path == data && e.File.Target == moved })
	fileChild(event.Chmod, "chmod", func(e *event.Event) bool { return e.File.Path == moved && e.File.Mode == 0o600 })
	fileChild(event.Truncate, "truncate", func(e *event.Event) bool { return e.File.Path == moved || e.Syscall == "ftruncate" })
	fileChild(event.Unlink, "unlink", func(e *event.Event) bool { return e.File.Path == filepath.Join(dir, "soft") })
	fileChild(event.Mkdir, "mkdir", func(e *event.Event) bool { return e.File.Path == filepath.Join(dir, "sub") && e.File.Mode != 0 })
	fileChild(event.Rmdir, "rmdir", func(e *event.Event) bool { return e.File.Path == filepath.Join(dir, "sub") })
	if e := fileChild(event.Open, "read of /etc/shadow", func(e *event.Event) bool { return e.File.Path == "/etc/shadow" }); e != nil {
		if !strings.HasPrefix(e.File.Flags, "O_RDONLY") || e.Process.Name != "cat" {
			t.Errorf("sensitive read: %+v by %s", e.File, e.Process.Name)
		}
	}
	if e := find(evs, func(e *event.Event) bool { return e.Type == event.Open && e.File.Path == "/etc/hostname" }); e != nil {
		t.Errorf("a read-only open outside the sensitive prefixes crossed to user space: %+v", e.File)
	}

	// Exec from memory and from a deleted file.
	if e := has(memfdPid, event.Exec, "exec from a memfd", func(e *event.Event) bool { return e.Process.Name == "3" || e.Process.ExeFromMemfd }); e != nil {
		if !e.Process.ExeFromMemfd || !strings.Contains(e.Process.Exe, "memfd:mamori-fileless") {
			t.Errorf("memfd exec: exe %q from_memfd %v", e.Process.Exe, e.Process.ExeFromMemfd)
		}
	}
	has(memfdPid, event.Memfd, "memfd_create", func(e *event.Event) bool { return e.File.Name == "mamori-fileless" })
	if e := has(deletedPid, event.Exec, "exec of a deleted file", func(e *event.Event) bool { return e.Process.ExeDeleted }); e != nil {
		if !strings.Contains(e.Process.Exe, "vanishing") {
			t.Errorf("deleted exec: exe %q", e.Process.Exe)
		}
	}

	// Privileges.
	has(privPid, event.Setgid, "setresgid", func(e *event.Event) bool {
		return e.Syscall == "setresgid" && e.Args.EGID != nil && *e.Args.EGID == 4242 && e.Args.GID == nil
	})
	has(privPid, event.Setuid, "setuid", func(e *event.Event) bool { return e.Args.UID != nil && *e.Args.UID == 4243 })
	has(privPid, event.Capset, "capset", func(e *event.Event) bool {
		return e.Args.CapEffective != nil && *e.Args.CapEffective&(1<<16) == 0 && *e.Args.CapEffective != 0
	})

	// Kernel-facing calls.
	has(kernelPid, event.Ptrace, "ptrace attach", func(e *event.Event) bool {
		return e.Args.Request == "PTRACE_ATTACH" && e.Args.TargetPID != 0
	})
	has(kernelPid, event.Mount, "mount", func(e *event.Event) bool {
		return e.Args.FSType == "tmpfs" && e.Args.Target == mnt && e.Args.Source == "mamori-test" && e.Args.Flags == "MS_NOSUID"
	})
	has(kernelPid, event.Umount, "umount", func(e *event.Event) bool { return e.Args.Target == mnt && e.Args.Flags == "MNT_DETACH" })
	has(kernelPid, event.ModuleLoad, "init_module", func(e *event.Event) bool {
		return e.Syscall == "init_module" && e.Args.Flags == "mamori_test=1" && e.Result < 0
	})
	has(kernelPid, event.ModuleLoad, "finit_module", func(e *event.Event) bool {
		return e.Syscall == "finit_module" && e.Args.Module == "/usr/bin/true"
	})
	has(kernelPid, event.BPF, "bpf", func(e *event.Event) bool { return e.Args.Request == "32767" && e.Result < 0 })
	has(kernelPid, event.Unshare, "unshare", func(e *event.Event) bool { return e.Args.Flags == "CLONE_NEWUTS" })
	has(kernelPid, event.Setns, "setns", func(e *event.Event) bool {
		return e.Args.Flags == "CLONE_NEWUTS" && e.Args.FD > 2
	})

	// Network.
	if e := has(netPid, event.Connect, "connect", func(e *event.Event) bool { return e.Network.DstIP == "127.0.0.1" }); e != nil {
		n := e.Network
		if n.Family != "inet" || n.Protocol != "tcp" || n.DstPort == 0 || n.SrcIP != "127.0.0.1" || n.SrcPort == 0 {
			t.Errorf("connect: %+v", n)
		}
		if acc := has(netPid, event.Accept, "accept", nil); acc != nil {
			if acc.Network.SrcPort != n.SrcPort || acc.Network.DstPort != n.DstPort {
				t.Errorf("accept %+v does not mirror connect %+v", acc.Network, n)
			}
		}
		has(netPid, event.Listen, "listen", func(e *event.Event) bool { return e.Network.SrcPort == n.DstPort })
		has(netPid, event.Bind, "bind", func(e *event.Event) bool { return e.Network.SrcIP == "127.0.0.1" })
		has(netPid, event.Dup, "dup2 of a socket onto stdout", func(e *event.Event) bool {
			return e.Args.NewFD == 1 && e.Network.DstPort == n.DstPort
		})
	}
	has(netPid, event.Socket, "packet socket", func(e *event.Event) bool { return e.Network.Family == "packet" })
	if e := find(evs, func(e *event.Event) bool {
		return e.Type == event.Socket && e.Process.PID == uint32(netPid) && e.Network.Family == "inet"
	}); e != nil {
		t.Errorf("an ordinary TCP socket crossed to user space: %+v", e.Network)
	}
	// The shell's "> /dev/null" and Go's pipes handed to each child are
	// dups onto stdio too, of files: only sockets cross.
	if e := find(evs, func(e *event.Event) bool { return e.Type == event.Dup && e.Network == nil }); e != nil {
		t.Errorf("a dup of a file onto stdio crossed to user space: pid %d %s %+v", e.Process.PID, e.Process.Name, e.Args)
	}

	// Every event is well formed.
	for i := range evs {
		e := &evs[i]
		if e.Kind != "event" || e.Time.IsZero() || e.Node == "" || e.Container == nil || e.Process.PID == 0 {
			t.Fatalf("malformed event %d: %+v", i, e)
		}
	}
}

// TestAgentContainerEvents runs real podman containers and checks that their
// events, the very first one included, carry the container's identity.
func TestAgentContainerEvents(t *testing.T) {
	podmantest.Require(t)
	a := startAgent(t)
	labels := map[string]string{
		"io.kubernetes.pod.name":       "web-7d4b9",
		"io.kubernetes.pod.namespace":  "shop",
		"io.kubernetes.container.name": "nginx",
		"team":                         "payments",
	}
	opts := []podmantest.Option{podmantest.Args("--network", "none")}
	for k, v := range labels {
		opts = append(opts, podmantest.Label(k, v))
	}
	c := podmantest.Run(t, opts...)
	info := podmantest.Inspect(t, c)
	podmantest.Exec(t, c, "sh", "-c", "cp /bin/busybox /tmp/true && /tmp/true; :")
	podmantest.Exec(t, c, "sh", "-c", "echo root:x > /etc/shadow && cat /etc/shadow >/dev/null")
	podmantest.Exec(t, c, "sh", "-c", "nc -l -p 8080 >/dev/null & sleep 0.3; echo hi | nc -w 1 127.0.0.1 8080; wait")
	hostPid := sh(t, "true")

	evs := a.stop(t)
	inCtr := func(e *event.Event) bool { return e.Container != nil && e.Container.ID == info.ID }
	first := find(evs, inCtr)
	if first == nil {
		t.Fatalf("no event from container %s among %d", info.ID, len(evs))
	}
	check := func(what string, e *event.Event) {
		t.Helper()
		c := e.Container
		if c.Name != info.Name || c.Image != info.Image || c.ImageDigest != info.ImageDigest || c.Runtime != "podman" {
			t.Errorf("%s: container %+v, want name %s image %s digest %s", what, c, info.Name, info.Image, info.ImageDigest)
		}
		for k, v := range labels {
			if c.Labels[k] != v {
				t.Errorf("%s: label %s = %q, want %q", what, k, c.Labels[k], v)
			}
		}
		if c.Pod == nil || c.Pod.Name != "web-7d4b9" || c.Pod.Namespace != "shop" || c.Pod.Container != "nginx" {
			t.Errorf("%s: pod %+v", what, c.Pod)
		}
	}
	check("first event of the container ("+string(first.Type)+" by "+first.Process.Name+")", first)
	if e := mustFind(t, evs, "exec of the entrypoint", func(e *event.Event) bool {
		return inCtr(e) && e.Type == event.Exec && e.Process.Exe == "/bin/busybox" && slices.Equal(e.Process.Args, []string{"sleep", "3600"})
	}); e != nil {
		check("entrypoint exec", e)
		if e.Process.ExeUpperLayer {
			t.Errorf("the image's own busybox is flagged as on the upper layer")
		}
		if e.Process.VPID != 1 {
			t.Errorf("the container's first process has vpid %d, want 1", e.Process.VPID)
		}
		if e.Process.CapPermitted == 0 || e.Process.CapEffective&^e.Process.CapPermitted != 0 {
			t.Errorf("capabilities: effective %#x permitted %#x", e.Process.CapEffective, e.Process.CapPermitted)
		}
		if e.Container.Privileged || e.Container.Created.IsZero() || time.Since(e.Container.Created) > time.Minute {
			t.Errorf("container privileged %v created %v", e.Container.Privileged, e.Container.Created)
		}
	}
	if e := mustFind(t, evs, "exec of the dropped binary", func(e *event.Event) bool {
		return inCtr(e) && e.Type == event.Exec && e.Process.Exe == "/tmp/true"
	}); e != nil {
		check("dropped exec", e)
		if !e.Process.ExeUpperLayer {
			t.Errorf("a binary copied into the container is not flagged as on the upper layer: %+v", e.Process)
		}
		if len(e.Process.Ancestors) == 0 || e.Process.Ancestors[0].Name != "sh" {
			t.Errorf("dropped exec ancestors: %+v", e.Process.Ancestors)
		}
	}
	mustFind(t, evs, "write of /tmp/true", func(e *event.Event) bool {
		return inCtr(e) && e.Type == event.Open && e.File.Path == "/tmp/true" && strings.Contains(e.File.Flags, "O_CREAT")
	})
	mustFind(t, evs, "read of /etc/shadow in the container", func(e *event.Event) bool {
		return inCtr(e) && e.Type == event.Open && e.File.Path == "/etc/shadow" && strings.HasPrefix(e.File.Flags, "O_RDONLY")
	})
	if e := mustFind(t, evs, "connect in the container", func(e *event.Event) bool {
		return inCtr(e) && e.Type == event.Connect && e.Network.DstPort == 8080
	}); e != nil && e.Network.DstIP != "127.0.0.1" {
		t.Errorf("connect: %+v", e.Network)
	}
	mustFind(t, evs, "listen in the container", func(e *event.Event) bool {
		return inCtr(e) && e.Type == event.Listen && e.Network.SrcPort == 8080
	})
	if e := mustFind(t, evs, "host exec", func(e *event.Event) bool {
		return e.Type == event.Exec && e.Process.PID == uint32(hostPid)
	}); e != nil && !isHost(e) {
		t.Errorf("host process attributed to %+v", e.Container)
	}
}

// TestAgentFlags checks that bad input fails fast with a clear message.
func TestAgentFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"agent", "--bogus"}, 2, "unknown flag: --bogus"},
		{[]string{"agent", "--event-types", "exec,teleport"}, 2, `unknown event type "teleport"`},
		{[]string{"agent", "-o", "xml"}, 2, `unknown format "xml"`},
		{[]string{"agent", "--ring-buffer-size", "3M"}, 2, "power of two"},
		{[]string{"agent", "--events-output", "/tmp/x"}, 2, "add --events"},
		{[]string{"agent", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"agent", "--events", "--events-output", "/nonexistent/dir/events.json"}, 1, "open output /nonexistent/dir/events.json"},
	} {
		cmd := exec.Command(mamoriBin, tc.args...)
		out, _ := cmd.CombinedOutput()
		code := cmd.ProcessState.Sys().(syscall.WaitStatus).ExitStatus()
		if code != tc.code || !strings.Contains(string(out), tc.want) {
			t.Errorf("mamori %s: exit %d, output %q; want exit %d and %q", strings.Join(tc.args, " "), code, out, tc.code, tc.want)
		}
	}
}

// TestStatus checks `mamori status` against a running agent and without one.
func TestStatus(t *testing.T) {
	a := startAgent(t, "--event-types", "exec,exit,fork")
	sh(t, "true")
	// A DNS response on the node: the agent reads it for names (--events
	// wants them), but it is no event of the types asked for.
	dns := dnsServer(t)
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", net.JoinHostPort(dns, "53"))
	}}
	for name := range testNames {
		if _, err := r.LookupHost(context.Background(), name); err != nil {
			t.Fatalf("look up %s: %v", name, err)
		}
		break
	}
	out, err := exec.Command(mamoriBin, "status", "--health-addr", a.addr).CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, want := range []string{"agent:    running", "dropped in the ring buffer", "exec ", "tp_btf", "fanotify_exec_perm", "block a drifted exec"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	resp, err := http.Get("http://" + a.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := new(strings.Builder)
	bufio.NewReader(resp.Body).WriteTo(body)
	resp.Body.Close()
	for _, want := range []string{`mamori_events_total{type="exec"}`, `mamori_ringbuf_dropped_total{type="exec",cause="ring_full"} 0`, `mamori_kernel_mechanism_available{mechanism="bpf_lsm"} 0`} {
		if !strings.Contains(body.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	evs := a.stop(t)
	for _, e := range evs {
		if e.Type != event.Exec && e.Type != event.Exit && e.Type != event.Fork {
			t.Fatalf("--event-types exec,exit,fork let through a %s event", e.Type)
		}
	}

	out, _ = exec.Command(mamoriBin, "status", "--health-addr", freeAddr(t)).CombinedOutput()
	if !strings.Contains(string(out), "not running") || !strings.Contains(string(out), "bpf_lsm") {
		t.Errorf("status without an agent:\n%s", out)
	}
}

// TestAbsentCallsLeftOutAndSaid: on a kernel built without module support
// (no /proc/modules), the agent does not capture attempts at the module
// calls unless told --capture-absent-calls (TestAgentHostEvents is), and
// says so in /status; where the kernel has them, they are captured.
func TestAbsentCallsLeftOutAndSaid(t *testing.T) {
	a := startAgent(t, "--event-types", "module_load,exec,exit,fork")
	kernelPid := runActor(t, "kernel", t.TempDir())
	st := agentStatus(t, a.addr)
	human, err := exec.Command(mamoriBin, "status", "--health-addr", a.addr).CombinedOutput()
	if err != nil {
		t.Fatalf("mamori status: %v\n%s", err, human)
	}
	evs := a.stop(t)
	attempt := find(evs, func(e *event.Event) bool { return e.Type == event.ModuleLoad && e.Process.PID == uint32(kernelPid) })
	if !strings.Contains(string(human), "calls:    captured by tracepoint") && !strings.Contains(string(human), "calls:    captured by tp_btf") {
		t.Errorf("mamori status does not say how system calls are captured:\n%s", human)
	}
	if _, err := os.Stat("/proc/modules"); err == nil {
		if attempt == nil || len(st.CallsNotCaptured) > 0 {
			t.Errorf("a kernel with modules: module call captured %v, calls not captured %q", attempt != nil, st.CallsNotCaptured)
		}
		return
	}
	if !slices.Equal(st.CallsNotCaptured, []string{"init_module", "finit_module"}) {
		t.Errorf("/status calls_not_captured %q, want init_module and finit_module", st.CallsNotCaptured)
	}
	if !strings.Contains(string(human), "not captured: init_module, finit_module") {
		t.Errorf("mamori status does not say which calls are left out:\n%s", human)
	}
	if strings.Contains(st.SyscallHook, "tp_btf/sys_exit (every call)") {
		t.Errorf("/status syscall_hook %q: a program runs on every call for calls that cannot succeed", st.SyscallHook)
	}
	if attempt != nil {
		t.Errorf("an attempt at %s was captured without --capture-absent-calls", attempt.Syscall)
	}
}
