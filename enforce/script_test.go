package enforce

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/internal/podmantest"
)

func TestScriptArg(t *testing.T) {
	for _, tc := range []struct {
		exe  string
		argv string // split on spaces
		want string // "" for none
	}{
		// Shells, and what binfmt_script makes of ./x.sh with #!/bin/sh -e.
		{"/bin/sh", "sh /tmp/x.sh a b", "/tmp/x.sh"},
		{"/usr/bin/bash", "bash -e -x x.sh", "x.sh"},
		{"/usr/bin/bash", "bash -ex -o pipefail ./x.sh", "./x.sh"},
		{"/usr/bin/bash", "bash +o posix --norc --rcfile /etc/rc /tmp/y", "/tmp/y"},
		{"/usr/bin/bash", "bash -O extglob s", "s"},
		{"/usr/bin/dash", "/bin/sh -e ./x.sh arg", "./x.sh"},
		{"/usr/bin/bash", "bash -- -weird.sh", "-weird.sh"},
		{"/usr/bin/bash", "bash -c echo", ""},
		{"/usr/bin/bash", "bash -ec echo", ""},
		{"/usr/bin/bash", "bash -s arg", ""},
		{"/usr/bin/bash", "bash", ""},
		{"/usr/bin/bash", "bash -", ""},
		{"/usr/bin/zsh", "zsh /tmp/z", "/tmp/z"},
		{"/bin/busybox", "sh /tmp/x.sh", "/tmp/x.sh"},
		{"/bin/busybox", "/bin/ash -x /tmp/x.sh", "/tmp/x.sh"},
		{"/bin/busybox", "busybox sh /tmp/x.sh", "/tmp/x.sh"},
		{"/bin/busybox", "busybox sh -c id", ""},
		{"/bin/busybox", "busybox awk -f /tmp/p.awk in", "/tmp/p.awk"},
		{"/bin/busybox", "ls /tmp/x.sh", ""},
		{"/bin/busybox", "busybox", ""},
		// Python.
		{"/usr/bin/python3.11", "python3 /tmp/x.py", "/tmp/x.py"},
		{"/usr/bin/python3", "python3 -u -B -W ignore -X dev x.py a", "x.py"},
		{"/usr/bin/python3", "python3 -Wignore -Bu x.py", "x.py"},
		{"/usr/bin/python3", "python3 --check-hash-based-pycs never x.py", "x.py"},
		{"/usr/bin/python3", "python3 -c print(1)", ""},
		{"/usr/bin/python3", "python3 -m http.server", ""},
		{"/usr/bin/python3", "python3 -Im pip", ""},
		{"/usr/bin/python3", "python3 -", ""},
		{"/usr/bin/python3", "python3", ""},
		{"/usr/bin/pypy3", "pypy3 x.py", "x.py"},
		// Perl, Ruby, Node, PHP, Lua, awk, Tcl, R.
		{"/usr/bin/perl", "perl -w -I lib -Mstrict -i.bak x.pl f", "x.pl"},
		{"/usr/bin/perl5.36.0", "perl -l -0777 -n x.pl", "x.pl"},
		{"/usr/bin/perl", "perl -e print", ""},
		{"/usr/bin/perl", "perl -ne print", ""},
		{"/usr/bin/ruby", "ruby -r json -Ilib -w x.rb", "x.rb"},
		{"/usr/bin/ruby", "ruby -e puts", ""},
		{"/usr/bin/node", "node --inspect --require ./hook.js app.js", "app.js"},
		{"/usr/bin/node", "node --max-old-space-size=4096 app.js", "app.js"},
		{"/usr/bin/node", "node -r ./hook app.js", "app.js"},
		{"/usr/bin/node", "node -e 1", ""},
		{"/usr/bin/node", "node --eval=1", ""},
		{"/usr/bin/node", "node -p 1", ""},
		{"/usr/bin/php8.2", "php -d memory_limit=1G -f /tmp/x.php", "/tmp/x.php"},
		{"/usr/bin/php", "php -c /etc/php.ini x.php", "x.php"},
		{"/usr/bin/php", "php -r echo;", ""},
		{"/usr/bin/lua5.4", "lua -l socket x.lua", "x.lua"},
		{"/usr/bin/lua5.4", "lua -e x=1", ""},
		{"/usr/bin/gawk", "gawk -v a=1 -f prog.awk data", "prog.awk"},
		{"/usr/bin/gawk", "gawk --file=prog.awk data", "prog.awk"},
		{"/usr/bin/mawk", "awk {print} data", ""},
		{"/usr/bin/tclsh8.6", "tclsh x.tcl", "x.tcl"},
		{"/usr/bin/Rscript", "Rscript --vanilla x.R", "x.R"},
		{"/usr/bin/Rscript", "Rscript -e 1", ""},
		// Not interpreters.
		{"/usr/bin/cat", "cat /tmp/x.sh", ""},
		{"/usr/bin/python-config", "python-config x", ""},
		{"/usr/bin/env", "env sh x.sh", ""},
	} {
		got, ok := ScriptArg(tc.exe, strings.Fields(tc.argv))
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("ScriptArg(%s, %q) = %q, %v; want %q", tc.exe, tc.argv, got, ok, tc.want)
		}
	}
}

