package probe

import (
	"os"
	"testing"
)

// TestRunOnThisKernel checks the probe against what ../shared/ENVIRONMENT.md
// measured on this machine kind: a wrong answer here means a control would
// claim to block when it cannot, or give up blocking when it could.
func TestRunOnThisKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("probing BPF needs root")
	}
	rep := Run()
	for _, r := range rep.Results {
		t.Logf("%-20s %-5v %s", r.Mechanism, r.Available, r.Detail)
	}
	for _, m := range []Mechanism{BTF, RingBuffer, TPBTF, SendSignal, CgroupSockAddr, CgroupBind, FanotifyExecPerm} {
		if !rep.Has(m) {
			t.Errorf("%s: not available, but every kernel mamori's sensor runs on has it", m)
		}
	}
	if len(rep.Results) != len(Order) {
		t.Errorf("%d results for %d mechanisms", len(rep.Results), len(Order))
	}
	for _, r := range rep.Results {
		if !r.Available && r.Detail == "" {
			t.Errorf("%s: unavailable without a reason", r.Mechanism)
		}
	}
	caps := rep.Capabilities()
	if len(caps) < 4 {
		t.Fatalf("capabilities: %+v", caps)
	}
	if caps[0].Degraded {
		t.Errorf("runtime events degraded on a kernel with tp_btf: %+v", caps[0])
	}
	if caps[1].Mechanism == "" {
		t.Errorf("exec blocking has no mechanism: %+v", caps[1])
	}
}

func TestContainsWord(t *testing.T) {
	for _, tc := range []struct {
		s, w string
		want bool
	}{
		{"cpuset cpu io memory pids\n", "pids", true},
		{"cpuset cpu io memory\n", "pids", false},
		{"pidsx io", "pids", false},
		{"", "pids", false},
	} {
		if got := containsWord(tc.s, tc.w); got != tc.want {
			t.Errorf("containsWord(%q, %q) = %v", tc.s, tc.w, got)
		}
	}
}
