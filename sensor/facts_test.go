package sensor

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/container"
	"github.com/mamori-dev/mamori/event"
	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"
)

// TestOpenFacts opens files from a shell, as a program would, and checks
// what the open events say beyond the file opened: the path as the program
// named it (made absolute against the working directory, symlinks not
// followed), whether the open created the file, and its inode.
func TestOpenFacts(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "old"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "old"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Events: []event.Type{event.Open}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var shell atomic.Int64
	events := watch(t, s, func(e *event.Event) bool {
		return e.Type == event.Open && e.Process.PID == uint32(shell.Load()) && strings.HasPrefix(e.File.Path, dir)
	})
	// The shell opens for writing, so the kernel reports every one of
	// these without a sensitive prefix: a new file, an existing one, one
	// through a symlink, and one named with "..".
	cmd := exec.Command("/bin/sh", "-c", "read x; cd "+dir+" && : > new && : > old && : > link && : > sub/../old2 2>/dev/null; : > ./../"+filepath.Base(dir)+"/new2")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	shell.Store(int64(cmd.Process.Pid))
	stdin.Close()
	defer cmd.Wait()

	want := []struct {
		raw, arg, path string
		created        bool
	}{
		{"new", dir + "/new", dir + "/new", true},
		{"old", dir + "/old", dir + "/old", false},
		{"link", dir + "/link", dir + "/old", false},
		{"sub/../old2", dir + "/old2", dir + "/old2", true},
		{"./../" + filepath.Base(dir) + "/new2", dir + "/new2", dir + "/new2", true},
	}
	for _, w := range want {
		e := next(t, events, "open of "+w.raw)
		f := e.File
		var st unix.Stat_t
		if err := unix.Stat(w.path, &st); err != nil {
			t.Fatal(err)
		}
		if f.PathRaw != w.raw || f.PathArg != w.arg || f.Path != w.path || f.Created != w.created {
			t.Errorf("open %q: raw %q arg %q path %q created %v; want %q %q %v", w.raw, f.PathRaw, f.PathArg, f.Path, f.Created, w.arg, w.path, w.created)
		}
		if f.Inode != st.Ino || f.Layer != "" {
			t.Errorf("open %q: inode %d layer %q; want %d and no overlayfs layer", w.raw, f.Inode, f.Layer, st.Ino)
		}
	}
}

// TestExecEnvironment runs a program with a known environment: the exec
// event carries it when asked to, bounded, and not otherwise.
func TestExecEnvironment(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct {
		name  string
		bytes uint32
		env   []string
		want  []string
		trunc bool
	}{
		{"off", 0, []string{"A=1"}, nil, false},
		{"whole", 4096, []string{"HTTP_PROXY=http://10.0.0.1:3128", "B="}, []string{"HTTP_PROXY=http://10.0.0.1:3128", "B="}, false},
		{"bounded", 16, []string{"GLIBC_TUNABLES=glibc.malloc.x=1", "C=3"}, []string{"GLIBC_TUNABLES=g"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{Events: []event.Type{event.Exec}, EnvBytes: tc.bytes}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			marker := "mamori-envtest-" + tc.name
			events := watch(t, s, func(e *event.Event) bool {
				return e.Type == event.Exec && len(e.Process.Args) > 0 && e.Process.Args[0] == marker
			})
			cmd := &exec.Cmd{Path: "/bin/true", Args: []string{marker}, Env: tc.env}
			if err := cmd.Run(); err != nil {
				t.Fatal(err)
			}
			e := next(t, events, "exec")
			if !slices.Equal(e.Process.Env, tc.want) || e.Process.EnvTruncated != tc.trunc {
				t.Errorf("env %q truncated %v; want %q %v", e.Process.Env, e.Process.EnvTruncated, tc.want, tc.trunc)
			}
		})
	}
}

