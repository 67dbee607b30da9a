package enforce

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Scripts run through their interpreter (sh /tmp/x.sh, python3 x.py) are
// not execs of the script: the interpreter, an image file, is exec'd, and
// reads the script as data. No exec or mmap hook sees the script, so
// Drift Prevention cannot refuse it; ScriptArg and Drift.DriftedFile let
// the caller see it on the interpreter's exec event and report it.

// interpreter describes how one interpreter's command line names its
// script.
type interpreter struct {
	// inline lists options whose presence means the program text is on
	// the command line or read from standard input: no script file.
	inline string
	// withArg lists single-letter options that take the next argument
	// (or the rest of the same word).
	withArg string
	// longWithArg lists long options that take the next argument when
	// written without '='.
	longWithArg []string
	// file is the option whose argument is the script (php -f, awk -f).
	file byte
	// sh: option letters come in clusters after '-' or '+', and -o/+o
	// take a word; a cluster with 'c' or 's' means no script file.
	sh bool
	// attached: an option letter in withArg takes the rest of its word
	// when there is one (perl -Ilib, ruby -rjson).
	attached bool
	// rest lists option letters whose value can only be attached: they
	// take the rest of their word, never the next argument (perl -i.bak,
	// -l, -0777, -MModule).
	rest string
	// program: without file, the first operand is the program text, not
	// a file (awk 'prog' files...).
	program bool
}

var interpreters = map[string]interpreter{
	"sh": {sh: true, longWithArg: []string{"--rcfile", "--init-file"}, withArg: "oO"},
	"python": {inline: "cm", withArg: "WXQ", attached: true,
		longWithArg: []string{"--check-hash-based-pycs"}},
	"perl": {inline: "eE", withArg: "I", attached: true, rest: "MmxiCld0DF"},
	"ruby": {inline: "e", withArg: "IrCE", attached: true, rest: "Fx0KTW",
		longWithArg: []string{"--encoding", "--external-encoding", "--internal-encoding"}},
	"node": {inline: "ep", withArg: "rC",
		longWithArg: []string{"--require", "--import", "--loader", "--experimental-loader", "--conditions",
			"--input-type", "--env-file", "--title", "--inspect-port", "--stack-size", "--max-old-space-size"}},
	"php":     {inline: "rBRE", withArg: "cdz", attached: true, file: 'f'},
	"lua":     {inline: "e", withArg: "l", attached: true},
	"awk":     {withArg: "vF", attached: true, file: 'f', program: true},
	"tclsh":   {},
	"rscript": {inline: "e", longWithArg: []string{"--default-packages"}},
}

// interpreterNames maps the base name of an interpreter's executable to
// its entry in interpreters; versioned names (python3.11, perl5.36.0,
// lua5.4, php8.2, tclsh8.6) are folded by interpreterOf.
var interpreterNames = map[string]string{
	"sh": "sh", "bash": "sh", "dash": "sh", "ash": "sh", "ksh": "sh", "mksh": "sh", "zsh": "sh",
	"hush": "sh", "yash": "sh", "posh": "sh",
	"python": "python", "pypy": "python",
	"perl": "perl", "ruby": "ruby", "node": "node", "nodejs": "node",
	"php": "php", "php-cli": "php", "lua": "lua", "luajit": "lua",
	"awk": "awk", "gawk": "awk", "mawk": "awk", "nawk": "awk", "busybox-awk": "awk",
	"tclsh": "tclsh", "wish": "tclsh", "Rscript": "rscript",
}

// interpreterOf returns the entry for an executable's base name.
func interpreterOf(name string) (interpreter, bool) {
	if k, ok := interpreterNames[name]; ok {
		return interpreters[k], true
	}
	// python3, python3.11, perl5.36.0, lua5.4, php8.2, pypy3, tclsh8.6
	trimmed := strings.TrimRight(name, "0123456789.")
	if trimmed != name && trimmed != "" {
		if k, ok := interpreterNames[trimmed]; ok {
			return interpreters[k], true
		}
	}
	return interpreter{}, false
}

// busyboxApplets are the busybox applets that interpret scripts.
var busyboxApplets = map[string]bool{"sh": true, "ash": true, "hush": true, "bash": true, "awk": true}

// ScriptArg returns the script file an interpreter reads, from the
// interpreter's executable exe (the exec'd file, e.g. /usr/bin/python3.11
// or /bin/busybox) and its argv (argv[0] included, as execve got it). It
// recognises shells (sh, bash, dash, ash, ksh, zsh, busybox sh), python,
// perl, ruby, node, php, lua, awk -f, tclsh and Rscript, skips their
// options, and returns ok false when there is no script file: the program
// is on the command line (sh -c, python -c, perl -e, node -e), read from
// standard input (sh -s, a lone -), a module (python -m), or exe is not
// an interpreter. The script may be relative to the process's working
// directory.
func ScriptArg(exe string, argv []string) (script string, ok bool) {
	name := path.Base(exe)
	args := argv
	if len(args) > 0 {
		args = args[1:]
	}
	if name == "busybox" {
		// busybox APPLET args, or a link named after the applet.
		applet := ""
		if len(argv) > 0 {
			applet = path.Base(argv[0])
		}
		if applet == "busybox" || applet == "" {
			if len(args) == 0 {
				return "", false
			}
			applet, args = args[0], args[1:]
		}
		if !busyboxApplets[applet] {
			return "", false
		}
		name = applet
		if name == "awk" {
			name = "busybox-awk"
		}
	}
	in, ok := interpreterOf(name)
	if !ok {
		return "", false
	}
	return in.script(args)
}

