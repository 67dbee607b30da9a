package enforce

import (
	"bufio"
	"bytes"
	"fmt"
	"github.com/mamori-dev/mamori/internal/procfs"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mode says whether Drift Prevention blocks drifted programs, only
// reports them, or does not judge them at all.
type Mode string

const (
	Enforce Mode = "enforce"
	Audit   Mode = "audit"
	// Off leaves drift alone: only the ExecChecks of the ContainerRef are
	// applied, by the fanotify handler.
	Off Mode = "off"
)

// ContainerRef says which container to protect and how. Only ID, RootPID
// and Mode are required: the rest is read from the kernel through RootPID.
type ContainerRef struct {
	ID string
	// RootPID is any process of the container, normally its init
	// (`podman inspect .State.Pid`). Its mount namespace gives the mounts
	// to mark and the overlay's layers; its cgroup gives CgroupID.
	RootPID int
	// CgroupID is the container's cgroup v2 id; 0 means read it from
	// RootPID.
	CgroupID uint64
	// UpperDir and LowerDirs override the layers named in the root
	// overlay mount's options (topmost lower first).
	UpperDir  string
	LowerDirs []string
	// ExecMounts lists mount points inside the container (volumes) whose
	// programs may run. Read-only mounts never count as drift.
	ExecMounts []string
	// VolumesExec lets programs on every volume run: each mount other
	// than the root that is a directory and not a kernel file system
	// (proc, sysfs, devpts, mqueue, cgroup) nor under /proc, /sys or /dev
	// counts as listed in ExecMounts.
	VolumesExec bool
	Mode        Mode
	// Allow lists absolute paths inside the container that may run
	// although they are not from the image (exact paths, no patterns).
	Allow []string
	// AllowMatch, when set, also allows a drifted program whose path in
	// the container it matches: base names and patterns, which the
	// kernel's exact-path map cannot hold. The fanotify handler asks it,
	// and writes each path it allows into the kernel's allow map before
	// answering, so that the sigkill line lets it run too. Without
	// fanotify such programs are killed: the kernel cannot match
	// patterns.
	AllowMatch func(path string) bool
	// Exec lists checks that refuse programs whatever Mode says, in user
	// space, by the fanotify handler; without fanotify they are not
	// applied (Refusing reports it).
	Exec ExecChecks
}

// ExecChecks are the checks other than drift that the fanotify handler
// applies to every exec in a container: its caller's Executable Blocklist,
// Executable Allowlist and Limit New Privileges, in enforce mode.
type ExecChecks struct {
	// Allowed, when set, refuses a program whose path in the container
	// it does not match.
	Allowed func(path string) bool
	// Blocked, when set, refuses a program whose path in the container it
	// matches (by path or by base name: the caller decides).
	Blocked func(path string) bool
	// BlockedSHA256 refuses a program whose content has one of these
	// digests (lower-case hex). Each file is hashed once per inode and
	// change time; a file too slow to hash within the decision timeout
	// is answered by the fail policy and reported as block-failed.
	BlockedSHA256 map[string]bool
	// NoNewPrivileges refuses a program that would raise the caller's
	// privileges: set-user-ID to another user, set-group-ID to another
	// group, or file capabilities, on a mount without nosuid, for a
	// process without no_new_privs.
	NoNewPrivileges bool
}

// Any reports whether c asks for any check.
func (c ExecChecks) Any() bool {
	return c.Blocked != nil || c.Allowed != nil || len(c.BlockedSHA256) > 0 || c.NoNewPrivileges
}

// mount is one line of /proc/PID/mountinfo.
type mount struct {
	id        uint64
	point     string
	fstype    string
	opts      string // per-mount options
	superOpts string
	readOnly  bool
	noExec    bool
}

func readMountinfo(path string) ([]mount, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ms []mount
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m, ok := parseMountinfoLine(sc.Text())
		if ok {
			ms = append(ms, m)
		}
	}
	return ms, sc.Err()
}

