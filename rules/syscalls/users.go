package syscalls

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// Users names user and group ids as the acting process sees them: from the
// host's /etc/passwd and /etc/group for host processes, and from the
// container's own files, read through /proc/<pid>/root, for a container's.
// Each container's files are read once, at the first event that needs a
// name, and kept until Forget.
type Users struct {
	mu     sync.Mutex
	root   string // "/" normally; tests may point elsewhere
	byCtr  map[string]*idNames
	failed map[string]time.Time // containers whose files could not be read, and when
}

// retryAfter is how long a container whose files could not be read goes
// without names before they are read again.
const retryAfter = 5 * time.Second

type idNames struct {
	users, groups map[uint32]string
}

// NewUsers returns a resolver reading files under procRoot ("/" on a node).
func NewUsers(procRoot string) *Users {
	return &Users{root: procRoot, byCtr: map[string]*idNames{}, failed: map[string]time.Time{}}
}

// Forget drops what was read for a container, e.g. when it stops.
func (u *Users) Forget(containerID string) {
	u.mu.Lock()
	delete(u.byCtr, containerID)
	delete(u.failed, containerID)
	u.mu.Unlock()
}

func (u *Users) names(e *event.Event) *idNames {
	id := event.HostID
	if !e.Container.IsHost() {
		id = e.Container.ID
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if n, ok := u.byCtr[id]; ok {
		return n
	}
	if at, ok := u.failed[id]; ok && time.Since(at) < retryAfter {
		return nil
	}
	var n *idNames
	if id == event.HostID {
		n = u.read(u.root)
	} else {
		// The event's process may be gone; its ancestors in the same
		// container see the same files.
		pids := []uint32{e.Process.PID}
		for _, a := range e.Process.Ancestors {
			pids = append(pids, a.PID)
		}
		for _, pid := range pids {
			if n = u.read(u.root + "proc/" + strconv.FormatUint(uint64(pid), 10) + "/root/"); n != nil {
				break
			}
		}
		if n == nil {
			u.failed[id] = time.Now()
			return nil
		}
	}
	if n == nil {
		n = &idNames{}
	}
	u.byCtr[id] = n
	return n
}

func (u *Users) read(root string) *idNames {
	users, err1 := readIDs(root + "etc/passwd")
	groups, err2 := readIDs(root + "etc/group")
	if err1 != nil && err2 != nil {
		return nil
	}
	return &idNames{users: users, groups: groups}
}

// readIDs reads name:x:id:... lines.
func readIDs(path string) (map[uint32]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[uint32]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := bytes.SplitN(sc.Bytes(), []byte(":"), 4)
		if len(parts) < 3 || len(parts[0]) == 0 || parts[0][0] == '#' {
			continue
		}
		id, err := strconv.ParseUint(string(parts[2]), 10, 32)
		if err != nil {
			continue
		}
		if _, dup := m[uint32(id)]; !dup {
			m[uint32(id)] = string(parts[0])
		}
	}
	return m, sc.Err()
}

// user returns the name of uid as e's process sees it.
func (u *Users) user(e *event.Event, uid uint32) (string, bool) {
	if u == nil {
		return "", false
	}
	n := u.names(e)
	if n == nil {
		return "", false
	}
	s, ok := n.users[uid]
	return s, ok
}

func (u *Users) group(e *event.Event, gid uint32) (string, bool) {
	if u == nil {
		return "", false
	}
	n := u.names(e)
	if n == nil {
		return "", false
	}
	s, ok := n.groups[gid]
	return s, ok
}
