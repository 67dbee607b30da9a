package container

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/mamori-dev/mamori/internal/procfs"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// errNoCgroup says that no cgroup with the id exists (any more).
var errNoCgroup = errors.New("cgroup does not exist")

// fileIDKernfs is the file handle type of kernfs (cgroupfs) inodes; its
// handle is the 8-byte cgroup id, the value bpf_get_current_cgroup_id()
// returns. See include/linux/exportfs.h, FILEID_KERNFS.
const fileIDKernfs = 0xfe

// cgroupFS turns cgroup v2 ids into paths on one cgroup2 mount.
type cgroupFS struct {
	root    string // the mount point, e.g. /sys/fs/cgroup/unified
	procDir string // /proc
	mountFD int    // the mount point, for open_by_handle_at; -1 once closed
}

func openCgroupFS(root, procDir string) (*cgroupFS, error) {
	// Not O_PATH: open_by_handle_at refuses an O_PATH mount fd with EBADF.
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup2 mount %s: %w", root, err)
	}
	return &cgroupFS{root: root, procDir: procDir, mountFD: fd}, nil
}

func (c *cgroupFS) close() error {
	if c.mountFD < 0 {
		return nil
	}
	err := unix.Close(c.mountFD)
	c.mountFD = -1
	return err
}

// path returns the cgroup's path relative to the cgroup2 root ("/" for the
// root cgroup). It tries, cheapest and surest first: the kernel's file
// handle for the id (one syscall, needs CAP_DAC_READ_SEARCH); the pid's
// /proc/<pid>/cgroup, checked against the id since the process may have
// moved or gone; a walk of the hierarchy.
func (c *cgroupFS) path(id uint64, pid uint32) (string, error) {
	p, err := c.pathByHandle(id)
	if err == nil || errors.Is(err, errNoCgroup) {
		return p, err
	}
	if pid != 0 {
		if p, ok := c.pathFromProc(id, pid); ok {
			return p, nil
		}
	}
	return c.pathByWalk(id)
}

func (c *cgroupFS) pathByHandle(id uint64) (string, error) {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], id)
	fd, err := unix.OpenByHandleAt(c.mountFD, unix.NewFileHandle(fileIDKernfs, b[:]), unix.O_PATH|unix.O_CLOEXEC)
	if errors.Is(err, unix.ESTALE) || errors.Is(err, unix.ENOENT) {
		return "", errNoCgroup
	}
	if err != nil {
		return "", fmt.Errorf("open_by_handle_at cgroup %d: %w", id, err)
	}
	defer unix.Close(fd)
	abs, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", fmt.Errorf("cgroup %d: %w", id, err)
	}
	rel, ok := c.relative(abs)
	if !ok {
		return "", fmt.Errorf("cgroup %d resolved to %s, outside %s", id, abs, c.root)
	}
	return rel, nil
}

func (c *cgroupFS) relative(abs string) (string, bool) {
	if abs == c.root {
		return "/", true
	}
	rest, ok := strings.CutPrefix(abs, c.root+"/")
	if !ok {
		return "", false
	}
	return "/" + rest, true
}

// pathFromProc reads the v2 ("0::") line of /proc/<pid>/cgroup.
func (c *cgroupFS) pathFromProc(id uint64, pid uint32) (string, bool) {
	data, err := os.ReadFile(filepath.Join(c.procDir, strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		return "", false
	}
	p, ok := unifiedLine(data)
	if !ok || c.inode(p) != id {
		return "", false
	}
	return p, true
}

// unifiedLine finds the cgroup v2 path in the text of /proc/<pid>/cgroup.
func unifiedLine(data []byte) (string, bool) {
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		if p, ok := strings.CutPrefix(s.Text(), "0::"); ok {
			// The kernel appends " (deleted)" when the cgroup is gone.
			if strings.HasSuffix(p, " (deleted)") || !strings.HasPrefix(p, "/") {
				return "", false
			}
			return p, true
		}
	}
	return "", false
}

func (c *cgroupFS) inode(rel string) uint64 {
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(c.root, rel), &st); err != nil {
		return 0
	}
	return st.Ino
}

// pathByWalk is the last resort when file handles are refused (no
// CAP_DAC_READ_SEARCH) and the process is gone: a walk of every cgroup
// directory, a few ms on a busy node.
func (c *cgroupFS) pathByWalk(id uint64) (string, error) {
	found := ""
	err := filepath.WalkDir(c.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// A cgroup removed during the walk is no reason to stop.
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Ino == id {
			found = p
			return fs.SkipAll
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("walk %s: %w", c.root, err)
	}
	if found == "" {
		return "", errNoCgroup
	}
	rel, _ := c.relative(found)
	return rel, nil
}

// alive reports whether a cgroup with the id still exists.
func (c *cgroupFS) alive(id uint64, rel string) bool {
	_, err := c.pathByHandle(id)
	if err == nil {
		return true
	}
	if errors.Is(err, errNoCgroup) {
		return false
	}
	return c.inode(rel) == id
}

// FindCgroup2Mount returns the mount point of the cgroup2 file system from
// a mountinfo file (normally /proc/self/mountinfo): /sys/fs/cgroup on a
// pure-v2 host, /sys/fs/cgroup/unified on a hybrid one.
func FindCgroup2Mount(mountinfo string) (string, error) {
	data, err := os.ReadFile(mountinfo)
	if err != nil {
		return "", fmt.Errorf("find cgroup2 mount: %w", err)
	}
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		// 36 25 0:31 / /sys/fs/cgroup/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw
		pre, post, ok := strings.Cut(s.Text(), " - ")
		if !ok {
			continue
		}
		fields, postFields := strings.Fields(pre), strings.Fields(post)
		if len(fields) >= 5 && len(postFields) >= 1 && postFields[0] == "cgroup2" && fields[3] == "/" {
			return procfs.Unescape(fields[4]), nil
		}
	}
	return "", fmt.Errorf("find cgroup2 mount: none in %s", mountinfo)
}