// TestExecWritable runs a copy of true as an unprivileged user, with and
// without the write bit for others, and as root: exec events say whether
// the process may write its own executable, as Falco's EXE_WRITABLE does.
func TestExecWritable(t *testing.T) {
	needRoot(t)
	// Not t.TempDir: its parent is private to root.
	dir, err := os.MkdirTemp("", "mamori-writable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	data, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Events: []event.Type{event.Exec}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	events := watch(t, s, func(e *event.Event) bool {
		return e.Type == event.Exec && len(e.Process.Args) > 0 && strings.HasPrefix(e.Process.Args[0], "mamori-writable-")
	})
	for _, tc := range []struct {
		name string
		mode os.FileMode
		uid  uint32
		want bool
	}{
		{"nobody-0755", 0o755, 65534, false},
		{"nobody-0757", 0o757, 65534, true},
		{"root-0555", 0o555, 0, true},
	} {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, tc.mode)
		cmd := &exec.Cmd{Path: p, Args: []string{"mamori-writable-" + tc.name},
			SysProcAttr: &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: tc.uid, Gid: tc.uid}}}
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		e := next(t, events, "exec of "+tc.name)
		if e.Process.Args[0] != "mamori-writable-"+tc.name || e.Process.ExeWritable != tc.want || e.Process.ExeLowerLayer {
			t.Errorf("%s: args %q writable %v lower %v; want writable %v", tc.name, e.Process.Args, e.Process.ExeWritable, e.Process.ExeLowerLayer, tc.want)
		}
	}
}

