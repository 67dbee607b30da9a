package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/podmantest"
)

const creationPolicies = `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata:
  name: locked-down
spec:
  mode: enforce
  scope:
    container:
      labels:
        app: locked
  controls:
    limitContainerPrivileges:
      block: [privileged, hostNetwork, addedCapabilities]
    volumesBlocklist:
      paths: ["/etc", "/etc/**", "/run/podman/podman.sock"]
---
apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata:
  name: read-only-audit
spec:
  mode: audit
  scope:
    container:
      labels:
        app: audited
  controls:
    readOnlyRootFilesystem: {}
`

// TestOCIHookCreationControls installs mamori's OCI hook into a hooks
// directory of the test's own, runs the agent, and creates real podman
// containers: those an enforcing policy refuses never start, and say why;
// an auditing policy lets its container start with an alert; a container
// outside every scope starts; with the agent gone, the hook fails open, or
// closed when installed with --fail-closed.
func TestOCIHookCreationControls(t *testing.T) {
	podmantest.Require(t)
	image := podmantest.Image
	dir := t.TempDir()
	polDir := filepath.Join(dir, "policies")
	os.Mkdir(polDir, 0o755)
	os.WriteFile(filepath.Join(polDir, "creation.yaml"), []byte(creationPolicies), 0o644)
	hooks, closedHooks := filepath.Join(dir, "hooks"), filepath.Join(dir, "hooks-closed")
	socket := filepath.Join(dir, "hook.sock")
	for _, args := range [][]string{
		{"oci-hook", "install", "--allow-temporary-binary", "--dir", hooks, "--hook-socket", socket, "--timeout", "3s"},
		{"oci-hook", "install", "--allow-temporary-binary", "--dir", closedHooks, "--hook-socket", socket, "--timeout", "3s", "--fail-closed"},
	} {
		if out, err := exec.Command(mamoriBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	a := startAlertingAgent(t, "--rules", "none", "--policy", polDir, "--hook-socket", socket)

	n := 0
	create := func(hooksDir, label string, args ...string) (string, string, error) {
		n++
		name := strings.ToLower(t.Name()) + "-" + string(rune('a'+n))
		argv := append([]string{"--hooks-dir", hooksDir, "run", "--rm", "--name", name, "--network", "none", "--label", "app=" + label}, args...)
		argv = append(argv, image, "true")
		out, err := exec.Command("podman", argv...).CombinedOutput()
		t.Cleanup(func() { exec.Command("podman", "rm", "-f", name).Run() })
		return name, string(out), err
	}
	refused := []struct {
		args    []string
		control string
		why     string
	}{
		{[]string{"--privileged"}, "limitContainerPrivileges", "privileged"},
		{[]string{"--cap-add", "SYS_PTRACE"}, "limitContainerPrivileges", "SYS_PTRACE"},
		{[]string{"-v", "/etc:/host-etc:ro"}, "volumesBlocklist", "/etc"},
	}
	names := map[string]string{}
	for _, r := range refused {
		name, out, err := create(hooks, "locked", r.args...)
		if err == nil {
			t.Errorf("podman run %v started under an enforcing policy:\n%s", r.args, out)
			continue
		}
		if !strings.Contains(out, "refused by policy") || !strings.Contains(out, r.why) {
			t.Errorf("podman run %v failed without saying why (want %q):\n%s", r.args, r.why, out)
		}
		names[name] = r.control
	}
	if _, out, err := create(hooks, "locked"); err != nil {
		t.Errorf("a container that breaks no enforced control was refused: %v\n%s", err, out)
	}
	audited, out, err := create(hooks, "audited")
	if err != nil {
		t.Errorf("an audited container was refused: %v\n%s", err, out)
	}
	if _, out, err := create(hooks, "other", "--privileged"); err != nil {
		t.Errorf("a container outside every policy's scope was refused: %v\n%s", err, out)
	}
	waitStatus(t, a.addr, func(s map[string]any) bool {
		n, _ := s["creations_judged"].(float64)
		return n == float64(len(refused)+3)
	})

	alerts := a.stop(t)
	got := map[string]*event.Alert{}
	for i := range alerts {
		al := &alerts[i]
		if al.Container == nil || al.Source != "runtime" {
			continue
		}
		got[al.Container.Name+"/"+al.Control] = al
	}
	for name, control := range names {
		al := got[name+"/"+control]
		if al == nil {
			t.Errorf("no %s alert for refused container %s; have %v", control, name, keys(got))
			continue
		}
		if al.Action != event.Blocked || al.Policy != "locked-down" {
			t.Errorf("alert for %s: action %q policy %q: %s", name, al.Action, al.Policy, al.Output)
		}
	}
	if al := got[audited+"/readOnlyRootFilesystem"]; al == nil || al.Action != event.Audited || al.Policy != "read-only-audit" {
		t.Errorf("audited container's alert: %+v (have %v)", al, keys(got))
	}

	// The agent is gone: the default hook lets containers start and says
	// so; the fail-closed one refuses them.
	if _, out, err := create(hooks, "locked", "--privileged"); err != nil || !strings.Contains(out, "not judged") {
		t.Logf("podman output: %s", out)
		if err != nil {
			t.Errorf("fail-open hook refused a container with the agent down: %v", err)
		}
	}
	if _, out, err := create(closedHooks, "other"); err == nil {
		t.Errorf("fail-closed hook let a container start with the agent down:\n%s", out)
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

const earlyDriftPolicy = `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata:
  name: early
spec:
  mode: enforce
  scope:
    container:
      labels:
        app: early
  controls:
    driftPrevention: {}
`

// TestOCIHookProtectsBeforeEntrypoint: with the hook installed, Drift
// Prevention is in place before the entrypoint runs, so an entrypoint that
// drops and runs a program as its very first action is refused every time,
// not only when the agent wins a race against it.
func TestOCIHookProtectsBeforeEntrypoint(t *testing.T) {
	podmantest.Require(t)
	dir := t.TempDir()
	polDir := filepath.Join(dir, "policies")
	os.Mkdir(polDir, 0o755)
	os.WriteFile(filepath.Join(polDir, "early.yaml"), []byte(earlyDriftPolicy), 0o644)
	hooks, socket := filepath.Join(dir, "hooks"), filepath.Join(dir, "hook.sock")
	if out, err := exec.Command(mamoriBin, "oci-hook", "install", "--allow-temporary-binary", "--dir", hooks, "--hook-socket", socket).CombinedOutput(); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	a := startAlertingAgent(t, "--rules", "none", "--policy", polDir, "--hook-socket", socket)
	for i := range 3 {
		name := fmt.Sprintf("%s-%d", strings.ToLower(t.Name()), i)
		t.Cleanup(func() { exec.Command("podman", "rm", "-f", name).Run() })
		out, err := exec.Command("podman", "--hooks-dir", hooks, "run", "--rm", "--name", name, "--network", "none",
			"--label", "app=early", podmantest.Image,
			"sh", "-c", "cp /bin/busybox /tmp/touch && /tmp/touch /tmp/ran; test -e /tmp/ran && echo RAN || echo REFUSED").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "REFUSED") {
			t.Errorf("run %d: the entrypoint's dropped program was not refused (%v):\n%s", i, err, out)
		}
	}
	alerts := a.stop(t)
	blocked := 0
	for _, al := range alerts {
		if al.Control == "driftPrevention" && al.Action == event.Blocked {
			blocked++
		}
	}
	if blocked < 3 {
		t.Errorf("%d blocked drift alerts, want 3; agent log:\n%s", blocked, a.stderr)
	}
}

// TestOCIHookImageByContent: on a node the image store is asked by the
// content the runtime resolved a name to, not by the name: a registered
// name moved to other content is an unregistered image.
func TestOCIHookImageByContent(t *testing.T) {
	podmantest.Require(t)
	dir := t.TempDir()
	polDir := filepath.Join(dir, "policies")
	os.Mkdir(polDir, 0o755)
	os.WriteFile(filepath.Join(polDir, "registered.yaml"), []byte(registeredOnlyPolicy), 0o644)
	db := filepath.Join(dir, "images.db")
	hooks, socket := filepath.Join(dir, "hooks"), filepath.Join(dir, "hook.sock")
	if out, err := exec.Command(mamoriBin, "oci-hook", "install", "--allow-temporary-binary", "--dir", hooks, "--hook-socket", socket).CombinedOutput(); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	name := "localhost/" + strings.ToLower(t.Name()) + ":v1"
	podman := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("podman", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("podman %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	podman("tag", podmantest.Image, name)
	t.Cleanup(func() { exec.Command("podman", "rmi", "-f", name).Run() })
	if out, err := exec.Command(mamoriBin, "image", "register", "--image-db", db, "podman:"+name).CombinedOutput(); err != nil {
		t.Fatalf("register: %v\n%s", err, out)
	}
	a := startAlertingAgent(t, "--rules", "none", "--policy", polDir, "--hook-socket", socket, "--image-db", db)
	run := func() (string, error) {
		out, err := exec.Command("podman", "--hooks-dir", hooks, "run", "--rm", "--network", "none",
			"--label", "app=registered-only", name, "true").CombinedOutput()
		return string(out), err
	}
	if out, err := run(); err != nil {
		t.Fatalf("a container of the registered image was refused: %v\n%s", err, out)
	}
	// Other content under the same name: a commit of a changed container.
	ctr := podman("run", "-d", "--network", "none", podmantest.Image, "sh", "-c", "touch /changed; sleep 60")
	t.Cleanup(func() { exec.Command("podman", "rm", "-f", ctr).Run() })
	other := podman("commit", "-q", ctr)
	t.Cleanup(func() { exec.Command("podman", "rmi", "-f", other).Run() })
	podman("tag", other, name)
	out, err := run()
	if err == nil {
		t.Errorf("a registered name moved to other content started:\n%s", out)
	} else if !strings.Contains(out, "which is not registered") || !strings.Contains(out, "content sha256:") {
		t.Errorf("refused without saying the content is not registered:\n%s", out)
	}
	a.stop(t)
}

// TestDriftAlertsUseTheBaseline: with the image registered, a drift alert
// says whether the image ships a program at the drifted path: a program
// of the image copied up (chmod) differs from one it never had.
func TestDriftAlertsUseTheBaseline(t *testing.T) {
	podmantest.Require(t)
	dir := t.TempDir()
	polDir := filepath.Join(dir, "policies")
	os.Mkdir(polDir, 0o755)
	os.WriteFile(filepath.Join(polDir, "early.yaml"), []byte(earlyDriftPolicy), 0o644)
	db := filepath.Join(dir, "images.db")
	if out, err := exec.Command(mamoriBin, "image", "register", "--image-db", db, "podman:"+podmantest.Image).CombinedOutput(); err != nil {
		t.Fatalf("register: %v\n%s", err, out)
	}
	a := startAlertingAgent(t, "--rules", "none", "--policy", polDir, "--image-db", db)
	c := podmantest.Run(t, podmantest.Label("app", "early"), podmantest.Args("--network", "none"))
	podmantest.Exec(t, c, "true") // the container's first exec protects it
	time.Sleep(300 * time.Millisecond)
	exec.Command("podman", "exec", c.ID, "sh", "-c", "cp /bin/busybox /tmp/touch; /tmp/touch /tmp/x").Run()
	exec.Command("podman", "exec", c.ID, "sh", "-c", "chmod 0755 /bin/busybox").Run()
	exec.Command("podman", "exec", c.ID, "/bin/touch", "/tmp/y").Run()
	var dropped, changed string
	for _, al := range a.stop(t) {
		if al.Control != "driftPrevention" || al.Container == nil || al.Container.Name != c.Name {
			continue
		}
		switch al.Process.Exe {
		case "/tmp/touch":
			dropped = al.Output
		case "/bin/busybox":
			changed = al.Output
		}
	}
	if !strings.Contains(dropped, "the image ships no program at this path") {
		t.Errorf("alert for a dropped program: %q", dropped)
	}
	if !strings.Contains(changed, "the image ships a program at this path (sha256 ") {
		t.Errorf("alert for a copied-up image program: %q", changed)
	}
}
