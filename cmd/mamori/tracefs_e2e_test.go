package main

import (
	"strings"
	"testing"
)

// TestAgentMountsTracefsFirst: on a node where tracefs is not mounted (a
// fresh boot of this VM), the agent mounts it and captures the system
// calls its rules want through their per-call tracepoints. It used to
// mount it after its start-up probe had attached a tracepoint without
// it, and cilium/ebpf kept that first "neither debugfs nor tracefs are
// mounted": every per-call tracepoint then failed, and the sensor ran
// its program on every system call of the node. The agent runs in a
// mount namespace of its own, tracefs and debugfs unmounted there only.
func TestAgentMountsTracefsFirst(t *testing.T) {
	const unmount = `while umount -l /sys/kernel/tracing 2>/dev/null; do :; done
while umount -l /sys/kernel/debug 2>/dev/null; do :; done
if grep -Eq ' - (tracefs|debugfs) ' /proc/self/mountinfo; then echo "tracefs or debugfs still mounted" >&2; exit 3; fi
exec "$0" "$@"`
	a := launchCmd(t, []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", unmount, mamoriBin, "agent"}, "--alerts-output")
	log := a.stderr.String()
	if !strings.Contains(log, "mounted tracefs") {
		t.Errorf("the agent did not say it mounted tracefs:\n%s", log)
	}
	if !strings.Contains(log, `hook="tracepoint syscalls/sys_exit_*`) {
		t.Errorf("system calls not captured by their per-call tracepoints:\n%s", log)
	}
}
