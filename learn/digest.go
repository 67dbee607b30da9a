package learn

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// maxDigestBytes bounds the programs the learner hashes.
const maxDigestBytes = 256 << 20

// maxHeld bounds the programs held open, waiting to be hashed.
const maxHeld = 256

// digests hashes the programs containers run. At the exec event it only
// opens /proc/PID/exe, which holds the program even when the process
// exits (or the file is deleted) before it is read; the file is read at
// the next flush, off the event path. A process gone before its event is
// handled is hashed through another process of its container, by path.
type digests struct {
	mu   sync.Mutex
	done map[string]string   // container id + path → hex digest
	held map[string]*os.File // container id + path → the program, to be read
}

func newDigests() *digests {
	return &digests{done: map[string]string{}, held: map[string]*os.File{}}
}

// get returns the digest of the program at path in container id when it is
// known; otherwise it holds the program open through pid (ino and ctime,
// when known, name the version the exec event saw) and returns "". With
// ino 0 it hashes through pid's root now (Flush's fallback).
func (d *digests) get(id string, pid uint32, path string, ino uint64, ctime time.Time) string {
	k := id + "\x00" + path
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.done[k]; ok {
		return s
	}
	if ino != 0 {
		// On the event path: only hold the program open.
		if d.held[k] == nil && len(d.held) < maxHeld {
			if f, err := os.Open("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/exe"); err == nil {
				d.held[k] = f
			}
		}
		return ""
	}
	if f := d.held[k]; f != nil {
		delete(d.held, k)
		s := hashFile(f)
		f.Close()
		if s != "" {
			d.remember(k, s)
			return s
		}
	}
	if pid == 0 {
		return ""
	}
	f, err := openInRoot(pid, path)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := hashFile(f)
	if s != "" {
		d.remember(k, s)
	}
	return s
}

func (d *digests) remember(k, s string) {
	if len(d.done) >= 16384 {
		clear(d.done)
	}
	d.done[k] = s
}

// openInRoot opens path as process pid sees it: symbolic links resolved
// inside its root, never the host's (a container's link to /etc/shadow is
// its own /etc/shadow), and without blocking on a FIFO.
func openInRoot(pid uint32, path string) (*os.File, error) {
	root, err := unix.Open("/proc/"+strconv.FormatUint(uint64(pid), 10)+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(root)
	fd, err := unix.Openat2(root, path, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

func hashFile(f *os.File) string {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxDigestBytes {
		return ""
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}