// TestOpenFilter has a shell and its children open files and checks that
// the kernel reports exactly the read-only and failed opens the filter's
// keys match, on the resolved path or on the path as given, and every
// open for writing.
func TestOpenFilter(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	tarx := filepath.Join(dir, "tarx")
	data, err := os.ReadFile("/bin/cat")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tarx, data, 0o755); err != nil {
		t.Fatal(err)
	}
	// A key on the path as the program names it (fd.name) that the
	// resolved path misses: link is a symlink to real.
	if err := os.MkdirAll(filepath.Join(dir, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "real", "secret"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		Events:            []event.Type{event.Open},
		SensitivePrefixes: []string{"/etc/shadow", dir + "/link/secret"},
		Opens: OpenFilter{Failed: true, Suffixes: []string{"/environ", "ame"}, Contains: []string{"../", "kmsg"},
			Comms: []string{"tarx"}},
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var shell atomic.Int64
	events := watch(t, s, func(e *event.Event) bool {
		pid := uint32(shell.Load())
		return e.Type == event.Open && (e.Process.PID == pid || e.Process.PPID == pid)
	})
	script := strings.Join([]string{
		"read x",
		"cat /etc/shadow /proc/self/environ /etc/hostname /etc/passwd",    // prefix, suffix, ending "ame", neither
		"cd /proc/self && cat environ",                                    // a relative path ending environ
		"cat /etc/../etc/passwd /etc/./passwd",                            // "../" in the argument only
		"cat /dev/kmsg </dev/null & sleep 0.1; kill $! 2>/dev/null; wait", // held in the resolved path
		"cat ../nope 2>/dev/null; cat /nope 2>/dev/null",                  // failed: one with "../"
		tarx + " /etc/group",                                              // every read of tarx
		": > " + dir + "/written",                                         // a write
		"cd " + dir + " && cat link/secret real/secret && cd /",           // the key through the symlink, not the target
		"cat " + dir + "/link/./secret",                                   // the key once cleaned
		"cat " + dir + "/link/secret",                                     // resolved to a path as long, not the key
		"echo done",
	}, "\n")
	cmd := exec.Command("/bin/sh", "-c", script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	shell.Store(int64(cmd.Process.Pid))
	stdin.Close()
	cmd.Wait()
	// tarx has every read reported (its libraries too); the shell's
	// redirections to /dev/null are writes.
	// An absolute argument with a "." component is reported whatever it
	// names: the kernel does not clean paths, and the resolved path need
	// not be the cleaned one.
	want := []string{"/etc/shadow", "/proc/self/environ", "/etc/hostname", "environ", "/etc/../etc/passwd", "/etc/./passwd", "/dev/kmsg",
		"../nope", "tarx /etc/group", dir + "/written", "/dev/null", "/dev/null", "/dev/null",
		"link/secret", dir + "/link/./secret", dir + "/link/secret"}
	got := drain(events, func(e event.Event) string {
		switch {
		case e.Process.Name != "tarx":
			return e.File.PathRaw
		case e.File.PathRaw == "/etc/group":
			return "tarx /etc/group"
		}
		return ""
	})
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("opens reported %q\nwant %q", got, want)
	}
}

// TestSendRecv has a helper send and receive over UDP and TCP on loopback
// and checks which calls the kernel reports under a filter of peer
// changes on unconnected sockets and of a byte pattern in the data: with
// the peer each went to or came from, whether the socket was connected,
// and the first bytes.
func TestSendRecv(t *testing.T) {
	needRoot(t)
	s, err := New(Config{
		Events: []event.Type{event.Send, event.Recv},
		IO: IOFilter{
			Send:     IOKeys{PeerChanged: true, Data: true},
			Recv:     IOKeys{PeerChanged: true},
			Patterns: [][]byte{{0xca, 0xfe, 0xba, 0xbe}},
		},
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var child atomic.Int64
	events := watch(t, s, func(e *event.Event) bool {
		return (e.Type == event.Send || e.Type == event.Recv) && e.Process.PID == uint32(child.Load())
	})
	cmd := helper("io")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child.Store(int64(cmd.Process.Pid))
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	// The helper prints its UDP receiver's and its two UDP peers' ports.
	var rport, p1, p2 int
	fmt.Sscan(out.String(), &rport, &p1, &p2)
	type call struct {
		typ        event.Type
		dst        uint16 // the peer's port for a send, the local port for a receive
		src        uint16
		connected  bool
		data       string
		peerChange bool
	}
	var got []call
	quiet := time.NewTimer(2 * time.Second)
	for done := false; !done; {
		select {
		case e := <-events:
			n := e.Network
			got = append(got, call{e.Type, n.DstPort, n.SrcPort, n.Connected, string(n.Data), n.PeerChanged})
			quiet.Reset(300 * time.Millisecond)
		case <-quiet.C:
			done = true
		}
	}
	want := []call{
		// sendto the receiver twice: the first is a new peer.
		{event.Send, uint16(rport), uint16(p1), false, "one", true},
		// from the second socket: a new socket, a new peer.
		{event.Send, uint16(rport), uint16(p2), false, "two", true},
		// the receiver: from p1, then p2 (a change), then p2 again (none).
		{event.Recv, uint16(rport), uint16(p1), false, "one", true},
		{event.Recv, uint16(rport), uint16(p2), false, "two", true},
		// a connected TCP socket is reported only for the pattern.
		{event.Send, 0, 0, true, "\xca\xfe\xba\xbe class", false},
	}
	if len(got) != len(want) {
		t.Fatalf("calls reported %+v\nwant %+v", got, want)
	}
	for i, w := range want {
		g := got[i]
		if w.dst == 0 { // the TCP ports are the kernel's choice
			g.dst, g.src, g.peerChange = 0, 0, false
		}
		if g != w {
			t.Errorf("call %d: %+v, want %+v", i, g, w)
		}
	}
}

// ioCalls is the "io" helper: UDP sendto and recvfrom between three
// sockets on loopback, and a TCP send with a class file's magic number.
func ioCalls() int {
	recv, _ := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	lo := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	unix.Bind(recv, lo)
	sa, _ := unix.Getsockname(recv)
	rport := sa.(*unix.SockaddrInet4).Port
	to := &unix.SockaddrInet4{Port: rport, Addr: [4]byte{127, 0, 0, 1}}
	ports := []int{}
	for _, msg := range []string{"one", "two"} {
		fd, _ := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		unix.Bind(fd, lo)
		sa, _ := unix.Getsockname(fd)
		ports = append(ports, sa.(*unix.SockaddrInet4).Port)
		unix.Sendto(fd, []byte(msg), 0, to)
		if msg == "one" {
			unix.Sendto(fd, []byte(msg), 0, to) // the same peer again
		}
	}
	buf := make([]byte, 64)
	for range 3 {
		unix.Recvfrom(recv, buf, 0)
	}
	ln, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	unix.Bind(ln, lo)
	unix.Listen(ln, 1)
	lsa, _ := unix.Getsockname(ln)
	c, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	unix.Connect(c, lsa)
	unix.Sendto(c, []byte("plain"), 0, nil)
	unix.Sendto(c, []byte("\xca\xfe\xba\xbe class"), 0, nil)
	fmt.Println(rport, ports[0], ports[1])
	return 0
}

// TestDNSResponses answers a DNS query on loopback port 53 with a CNAME
// and two addresses: the sensor reports the response with its question,
// answers and TTLs, and nothing for the query.
func TestDNSResponses(t *testing.T) {
	needRoot(t)
	root, err := container.FindCgroup2Mount("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	srv, err := net.ListenPacket("udp", "127.0.0.153:53")
	if err != nil {
		t.Skip("port 53 on loopback: ", err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, _ := p.Question()
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			alias := dnsmessage.MustNewName("pool.example.net.")
			b.CNAMEResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 300}, dnsmessage.CNAMEResource{CNAME: alias})
			b.AResource(dnsmessage.ResourceHeader{Name: alias, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: [4]byte{198, 51, 100, 7}})
			b.AResource(dnsmessage.ResourceHeader{Name: alias, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: [4]byte{198, 51, 100, 8}})
			msg, _ := b.Finish()
			srv.WriteTo(msg, from)
		}
	}()
	s, err := New(Config{Events: []event.Type{event.Exec}, DNSCgroup: root}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	events := watch(t, s, func(e *event.Event) bool {
		return e.Type == event.DNS && e.DNS.Question == "miner.example.com"
	})
	c, err := net.Dial("udp", "127.0.0.153:53")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("miner.example.com."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	q, _ := b.Finish()
	c.Write(q)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 512)); err != nil {
		t.Fatal(err)
	}
	e := next(t, events, "dns")
	want := event.DNSReply{Question: "miner.example.com", Type: "A", RCode: "NOERROR", Answers: []event.DNSAnswer{
		{Name: "miner.example.com", Type: "CNAME", Data: "pool.example.net", TTL: 300},
		{Name: "pool.example.net", Type: "A", Data: "198.51.100.7", TTL: 60},
		{Name: "pool.example.net", Type: "A", Data: "198.51.100.8", TTL: 60},
	}}
	if !reflect.DeepEqual(*e.DNS, want) {
		t.Errorf("dns %+v\nwant %+v", *e.DNS, want)
	}
}

// TestWriteFilter has a shell and its children open files for writing
// and checks that the kernel reports exactly those a write key matches (a
// prefix, a directory the file is directly in, an ending, a substring, the
// process's name), every one in another mount namespace than the host's
// (a container's), and that keys of one class do not serve the other: a
// read prefix lets no write through, a write prefix no read, while a read
// prefix that extends a write prefix keeps the write prefix's class.
// With Raw, the kernel decides on a clean absolute path argument alone
// (fd.name: an open through a symlink is the link's), and on the resolved
// path as well for any other argument (relative, or with ".."). The first
// run captures system calls with tp_btf/sys_exit (as on kernels before
// 5.15), the second with the per-call tracepoints.
func TestWriteFilter(t *testing.T) {
	for _, raw := range []bool{false, true} {
		t.Run(fmt.Sprintf("raw=%v", raw), func(t *testing.T) { testWriteFilter(t, raw) })
	}
}

func testWriteFilter(t *testing.T, raw bool) {
	needRoot(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	dir := t.TempDir()
	for _, d := range []string{"pre/sub", "d/sub", "other", "sens"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tarx := filepath.Join(dir, "tarx")
	data, err := os.ReadFile("/bin/cp")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tarx, data, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		Events:            []event.Type{event.Open},
		SensitivePrefixes: []string{dir + "/sens/", dir + "/pre/sub/r"},
		EveryCallHook:     !raw,
		Opens: OpenFilter{Writes: &WriteFilter{InContainers: true, OpenKeys: OpenKeys{Raw: raw, Prefixes: []string{dir + "/pre/"}, Dirs: []string{dir + "/d/"},
			Suffixes: []string{"/x.log"}, Contains: []string{"zz_hist"}, Comms: []string{"tarx"}},
			ReadWrite: OpenKeys{Raw: raw, Prefixes: []string{dir + "/rw/"}}}},
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if hook := s.SyscallHook(); strings.HasPrefix(hook, "tp_btf") != !raw {
		t.Fatalf("system calls captured by %s", hook)
	}
	var shell atomic.Int64
	events := watch(t, s, func(e *event.Event) bool {
		pid := uint32(shell.Load())
		return e.Type == event.Open && (strings.HasPrefix(e.File.PathRaw, dir) || e.File.PathRaw == "rel") && (e.Process.PID == pid || e.Process.PPID == pid)
	})
	script := strings.Join([]string{
		"read x",
		": > " + dir + "/pre/sub/a",                                // under a write prefix
		": > " + dir + "/d/b",                                      // directly in a write directory
		": > " + dir + "/d/sub/c",                                  // below it, not directly in it
		": > " + dir + "/other/x.log",                              // a write ending
		": > " + dir + "/other/q_zz_histy",                         // a write substring
		": > " + dir + "/other/plain",                              // nothing
		": > " + dir + "/sens/w",                                   // a read prefix: no write
		": > " + dir + "/pre/sub/rr",                               // a read prefix extending a write prefix
		"cat " + dir + "/pre/sub/a",                                // a read under a write prefix: no
		"cat " + dir + "/sens/w",                                   // a read under a read prefix
		tarx + " " + dir + "/other/plain " + dir + "/other/bycomm", // a write by a write key's process name
		"unshare -m /bin/sh -c ': > " + dir + "/other/inns'",       // another mount namespace
		"ln -s " + dir + "/pre/sub/target " + dir + "/other/link",  // a link from no key to a write prefix
		": > " + dir + "/other/link",                               // resolved: under the prefix; as named: not
		": > " + dir + "/other/../pre/sub/u",                       // ".." in the argument
		"cd " + dir + "/pre/sub && : > rel",                        // a relative argument
		"mkdir " + dir + "/rw && : <> " + dir + "/rw/both",         // O_RDWR under a read-write prefix
		": <> " + dir + "/pre/sub/rdwr",                            // O_RDWR under a write-only prefix: no
		": > " + dir + "/rw/wo",                                    // O_WRONLY under a read-write prefix: no
		"echo done",
	}, "\n")
	runScript(t, &shell, exec.Command("/bin/sh", "-c", script))
	want := []string{"/pre/sub/a", "/d/b", "/other/x.log", "/other/q_zz_histy", "/pre/sub/rr", "read /sens/w",
		"tarx /other/bycomm", "/other/inns", "/other/../pre/sub/u", "rel", "rw /rw/both"}
	if !raw {
		want = append(want, "/other/link")
	}
	got := drain(events, func(e event.Event) string {
		p := strings.TrimPrefix(e.File.PathRaw, dir)
		switch {
		case e.Process.Name == "tarx":
			if p == "/other/plain" {
				p = "read " + p // cp's read of its source: no read key, so not expected
			}
			return "tarx " + p
		case strings.Contains(e.File.Flags, "O_RDWR"):
			return "rw " + p
		case !strings.Contains(e.File.Flags, "O_WRONLY"):
			return "read " + p
		}
		return p
	})
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("opens reported %q\nwant %q", got, want)
	}
}

// runScript runs a script whose first line is "read x": it waits until
// the script's pid is in shell, where the events' filter looks for it,
// then lets it go on, and fails the test when the script fails.
func runScript(t *testing.T, shell *atomic.Int64, cmd *exec.Cmd) {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	shell.Store(int64(cmd.Process.Pid))
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the script failed: %v", err)
	}
}

// drain labels the events that arrive until none has for 300 ms (2 s for
// the first, 5 s in all), leaving out those labelled "", and returns the
// labels sorted.
func drain(events <-chan event.Event, label func(event.Event) string) []string {
	var got []string
	deadline := time.After(5 * time.Second)
	quiet := time.NewTimer(2 * time.Second)
	for {
		select {
		case e := <-events:
			if l := label(e); l != "" {
				got = append(got, l)
			}
			quiet.Reset(300 * time.Millisecond)
		case <-quiet.C:
			slices.Sort(got)
			return got
		case <-deadline:
			slices.Sort(got)
			return got
		}
	}
}

// TestConnectFilter has a shell connect to loopback ports and checks that
// the kernel reports exactly the connects its keys match: to a key port
// over IPv4 and IPv6, and every one in another mount namespace than the
// host's (a container's); not those to other ports, nor a connect of a
// unix socket. Both syscall hooks run it, as TestWriteFilter does.
func TestConnectFilter(t *testing.T) {
	for _, every := range []bool{true, false} {
		t.Run(fmt.Sprintf("every_call_hook=%v", every), func(t *testing.T) { testConnectFilter(t, every) })
	}
}

func testConnectFilter(t *testing.T, everyCall bool) {
	needRoot(t)
	for _, tool := range []string{"bash", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	listen := func(network, addr string) (net.Listener, uint16) {
		l, err := net.Listen(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		return l, uint16(l.Addr().(*net.TCPAddr).Port)
	}
	_, key := listen("tcp4", "127.0.0.1:0")
	_, other := listen("tcp4", "127.0.0.1:0")
	v6, key6 := "", uint16(0)
	if l, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		l.Close()
		_, key6 = listen("tcp6", "[::1]:0")
		v6 = fmt.Sprintf("exec 3<>/dev/tcp/::1/%d; exec 3<&-", key6)
	}
	ports := []uint16{key}
	if key6 != 0 {
		ports = append(ports, key6)
	}
	s, err := New(Config{
		Events:        []event.Type{event.Connect},
		EveryCallHook: everyCall,
		Connects:      &ConnectFilter{InContainers: true, Ports: ports},
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if hook := s.SyscallHook(); strings.HasPrefix(hook, "tp_btf") != everyCall {
		t.Fatalf("system calls captured by %s", hook)
	}
	sock := filepath.Join(t.TempDir(), "u.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	var shell atomic.Int64
	events := watch(t, s, func(e *event.Event) bool {
		pid := uint32(shell.Load())
		return e.Type == event.Connect && (e.Process.PID == pid || e.Process.PPID == pid)
	})
	tcp := func(port uint16) string { return fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d; exec 3<&-", port) }
	script := strings.Join([]string{
		"read x",
		tcp(key),   // a key port
		tcp(other), // another port: no
		v6,         // a key port over IPv6
		"unshare -m bash -c '" + tcp(other) + "'",           // another port, in another mount namespace
		"bash -c 'exec 3<>/dev/udp/127.0.0.1/9; exec 3<&-'", // UDP "connect" to another port: no
		"python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' " + sock + " 2>/dev/null || true", // unix: no
		"echo done",
	}, "\n")
	runScript(t, &shell, exec.Command("bash", "-c", script))
	want := []string{fmt.Sprintf("inet %d", key), fmt.Sprintf("inet %d", other)}
	if key6 != 0 {
		want = append(want, fmt.Sprintf("inet6 %d", key6))
	}
	got := drain(events, func(e event.Event) string {
		if e.Network == nil {
			return "no socket"
		}
		if e.Network.Family == "unix" {
			return "unix " + e.Network.Path
		}
		return fmt.Sprintf("%s %d", e.Network.Family, e.Network.DstPort)
	})
	// The bash in the other mount namespace may ask NSS who it is as it
	// starts (it does when HOME or SHELL is unset, as under CI), and glibc
	// then tries nscd's socket: a connect in a "container", rightly kept.
	// The unix connect the filter must turn away is the host's, to sock.
	got = slices.DeleteFunc(got, func(s string) bool {
		return strings.HasPrefix(s, "unix ") && s != "unix "+sock
	})
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("connects reported %q\nwant %q (key ports %v, other port %d, the other one from another mount namespace)", got, want, ports, other)
	}
}

// TestCallAbsent: the module calls are absent from a kernel without
// /proc/modules (one built without module support), and no other call is.
func TestCallAbsent(t *testing.T) {
	without, with := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(with, "modules"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		call, proc string
		want       bool
	}{
		{"init_module", without, true}, {"finit_module", without, true}, {"delete_module", without, true},
		{"init_module", with, false}, {"finit_module", with, false},
		{"openat", without, false}, {"execve", without, false},
	} {
		if got := callAbsent(c.call, c.proc); got != c.want {
			t.Errorf("callAbsent(%s) with /proc/modules %v = %v, want %v", c.call, c.proc == with, got, c.want)
		}
	}
}

// TestAbsentCallsRunNothingOnEveryCall: with the module calls wanted, a
// kernel built without them (this one, when it has no /proc/modules)
// captures the wanted calls by their tracepoints alone: tp_btf/sys_exit,
// which would run on every system call of the node for attempts that can
// only fail, is neither attached nor loaded, and the hook says which
// calls are not captured. Where the kernel can load modules, their calls
// are captured one way or the other.
func TestAbsentCallsRunNothingOnEveryCall(t *testing.T) {
	needRoot(t)
	s, err := New(Config{Events: []event.Type{event.ModuleLoad, event.Open}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hook := s.SyscallHook()
	if _, err := os.Stat("/proc/modules"); err == nil {
		if len(s.AbsentCalls()) > 0 || strings.Contains(hook, "built without") {
			t.Fatalf("a kernel with modules has module calls left out: %s", hook)
		}
		t.Skip("this kernel can load modules: its module calls are captured (" + hook + ")")
	}
	if !strings.HasPrefix(hook, "tracepoint syscalls/sys_exit_*") {
		t.Skipf("the per-call tracepoints are not used here: %s", hook)
	}
	if got := s.AbsentCalls(); !slices.Equal(got, []string{"init_module", "finit_module"}) {
		t.Errorf("absent calls %q, want init_module and finit_module", got)
	}
	if strings.Contains(hook, "tp_btf") || !strings.Contains(hook, "not init_module, finit_module, which this kernel was built without") {
		t.Errorf("system calls captured by %s", hook)
	}
	if s.objs.SysExit != nil {
		t.Error("tp_btf/sys_exit was loaded (a sixth of a second of the verifier) though no call needs it")
	}
}
