package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/internal/podmantest"
)

const hostNamespacesPolicy = `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata:
  name: no-host-namespaces
spec:
  mode: enforce
  scope:
    container:
      labels:
        app: nsmatrix
  controls:
    limitContainerPrivileges:
      block: [hostNetwork, hostPID, hostIPC]
`

// TestOCIHookNamespaceMatrix: with a policy that refuses the host's
// network, PID and IPC namespaces, the OCI hook refuses exactly the
// containers that share them. Podman's default bridge network and a pod's
// shared namespaces are joined by path, and are not the host's: those
// containers start.
func TestOCIHookNamespaceMatrix(t *testing.T) {
	podmantest.Require(t)
	dir := t.TempDir()
	polDir := filepath.Join(dir, "policies")
	os.Mkdir(polDir, 0o755)
	os.WriteFile(filepath.Join(polDir, "ns.yaml"), []byte(hostNamespacesPolicy), 0o644)
	hooks := filepath.Join(dir, "hooks")
	socket := filepath.Join(dir, "hook.sock")
	if out, err := exec.Command(mamoriBin, "oci-hook", "install", "--allow-temporary-binary", "--dir", hooks, "--hook-socket", socket, "--timeout", "5s").CombinedOutput(); err != nil {
		t.Fatalf("oci-hook install: %v\n%s", err, out)
	}
	a := startAlertingAgent(t, "--rules", "none", "--policy", polDir, "--hook-socket", socket)

	pod := strings.ToLower(t.Name()) + "-pod"
	exec.Command("podman", "pod", "rm", "-f", pod).Run()
	if out, err := exec.Command("podman", "pod", "create", "--name", pod).CombinedOutput(); err != nil {
		t.Fatalf("podman pod create: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run() })

	for i, c := range []struct {
		name    string
		args    []string
		refused string // the namespace named in the refusal, "" when it must start
	}{
		{"default bridge network", nil, ""},
		{"no network", []string{"--network", "none"}, ""},
		{"in a pod", []string{"--pod", pod}, ""},
		{"host network", []string{"--network", "host"}, "hostNetwork"},
		{"host PID", []string{"--network", "none", "--pid", "host"}, "hostPID"},
		{"host IPC", []string{"--network", "none", "--ipc", "host"}, "hostIPC"},
	} {
		name := strings.ToLower(t.Name()) + "-" + string(rune('a'+i))
		t.Cleanup(func() { exec.Command("podman", "rm", "-f", "-t", "0", name).Run() })
		argv := append([]string{"--hooks-dir", hooks, "run", "--rm", "--name", name, "--label", "app=nsmatrix"}, c.args...)
		argv = append(argv, podmantest.Image, "true")
		out, err := exec.Command("podman", argv...).CombinedOutput()
		switch {
		case c.refused == "" && err != nil:
			t.Errorf("%s: refused, want started: %v\n%s", c.name, err, out)
		case c.refused != "" && err == nil:
			t.Errorf("%s: started, want refused for %s:\n%s", c.name, c.refused, out)
		case c.refused != "" && !strings.Contains(string(out), c.refused):
			t.Errorf("%s: refused without naming %s:\n%s", c.name, c.refused, out)
		}
	}
	for _, al := range a.stop(t) {
		if al.Source == "runtime" && al.Container != nil && !strings.Contains(al.Output, "host") {
			t.Errorf("unexpected creation alert: %s", al.Output)
		}
	}
}