// script finds the script among args, the arguments after argv[0].
func (in interpreter) script(args []string) (string, bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "":
			return "", false // not a file name
		case a == "--":
			return in.operand(args[i+1:])
		case a == "-":
			return "", false // standard input
		case strings.HasPrefix(a, "--"):
			name, _, hasValue := strings.Cut(a, "=")
			switch {
			case name == "--eval" || name == "--print" || name == "--command" || name == "--source":
				return "", false
			case name == "--file" && in.file != 0: // gawk --file=PROG
				if hasValue {
					return a[len("--file="):], true
				}
				if i+1 < len(args) {
					return args[i+1], true
				}
				return "", false
			case !hasValue && contains(in.longWithArg, name):
				i++
			}
		case in.sh && (a[0] == '-' || a[0] == '+') && len(a) > 1:
			for _, c := range a[1:] {
				switch {
				case c == 'c' || c == 's':
					return "", false
				case strings.ContainsRune(in.withArg, c):
					i++ // -o NAME, -O NAME (bash)
				}
			}
		case a[0] == '-' && len(a) > 1:
			for j := 1; j < len(a); j++ {
				c := a[j]
				switch {
				case in.file != 0 && c == in.file:
					if j+1 < len(a) {
						return a[j+1:], true
					}
					if i+1 < len(args) {
						return args[i+1], true
					}
					return "", false
				case strings.IndexByte(in.inline, c) >= 0:
					return "", false
				case strings.IndexByte(in.withArg, c) >= 0:
					if !in.attached || j+1 == len(a) {
						i++
					}
					j = len(a) // the rest of the word is the option's value
				case strings.IndexByte(in.rest, c) >= 0:
					j = len(a)
				}
			}
		default:
			return in.operand(args[i:])
		}
	}
	return "", false
}

// operand is the script among the operands: the first, unless the
// interpreter takes its program as the first operand.
func (in interpreter) operand(ops []string) (string, bool) {
	if len(ops) == 0 || in.program || ops[0] == "" || ops[0] == "-" {
		return "", false
	}
	return ops[0], true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// FileDrift is DriftedFile's answer.
type FileDrift struct {
	// Path is the file's path in the container, symlinks resolved.
	Path string
	// Reason says why the file is not the image's: UpperLayer, Deleted
	// or Volume; empty when it is the image's, on a read-only mount or a
	// mount declared in ExecMounts (VolumesExec), or allowed (Allow,
	// AllowMatch).
	Reason Reason
}

// DriftedFile says whether the file p, as process pid of the container
// ref sees it (a relative p from pid's working directory, symlinks
// resolved inside pid's root), is part of the container's image, with the
// same rules as the fanotify handler: on the root overlay, a file on the
// upper layer (new, or an image file copied up) or not the inode the image
// holds at its path is drift; on another writable mount, any file not
// declared in ExecMounts. The guard calls it with ScriptArg's script on an
// interpreter's exec event. The container's layers come from the
// protected container ref.ID when there is one, else they are read
// through ref.RootPID (about a millisecond); ref.Mode is not consulted.
// An error means the file could not be judged (it is gone, or pid is).
func (d *Drift) DriftedFile(ref ContainerRef, pid int, p string) (FileDrift, error) {
	d.mu.Lock()
	t := d.targets[ref.ID]
	d.mu.Unlock()
	if t == nil {
		var err error
		if ref.Mode == "" {
			ref.Mode = Audit
		}
		if t, err = d.resolve(ref); err != nil {
			return FileDrift{}, fmt.Errorf("container %s: %w", ref.ID, err)
		}
	}
	fd, err := openInRoot(pid, p)
	if err != nil {
		return FileDrift{}, err
	}
	defer unix.Close(fd)
	var st unix.Statx_t
	mask := unix.STATX_INO | unix.STATX_NLINK | unix.STATX_MNT_ID
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, mask, &st); err != nil {
		return FileDrift{}, fmt.Errorf("statx %s: %w", p, err)
	}
	in, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return FileDrift{}, err
	}
	r := t.drift(fd, in, &st)
	if r != "" && t.ref.AllowMatch != nil && t.ref.AllowMatch(in) {
		r = ""
	}
	return FileDrift{Path: in, Reason: r}, nil
}

// openInRoot opens p as process pid would find it: from its working
// directory when relative, symlinks resolved inside its root. The file is
// opened O_PATH: nothing is read, and no fanotify permission event or
// FIFO can make the caller wait.
func openInRoot(pid int, p string) (int, error) {
	proc := "/proc/" + strconv.Itoa(pid)
	if !path.IsAbs(p) {
		cwd, err := os.Readlink(proc + "/cwd")
		if err != nil {
			return -1, err
		}
		// The working directory is shown from the mount namespace's
		// root; a chrooted process's root is a directory below it.
		if root, err := os.Readlink(proc + "/root"); err == nil && root != "/" {
			rel, ok := strings.CutPrefix(cwd, root)
			if !ok || rel != "" && rel[0] != '/' {
				return -1, fmt.Errorf("the working directory %s of process %d is outside its root %s", cwd, pid, root)
			}
			cwd = rel
		}
		p = path.Join("/", cwd, p)
	}
	rootfd, err := unix.Open(proc+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open the root of process %d: %w", pid, err)
	}
	defer unix.Close(rootfd)
	fd, err := unix.Openat2(rootfd, p, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return -1, fmt.Errorf("%s in process %d: %w", p, pid, os.ErrNotExist)
		}
		return -1, fmt.Errorf("open %s in process %d: %w", p, pid, err)
	}
	return fd, nil
}
