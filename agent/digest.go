package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"

	"github.com/mamori-dev/mamori/event"
)

// maxDigestBytes bounds the programs the agent hashes from the event path.
const maxDigestBytes = 256 << 20

// exeDigests hashes the programs that exec events ran, for an Executable
// Blocklist of digests in audit mode, once per version of each file (its
// device, inode and change time).
type exeDigests struct {
	mu sync.Mutex
	m  map[exeKey]string
}

type exeKey struct {
	dev   uint32
	ino   uint64
	ctime int64
}

// sum returns the SHA-256 of the program p runs, read through
// /proc/PID/exe: the file itself, even where the container's path to it
// is not visible from the host. It fails when the process is gone or has
// run another program since.
func (x *exeDigests) sum(p *event.Process) (string, error) {
	k := exeKey{p.ExeDevice, p.ExeInode, p.ExeCtime.UnixNano()}
	x.mu.Lock()
	s, ok := x.m[k]
	x.mu.Unlock()
	if ok {
		return s, nil
	}
	f, err := os.Open("/proc/" + strconv.FormatUint(uint64(p.PID), 10) + "/exe")
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || p.ExeInode != 0 && st.Ino != p.ExeInode {
		return "", fmt.Errorf("pid %d runs another program than its exec event's", p.PID)
	}
	if fi.Size() > maxDigestBytes {
		return "", fmt.Errorf("%s is %d bytes, more than the %d the agent hashes", p.Exe, fi.Size(), maxDigestBytes)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	s = hex.EncodeToString(h.Sum(nil))
	x.mu.Lock()
	if x.m == nil || len(x.m) >= 4096 {
		x.m = map[exeKey]string{}
	}
	x.m[k] = s
	x.mu.Unlock()
	return s, nil
}