// parseMountinfoLine reads "ID PARENT MAJ:MIN ROOT POINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS".
func parseMountinfoLine(line string) (mount, bool) {
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || sep+2 >= len(f) {
		return mount{}, false
	}
	id, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return mount{}, false
	}
	m := mount{id: id, point: procfs.Unescape(f[4]), opts: f[5], fstype: f[sep+1]}
	if sep+3 < len(f) {
		m.superOpts = f[sep+3]
	}
	for _, o := range strings.Split(m.opts, ",") {
		switch o {
		case "ro":
			m.readOnly = true
		case "noexec":
			m.noExec = true
		}
	}
	return m, true
}

// isVolume reports whether m, a mount of the container whose root is
// visible at root, is one the user gave it (a bind mount or a volume), not
// one the runtime always makes: kernel file systems, anything under /proc,
// /sys or /dev, and single files (/etc/hosts, /etc/resolv.conf).
func isVolume(root string, m mount) bool {
	switch m.fstype {
	case "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2", "devtmpfs", "securityfs", "debugfs", "tracefs", "bpf":
		return false
	}
	for _, sys := range []string{"/proc", "/sys", "/dev"} {
		if m.point == sys || strings.HasPrefix(m.point, sys+"/") {
			return false
		}
	}
	fi, err := os.Stat(filepath.Join(root, m.point))
	return err == nil && fi.IsDir()
}

// overlayLayers reads upperdir and lowerdir (topmost first) from an overlay
// mount's super options. Each option and each lower directory is escaped
// with octal escapes by the kernel, so splitting on ',' and ':' is safe.
func overlayLayers(superOpts string) (upper string, lowers []string) {
	for _, o := range strings.Split(superOpts, ",") {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "upperdir":
			upper = procfs.Unescape(v)
		case "lowerdir":
			for _, l := range strings.Split(v, ":") {
				if l != "" { // "::" marks data-only layers
					lowers = append(lowers, procfs.Unescape(l))
				}
			}
		case "lowerdir+":
			lowers = append(lowers, procfs.Unescape(v))
		}
	}
	return upper, lowers
}

// cgroupID returns the cgroup v2 id of pid: the inode of its directory in
// the cgroup2 hierarchy mounted at root.
func cgroupID(root string, pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rel, ok := strings.CutPrefix(line, "0::"); ok {
			var st unix.Stat_t
			p := filepath.Join(root, rel)
			if err := unix.Stat(p, &st); err != nil {
				return 0, fmt.Errorf("stat %s: %w", p, err)
			}
			return st.Ino, nil
		}
	}
	return 0, fmt.Errorf("process %d has no cgroup v2 line in /proc/%d/cgroup", pid, pid)
}

// inodeIdentity reports whether the container's overlay shows a lower
// file with the inode number it has in its layer directory. Overlayfs
// does so when all layers share one file system and xino is off, as on a
// default podman or containerd host; then an exec'd file whose inode is
// not that of the image file at its path is not the image file. Where it
// does not hold, only the upper directory is consulted (and the sigkill
// line still decides from the kernel's own upper dentry).
func inodeIdentity(root string, upper string, lowers []string) bool {
	if len(lowers) == 0 {
		return false
	}
	found := false
	identity := false
	seen := 0
	filepath.WalkDir(lowers[0], func(p string, d fs.DirEntry, err error) error {
		if err != nil || found {
			return filepath.SkipAll
		}
		if seen++; seen > 2000 {
			return filepath.SkipAll
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(lowers[0], p)
		if err != nil {
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(filepath.Join(upper, rel), &st) == nil {
			return nil // copied up or whited out: not a witness
		}
		var lst, mst unix.Stat_t
		if unix.Lstat(p, &lst) != nil || unix.Lstat(filepath.Join(root, rel), &mst) != nil {
			return nil
		}
		found = true
		identity = lst.Ino == mst.Ino
		return filepath.SkipAll
	})
	return identity
}
