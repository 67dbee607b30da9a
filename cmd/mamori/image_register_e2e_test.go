package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/podmantest"
)

const registeredOnlyPolicy = `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata:
  name: registered-only
spec:
  mode: enforce
  scope:
    container:
      labels:
        app: registered-only
  controls:
    blockUnregisteredImages: {}
    blockNonCompliantImages: {}
`

// nonRootImages is an assurance policy the test image breaks: it has no
// USER, so it runs as root.
const nonRootImages = `apiVersion: mamori.dev/v1
kind: ImageAssurancePolicy
metadata:
  name: non-root-images
spec:
  scope: {image: {}}
  rules:
    requireNonRoot: true
`

// TestImageRegisterOCIHook: under a policy enforcing blockUnregisteredImages
// and blockNonCompliantImages, the agent (started before the image store
// exists) refuses a podman container of an unregistered image at creation;
// once `mamori image register` records the image, a container of it
// starts; re-registered under an assurance policy it breaks, the next
// container is refused with the verdict's reason, and both refusals raise
// blocked alerts.
func TestImageRegisterOCIHook(t *testing.T) {
	podmantest.Require(t)
	dir := t.TempDir()
	polDir := filepath.Join(dir, "policies")
	os.Mkdir(polDir, 0o755)
	os.WriteFile(filepath.Join(polDir, "registered.yaml"), []byte(registeredOnlyPolicy), 0o644)
	assurance := filepath.Join(dir, "non-root.yaml")
	os.WriteFile(assurance, []byte(nonRootImages), 0o644)
	db := filepath.Join(dir, "store", "images.db")
	hooks, socket := filepath.Join(dir, "hooks"), filepath.Join(dir, "hook.sock")
	if out, err := exec.Command(mamoriBin, "oci-hook", "install", "--allow-temporary-binary", "--dir", hooks, "--hook-socket", socket, "--timeout", "3s").CombinedOutput(); err != nil {
		t.Fatalf("oci-hook install: %v\n%s", err, out)
	}
	a := startAlertingAgent(t, "--rules", "none", "--policy", polDir, "--hook-socket", socket, "--image-db", db)

	n := 0
	create := func() (string, string, error) {
		n++
		name := strings.ToLower(t.Name()) + "-" + string(rune('a'+n))
		out, err := exec.Command("podman", "--hooks-dir", hooks, "run", "--rm", "--name", name, "--network", "none",
			"--label", "app=registered-only", podmantest.Image, "true").CombinedOutput()
		t.Cleanup(func() { exec.Command("podman", "rm", "-f", name).Run() })
		return name, string(out), err
	}
	register := func(args ...string) (string, int) {
		cmd := exec.Command(mamoriBin, append([]string{"image", "register", "--image-db", db}, args...)...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("mamori image register: %v", err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}

	unregistered, out, err := create()
	if err == nil {
		t.Errorf("a container of an unregistered image started:\n%s", out)
	} else if !strings.Contains(out, "refused by policy") || !strings.Contains(out, "which is not registered") {
		t.Errorf("refused without saying the image is unregistered:\n%s", out)
	}

	out, code := register("podman:" + podmantest.Image)
	if code != 0 || !strings.Contains(out, "VERDICT compliant with builtin-image-assurance") {
		t.Fatalf("register: exit %d\n%s", code, out)
	}
	if _, out, err := create(); err != nil {
		t.Errorf("a container of a registered, compliant image was refused: %v\n%s", err, out)
	}

	out, code = register("--policy", assurance, "podman:"+podmantest.Image)
	if code != exitNonCompliant || !strings.Contains(out, "VERDICT NOT compliant with non-root-images") {
		t.Fatalf("re-register under %s: exit %d, want %d\n%s", assurance, code, exitNonCompliant, out)
	}
	nonCompliant, out, err := create()
	if err == nil {
		t.Errorf("a container of a non-compliant image started:\n%s", out)
	} else if !strings.Contains(out, "which is not compliant: no USER: the image runs as root (policy non-root-images, requireNonRoot)") {
		t.Errorf("refused without the verdict's reason:\n%s", out)
	}

	list, err := exec.Command(mamoriBin, "image", "list", "--image-db", db).CombinedOutput()
	if err != nil || !strings.Contains(string(list), podmantest.Image) || !strings.Contains(string(list), "NOT compliant (1 reason)") {
		t.Errorf("image list: %v\n%s", err, list)
	}

	alerts := a.stop(t)
	for name, control := range map[string]string{unregistered: "blockUnregisteredImages", nonCompliant: "blockNonCompliantImages"} {
		var found *event.Alert
		for i := range alerts {
			if al := &alerts[i]; al.Container != nil && al.Container.Name == name && al.Control == control {
				found = al
			}
		}
		if found == nil || found.Action != event.Blocked || found.Policy != "registered-only" {
			t.Errorf("%s alert for %s: %+v", control, name, found)
		}
	}
}