func FuzzScriptArg(f *testing.F) {
	f.Add("/bin/sh", "sh -o x -- y")
	f.Add("/usr/bin/perl", "perl -I")
	f.Add("/bin/busybox", "busybox awk -f")
	f.Add("/usr/bin/gawk", "gawk --file")
	f.Fuzz(func(t *testing.T, exe, argv string) {
		args := strings.Split(argv, " ")
		if s, ok := ScriptArg(exe, args); ok && !contains(args, s) && !strings.Contains(argv, s) {
			t.Fatalf("ScriptArg(%q, %q) = %q, not from the arguments", exe, args, s)
		}
	})
}

// findProc returns the host pid of the process of container b (same PID
// namespace as its init) whose command line is argv.
func findProc(t *testing.T, b *box, argv ...string) int {
	t.Helper()
	want := []byte(strings.Join(argv, "\x00") + "\x00")
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", b.info.Pid))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir("/proc")
		for _, ent := range ents {
			pid, err := strconv.Atoi(ent.Name())
			if err != nil {
				continue
			}
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if other, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); bytes.Equal(cmd, want) && other == ns {
				return pid
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no process %q in the container", argv)
	return 0
}

// TestDriftedScript follows what the guard does on an interpreter's exec
// event: ScriptArg on the process's executable and command line, then
// DriftedFile on the script, resolved inside the container. A dropped
// script (relative to the working directory) is drift; image files,
// symlinks into the image and scripts on declared volumes are not.
func TestDriftedScript(t *testing.T) {
	e := newEnv(t, Config{})
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "v.sh"), []byte("sleep 30\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := startBox(t, podmantest.Args("-v", vol+":/vol"))
	b.mustRun(t, "sh", "-c", "printf 'sleep 30\\n' >/tmp/x.sh && ln -s /etc/passwd /tmp/pw && ln -s /tmp/x.sh /tmp/l.sh")
	go b.run("sh", "-c", "cd /tmp && exec sh x.sh")
	pid := findProc(t, b, "sh", "x.sh")
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		t.Fatal(err)
	}
	script, ok := ScriptArg(exe, []string{"sh", "x.sh"})
	if !ok || script != "x.sh" {
		t.Fatalf("ScriptArg(%s, sh x.sh) = %q, %v", exe, script, ok)
	}

	check := func(ref ContainerRef, p string, want FileDrift) {
		t.Helper()
		got, err := e.d.DriftedFile(ref, pid, p)
		if err != nil || got != want {
			t.Errorf("DriftedFile(%s) = %+v, %v; want %+v", p, got, err, want)
		}
	}
	ref := b.ref(Enforce)
	for _, protected := range []bool{false, true} {
		if protected {
			protect(t, e, ref)
		}
		check(ref, script, FileDrift{"/tmp/x.sh", UpperLayer})
		check(ref, "/tmp/l.sh", FileDrift{"/tmp/x.sh", UpperLayer})
		check(ref, "/bin/sh", FileDrift{"/bin/busybox", ""})
		// Resolved inside the container: its /etc/passwd, an image file,
		// not the host's.
		check(ref, "../tmp/pw", FileDrift{"/etc/passwd", ""})
		check(ref, "/vol/v.sh", FileDrift{"/vol/v.sh", Volume})
		check(ref, helperPath, FileDrift{helperPath, ""}) // allowed
	}
	vref := b.ref(Enforce)
	vref.ID += "-volumes"
	vref.VolumesExec = true
	check(vref, "/vol/v.sh", FileDrift{"/vol/v.sh", ""})
	if _, err := e.d.DriftedFile(ref, pid, "/tmp/none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("DriftedFile of a missing file: %v", err)
	}
}
