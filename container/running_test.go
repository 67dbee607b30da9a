package container

import (
	"slices"
	"testing"

	"github.com/mamori-dev/mamori/internal/podmantest"
)

// TestRunningFindsContainersWithoutEvents: a container that was running
// before anyone looked is found from the cgroup tree, with its own cgroup
// and its processes, including one started later by podman exec.
func TestRunningFindsContainersWithoutEvents(t *testing.T) {
	podmantest.Require(t)
	r := newResolver(t, Config{})
	c := podmantest.Run(t, podmantest.Label("app", "found"))
	info := podmantest.Inspect(t, c)
	podmantest.Exec(t, c, "sh", "-c", "sleep 30 >/dev/null 2>&1 &")

	all, err := r.Running()
	if err != nil {
		t.Fatal(err)
	}
	var got *Running
	for i := range all {
		if all[i].Container.ID == info.ID {
			got = &all[i]
		}
	}
	if got == nil {
		t.Fatalf("container %s not among the %d found", info.ID[:12], len(all))
	}
	if got.Container.Name != info.Name || got.Container.Labels["app"] != "found" {
		t.Errorf("described as %+v", got.Container)
	}
	if want := cgroupOf(t, r, info.Pid); got.CgroupID != want {
		t.Errorf("cgroup id %d, want %d (its init's)", got.CgroupID, want)
	}
	if !slices.Contains(got.PIDs, uint32(info.Pid)) || len(got.PIDs) < 2 {
		t.Errorf("pids %v: want its init %d and the exec'd sleep", got.PIDs, info.Pid)
	}
	procs, err := r.Procs(got.CgroupID)
	if err != nil || !slices.Equal(procs, got.PIDs) {
		t.Errorf("Procs = %v, %v; want %v", procs, err, got.PIDs)
	}
	for _, run := range all {
		if run.Container.IsHost() || run.Container.ID == UnknownID {
			t.Errorf("a host cgroup listed as a container: %+v", run)
		}
	}

	podmantest.Remove(t, c)
	if _, err := r.Procs(got.CgroupID); err != ErrNoCgroup {
		t.Errorf("Procs of a removed container: %v, want ErrNoCgroup", err)
	}
}
