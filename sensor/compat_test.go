package sensor

import (
	"bufio"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mamori-dev/mamori/event"
)

// TestIA32CallsNotMisread: a 32-bit system call (here int 0x80 from a
// 64-bit program) numbers its calls and passes its arguments the ia32
// way. pipe is 42 there, connect's number in the x86-64 table: the sensor
// must not report it as a connect, with either hook. (The per-call
// tracepoints never see 32-bit calls; tp_btf/sys_exit does, and read
// them as x86-64 calls.)
func TestIA32CallsNotMisread(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("clang"); err != nil {
		t.Skip("clang is not installed: the 32-bit call's helper cannot be built")
	}
	helper := filepath.Join(t.TempDir(), "ia32pipe")
	if out, err := exec.Command("clang", "-O2", "-no-pie", "-fno-pie", "-o", helper, "testdata/ia32pipe.c").CombinedOutput(); err != nil {
		t.Fatalf("build the helper: %v\n%s", err, out)
	}
	for _, every := range []bool{true, false} {
		t.Run(fmt.Sprintf("every_call_hook=%v", every), func(t *testing.T) {
			s, err := New(Config{Events: []event.Type{event.Connect}, EveryCallHook: every}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			var pid atomic.Int64
			events := watch(t, s, func(e *event.Event) bool { return e.Type == event.Connect && e.Process.PID == uint32(pid.Load()) })
			cmd := exec.Command(helper)
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			out := bufio.NewScanner(stdout)
			if !out.Scan() {
				t.Fatal("the helper printed no pid")
			}
			n, _ := strconv.Atoi(strings.TrimSpace(out.Text()))
			pid.Store(int64(n))
			fmt.Fprintln(stdin, "go")
			out.Scan()
			result := out.Text()
			if err := cmd.Wait(); err != nil {
				t.Skipf("the 32-bit pipe call failed (%s: %v): no ia32 emulation here?", result, err)
			}
			got := drain(events, func(e event.Event) string { return string(e.Type) + " " + e.Syscall })
			if len(got) > 0 {
				t.Errorf("a 32-bit pipe call was reported as %q", got)
			}
		})
	}
}
