package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/podmantest"
)

const execPolicy = `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata:
  name: tools-enforce
spec:
  mode: enforce
  scope:
    container:
      labels:
        app: tools
  controls:
    driftPrevention:
      allowExecFromVolumes: true
      allow:
        paths: ["/opt/tools/**"]
    executableBlocklist:
      names: [xmrig]
    limitNewPrivileges: {}
`

// TestPolicyExecChecksEnforced runs the agent with a policy that enforces
// Drift Prevention with a pattern allow list and programs on volumes, an
// executable block list and Limit New Privileges, against a real
// container: each refused program must not run, each allowed one must, and
// each refusal must raise a blocked alert of its own control.
func TestPolicyExecChecksEnforced(t *testing.T) {
	podmantest.Require(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tools.yaml"), []byte(execPolicy), 0o644)
	vol := t.TempDir()
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("host busybox: %v", err)
	}
	for _, name := range []string{"touch", "xmrig"} {
		if err := os.WriteFile(filepath.Join(vol, name), busybox, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a := startAlertingAgent(t, "--rules", "none", "--policy", dir)
	c := podmantest.Run(t, podmantest.Label("app", "tools"), podmantest.Args("--network", "none", "-v", vol+":/vol"))
	podmantest.Exec(t, c, "true") // the container's first exec protects it
	time.Sleep(300 * time.Millisecond)

	run := func(user string, argv ...string) (string, error) {
		args := []string{"exec"}
		if user != "" {
			args = append(args, "--user", user)
		}
		out, err := exec.Command("podman", append(append(args, c.ID), argv...)...).CombinedOutput()
		return string(out), err
	}
	exists := func(p string) bool {
		_, err := run("", "test", "-e", p)
		return err == nil
	}
	setup := "mkdir -p /opt/tools/su && cp /bin/busybox /opt/tools/touch && cp /bin/busybox /opt/tools/su/touch && chmod 4755 /opt/tools/su/touch && chmod 1777 /tmp"
	if out, err := run("", "sh", "-c", setup); err != nil {
		t.Fatalf("setup: %v\n%s", err, out)
	}
	// Allowed: a dropped program under an allowed pattern, twice (the
	// second time the kernel knows the path), and a program on a volume.
	for _, argv := range [][]string{{"/opt/tools/touch", "/tmp/tools-1"}, {"/opt/tools/touch", "/tmp/tools-2"}, {"/vol/touch", "/tmp/vol"}} {
		if out, err := run("", argv...); err != nil || !exists(argv[1]) {
			t.Errorf("%v was refused: %v %s", argv, err, out)
		}
	}
	// Refused: a dropped program elsewhere, a blocklisted one (on the
	// volume, so not drift), and a set-user-ID program run by a user.
	refused := []struct {
		user    string
		argv    []string
		control string
	}{
		{"", []string{"sh", "-c", "cp /bin/busybox /tmp/touch && /tmp/touch /tmp/drift"}, "driftPrevention"},
		// A link named touch to the blocklisted file: it would leave
		// the marker if it ran.
		{"", []string{"sh", "-c", "mkdir -p /tmp/t && ln -sf /vol/xmrig /tmp/t/touch && /tmp/t/touch /tmp/xmrig"}, "executableBlocklist"},
		{"1000:1000", []string{"/opt/tools/su/touch", "/tmp/su"}, "limitNewPrivileges"},
	}
	for _, r := range refused {
		marker := r.argv[len(r.argv)-1]
		if i := strings.LastIndex(marker, " "); i >= 0 {
			marker = marker[i+1:]
		}
		out, err := run(r.user, r.argv...)
		if err == nil || exists(marker) {
			t.Errorf("%v ran (%v): %s", r.argv, err, out)
		}
	}

	alerts := a.stop(t)
	got := map[string]*event.Alert{}
	for i := range alerts {
		al := &alerts[i]
		if al.Container == nil || al.Container.Name != c.Name {
			continue
		}
		if strings.HasPrefix(al.Process.Exe, "/opt/tools/touch") || al.Process.Exe == "/vol/touch" {
			t.Errorf("alert about an allowed program: %s", al.Output)
		}
		if al.Action == "blocked" {
			got[al.Control] = al
		}
	}
	for _, r := range refused {
		al := got[r.control]
		if al == nil {
			t.Errorf("no blocked %s alert; agent log:\n%s", r.control, a.stderr)
			continue
		}
		if al.Policy != "tools-enforce" || !strings.Contains(al.Output, "refused by fanotify") {
			t.Errorf("%s alert: %s (policy %q)", r.control, al.Output, al.Policy)
		}
	}
	if al := got["limitNewPrivileges"]; al != nil && !strings.Contains(al.Output, "set-user-ID to uid 0") {
		t.Errorf("limitNewPrivileges alert does not say what was gained: %s", al.Output)
	}
}
