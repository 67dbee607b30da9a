package agent

import (
	"os/exec"
	"testing"

	"github.com/mamori-dev/mamori/event"
)

// TestEscapeOwnerGoesStale: a PID namespace's inode number is reused once
// the namespace is gone; an entry whose process no longer has it must not
// name a new container's process as an escaped one.
func TestEscapeOwnerGoesStale(t *testing.T) {
	e := newEscapes()
	self, err := nsInode("/proc/self/ns/pid")
	if err != nil {
		t.Skip(err)
	}
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(child.Process.Pid)
	c := &event.Container{ID: "c1", Name: "web"}
	e.track(c, "/libpod_parent/libpod-c1", pid)
	e.byNS[self] = "c1" // as if the host's namespace were the container's, for the test
	if _, ok := e.owner(self); !ok {
		t.Fatal("a live container's namespace is not found")
	}
	child.Process.Kill()
	child.Wait()
	if _, ok := e.owner(self); ok {
		t.Error("the namespace of a container whose process is gone still names it")
	}
	if _, ok := e.byNS[self]; ok {
		t.Error("the stale entry was kept")
	}
}
