package sensor

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/mamori-dev/mamori/event"
	"golang.org/x/sys/unix"
)

// TestChangeFilter has helper processes unlink, remove, rename and make
// files and directories with the very system calls named (absolute paths,
// paths relative to the working directory and to a directory fd, failed
// calls), and checks that the kernel reports exactly those a key of their
// kind matches on the path as the event gives it: a prefix, the directory
// a path is directly in, an ending, a substring, the process's name, a
// rename's old path by the old path's keys only and its new path by the
// new path's, every mkdir in another mount namespace than the host's; that
// keys of other kinds (a read prefix, a write prefix, a remove prefix for
// renames) let nothing through, while a read prefix that extends a remove
// prefix keeps the remove prefix's class; and that a path the kernel
// cannot compare as the event gives it (".", ".." or an empty component
// in it, a trailing slash) is reported whatever its keys, at every
// offset, while one with names that merely start or end with dots is
// not. The first run captures system calls with
// tp_btf/sys_exit (as on kernels before 5.15), the second with the
// per-call tracepoints.
func TestChangeFilter(t *testing.T) {
	for _, every := range []bool{true, false} {
		t.Run(fmt.Sprintf("every-call=%v", every), func(t *testing.T) { testChangeFilter(t, every) })
	}
}

func testChangeFilter(t *testing.T, everyCall bool) {
	needRoot(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	dir := t.TempDir()
	for _, d := range []string{"rm/sub", "d/sub", "other", "sens", "w", "from", "to", "mk", "bin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The test binary under another name, for a key on the process's name.
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	tarx := filepath.Join(dir, "bin", "tarx")
	if err := os.WriteFile(tarx, data, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		Events:            []event.Type{event.Unlink, event.Rename, event.Mkdir, event.Rmdir},
		SensitivePrefixes: []string{dir + "/sens/", dir + "/rm/sub/r"},
		EveryCallHook:     everyCall,
		Opens: OpenFilter{
			Writes: &WriteFilter{OpenKeys: OpenKeys{Prefixes: []string{dir + "/w/"}}},
			Changes: &ChangeFilter{
				Removes: ChangeKeys{Prefixes: []string{dir + "/rm/"}, Dirs: []string{dir + "/d/"}, Suffixes: []string{"_history"},
					Contains: []string{"zz_hist"}, Comms: []string{"tarx"}},
				RenamesFrom: ChangeKeys{Prefixes: []string{dir + "/from/"}},
				RenamesTo:   ChangeKeys{Prefixes: []string{dir + "/to/"}, Contains: []string{"/."}},
				Mkdirs:      ChangeKeys{Prefixes: []string{dir + "/mk/"}, InContainers: true},
			},
		},
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if hook := s.SyscallHook(); strings.HasPrefix(hook, "tp_btf") != everyCall {
		t.Fatalf("system calls captured by %s", hook)
	}
	events := watch(t, s, func(e *event.Event) bool {
		return e.File != nil && (strings.HasPrefix(e.File.Path, dir) || strings.HasPrefix(e.File.Target, dir))
	})
	d := func(p string) string { return dir + "/" + p }
	script := strings.Join([]string{
		"touch " + d("rm/a"), "unlink " + d("rm/a"), // under a remove prefix
		"unlink " + d("rm/missing"),                       // the same, failed
		"touch " + d("other/a"), "unlink " + d("other/a"), // nothing
		"touch " + d("d/b"), "unlinkat . " + d("d/b"), // directly in a remove directory
		"touch " + d("d/sub/c"), "unlink " + d("d/sub/c"), // below it, not directly in it
		"touch " + d("other/x_history"), "unlink " + d("other/x_history"), // an ending
		"touch " + d("other/q_zz_histy"), "unlink " + d("other/q_zz_histy"), // a substring
		"touch " + d("sens/w"), "unlink " + d("sens/w"), // a read prefix: no remove
		"touch " + d("w/f"), "unlink " + d("w/f"), // a write prefix: no remove
		"touch " + d("rm/sub/rr"), "unlink " + d("rm/sub/rr"), // a read prefix extending a remove prefix
		"touch " + d("rm/rel1"), "unlinkat " + d("rm") + " rel1", // relative to a directory fd
		"touch " + d("other/rel2"), "unlinkat " + d("other") + " rel2",
		"touch " + d("other/rel_history"), "unlinkat " + d("other") + " rel_history",
		"cd " + d("rm"), "touch cwd1", "unlink cwd1", // relative to the working directory
		"cd " + d("other"), "touch cwd2", "unlink cwd2",
		"touch " + d("rm/u"), "unlink " + d("other/../rm/u"), // ".." in the path: reported whatever the keys
		"touch " + d("other/v"), "unlink " + d("other/./v"),
		"touch " + d("other/rel3"), "unlinkat " + d("other") + " ./rel3",
		"mkdir " + d("rm/e"), "rmdir " + d("rm/e"), // rmdir is a remove
		"mkdir " + d("other/e"), "rmdir " + d("other/e"),
		"mkdir " + d("rm/f"), "unlinkat " + d("rm") + " f rmdir",
		"touch " + d("from/f1"), "rename " + d("from/f1") + " " + d("other/f1"), // by its old path
		"touch " + d("other/f2"), "rename " + d("other/f2") + " " + d("to/f2"), // by its new path
		"touch " + d("other/f3"), "rename " + d("other/f3") + " " + d("other/f4"), // neither
		"rename " + d("other/f4") + " " + d("other/.f4"),                    // a new path holding "/."
		"rename " + d("other/.f4") + " " + d("other/f5"),                    // an old path holding it: no
		"touch " + d("rm/r1"), "rename " + d("rm/r1") + " " + d("other/r1"), // a remove prefix: no rename
		"touch " + d("from/rf"), "renameat " + d("from") + " rf " + d("other") + " rf2",
		"renameat2 " + d("other/rf2") + " " + d("other/rf3"),
		"mkdir " + d("mk/m1"), "mkdirat " + d("mk") + " m2", "mkdir " + d("other/m3"), "mkdirat " + d("other") + " m4",
	}, "\n")
	// The kernel checks substrings and ".", ".." or empty components 8
	// and 5 bytes at a time: each at every offset.
	var more, moreWant []string
	for k := range 13 {
		p := "other/" + strings.Repeat("a", k)
		for _, c := range []struct {
			path     string
			reported bool
		}{
			{p + "zz_hist", true}, {p + "zz_hisT", false},
			{p + "q/./x", true}, {p + "q/../x", true}, {p + "q//x", true}, {p + "q/.", true}, {p + "q/..", true}, {p + "q/", true},
			{p + "q/.x", false}, {p + "q/..x", false}, {p + "q/x.", false}, {p + "q/x/.y", false},
		} {
			more = append(more, "unlink "+d(c.path))
			if c.reported {
				moreWant = append(moreWant, "unlink /"+c.path)
			}
		}
	}
	script += "\n" + strings.Join(more, "\n")
	run := func(cmd *exec.Cmd) {
		t.Helper()
		cmd.Stderr = nil
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", cmd.Args, err, out)
		}
	}
	run(helper("changes", "CHANGES="+script))
	// A process named tarx, whose removes are all reported, and whose
	// mkdirs are not.
	cmd := helper("changes", "CHANGES="+strings.Join([]string{
		"touch " + d("other/bycomm"), "unlink " + d("other/bycomm"), "mkdir " + d("other/m5")}, "\n"))
	cmd.Path, cmd.Args[0] = tarx, tarx
	run(cmd)
	// In another mount namespace: every mkdir, no other remove.
	cmd = helper("changes", "CHANGES="+strings.Join([]string{
		"mkdir " + d("other/mns"), "touch " + d("other/uns"), "unlink " + d("other/uns")}, "\n"))
	cmd.Args = append([]string{"unshare", "-m"}, cmd.Args...)
	cmd.Path, _ = exec.LookPath("unshare")
	run(cmd)

	want := []string{
		"unlink /rm/a", "unlink /rm/missing", "unlinkat /d/b", "unlink /other/x_history", "unlink /other/q_zz_histy",
		"unlink /rm/sub/rr", "unlinkat /rm/rel1", "unlinkat /other/rel_history", "unlink /rm/cwd1",
		"unlink /other/../rm/u", "unlink /other/./v", "unlinkat /other/rel3",
		"rmdir /rm/e", "unlinkat /rm/f",
		"rename /from/f1 /other/f1", "rename /other/f2 /to/f2", "rename /other/f4 /other/.f4",
		"renameat /from/rf /other/rf2",
		"mkdir /mk/m1", "mkdirat /mk/m2",
		"tarx unlink /other/bycomm", "mkdir /other/mns",
	}
	want = append(want, moreWant...)
	got := drain(events, func(e event.Event) string {
		l := e.Syscall + " " + strings.TrimPrefix(e.File.Path, dir)
		if e.File.Target != "" {
			l += " " + strings.TrimPrefix(e.File.Target, dir)
		}
		if e.Process.Name == "tarx" {
			l = "tarx " + l
		}
		return l
	})
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("calls reported %q\nwant %q", got, want)
	}
}

// changeCalls makes the calls script names, one a line, with the very
// system call named: "unlink P", "unlinkat D N [rmdir]", "rmdir P",
// "rename A B", "renameat DA A DB B", "renameat2 A B", "mkdir P",
// "mkdirat D N", where D is a directory opened for its fd, or "." for
// AT_FDCWD; and "touch P", "cd D" to set the stage. The calls may fail.
func changeCalls(script string) int {
	cwd := unix.AT_FDCWD
	fd := func(p string) uintptr {
		if p == "." {
			return uintptr(cwd)
		}
		n, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return uintptr(n)
	}
	str := func(s string) *byte {
		p, err := unix.BytePtrFromString(s)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return p
	}
	for line := range strings.SplitSeq(script, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "touch":
			n, err := unix.Open(f[1], unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
			if err != nil {
				fmt.Fprintln(os.Stderr, line, err)
				return 1
			}
			unix.Close(n)
		case "cd":
			if err := unix.Chdir(f[1]); err != nil {
				fmt.Fprintln(os.Stderr, line, err)
				return 1
			}
		case "unlink":
			p := str(f[1])
			unix.Syscall(unix.SYS_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0)
		case "unlinkat":
			flags := uintptr(0)
			if len(f) > 3 {
				flags = unix.AT_REMOVEDIR
			}
			d, p := fd(f[1]), str(f[2])
			unix.Syscall(unix.SYS_UNLINKAT, d, uintptr(unsafe.Pointer(p)), flags)
		case "rmdir":
			p := str(f[1])
			unix.Syscall(unix.SYS_RMDIR, uintptr(unsafe.Pointer(p)), 0, 0)
		case "rename":
			a, b := str(f[1]), str(f[2])
			unix.Syscall(unix.SYS_RENAME, uintptr(unsafe.Pointer(a)), uintptr(unsafe.Pointer(b)), 0)
		case "renameat":
			da, a, db, b := fd(f[1]), str(f[2]), fd(f[3]), str(f[4])
			unix.Syscall6(unix.SYS_RENAMEAT, da, uintptr(unsafe.Pointer(a)), db, uintptr(unsafe.Pointer(b)), 0, 0)
		case "renameat2":
			a, b := str(f[1]), str(f[2])
			unix.Syscall6(unix.SYS_RENAMEAT2, fd("."), uintptr(unsafe.Pointer(a)), fd("."), uintptr(unsafe.Pointer(b)), 0, 0)
		case "mkdir":
			p := str(f[1])
			unix.Syscall(unix.SYS_MKDIR, uintptr(unsafe.Pointer(p)), 0o755, 0)
		case "mkdirat":
			d, p := fd(f[1]), str(f[2])
			unix.Syscall(unix.SYS_MKDIRAT, d, uintptr(unsafe.Pointer(p)), 0o755)
		default:
			fmt.Fprintln(os.Stderr, "unknown call:", line)
			return 2
		}
	}
	return 0
}
