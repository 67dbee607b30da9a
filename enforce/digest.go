package enforce

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"golang.org/x/sys/unix"
)

// digestCacheSize bounds a container's digest cache; when full it starts
// over.
const digestCacheSize = 4096

// fileKey identifies one version of a file: a write changes its change
// time or size, and the file is hashed again.
type fileKey struct {
	ino       uint64
	devMajor  uint32
	devMinor  uint32
	ctimeSec  int64
	ctimeNsec uint32
	size      uint64
}

// digests caches the SHA-256 of the files a container executes, so that a
// program is read once, not at every exec. Only its fanotify handler's
// goroutine uses it.
type digests struct {
	m   map[fileKey]string
	buf []byte
}

// sum returns the hex SHA-256 of the file behind fd, whose statx is st.
func (c *digests) sum(fd int, st *unix.Statx_t) (string, error) {
	k := fileKey{st.Ino, st.Dev_major, st.Dev_minor, st.Ctime.Sec, st.Ctime.Nsec, st.Size}
	if s, ok := c.m[k]; ok {
		return s, nil
	}
	if c.m == nil || len(c.m) >= digestCacheSize {
		c.m = make(map[fileKey]string)
	}
	if c.buf == nil {
		c.buf = make([]byte, 256<<10)
	}
	h := sha256.New()
	var off int64
	for {
		n, err := unix.Pread(fd, c.buf, off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return "", err
		}
		if n == 0 {
			break
		}
		h.Write(c.buf[:n])
		off += int64(n)
	}
	s := hex.EncodeToString(h.Sum(nil))
	c.m[k] = s
	return s, nil
}
