package podmantest

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestRunExecInspect(t *testing.T) {
	Require(t)
	c := Run(t,
		Label("dev.mamori.purpose", "podmantest"),
		Env("GREETING", "hello"),
		Args("--network", "none"),
	)
	if len(c.ID) != 64 {
		t.Fatalf("container id %q is not 64 hex digits", c.ID)
	}
	if got := strings.TrimSpace(Exec(t, c, "sh", "-c", "echo $GREETING")); got != "hello" {
		t.Errorf("env GREETING in container = %q, want hello", got)
	}

	info := Inspect(t, c)
	if info.ID != c.ID || info.Name != c.Name {
		t.Errorf("inspect id/name = %s/%s, want %s/%s", info.ID, info.Name, c.ID, c.Name)
	}
	if !info.Running || info.Pid <= 0 {
		t.Fatalf("container not running: running=%v pid=%d", info.Running, info.Pid)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(info.Pid)); err != nil {
		t.Errorf("container pid %d: %v", info.Pid, err)
	}
	if info.Image != Image {
		t.Errorf("image = %q, want %q", info.Image, Image)
	}
	if len(info.ImageID) != 64 || !strings.HasPrefix(info.ImageDigest, "sha256:") {
		t.Errorf("image id %q / digest %q look wrong", info.ImageID, info.ImageDigest)
	}
	if info.Labels["dev.mamori.purpose"] != "podmantest" {
		t.Errorf("labels = %v, want dev.mamori.purpose=podmantest", info.Labels)
	}
	// The image's own label, set by build-test-image.sh, is inherited.
	if info.Labels["dev.mamori.test"] != "true" {
		t.Errorf("labels = %v, want the image label dev.mamori.test=true", info.Labels)
	}

	// A file written in the container lands in its upper dir.
	Exec(t, c, "sh", "-c", "echo drift > /tmp/dropped")
	if data, err := os.ReadFile(info.UpperDir + "/tmp/dropped"); err != nil || string(data) != "drift\n" {
		t.Errorf("upper dir %s/tmp/dropped = %q, %v", info.UpperDir, data, err)
	}
}

func TestTwoContainersInOneTest(t *testing.T) {
	Require(t)
	a, b := Run(t), Run(t, Name("mamori-test-explicit-name"))
	if a.Name == b.Name || a.ID == b.ID {
		t.Fatalf("containers share a name or id: %+v %+v", a, b)
	}
	if b.Name != "mamori-test-explicit-name" {
		t.Errorf("name = %q, want the explicit one", b.Name)
	}
}

func TestParseInspectRejectsOddOutput(t *testing.T) {
	for _, in := range []string{"", "{}", "[]", "[{},{}]", "not json"} {
		if _, err := parseInspect([]byte(in)); err == nil {
			t.Errorf("parseInspect(%q) succeeded, want an error", in)
		}
	}
}

func TestDefaultNameIsAValidContainerName(t *testing.T) {
	name := defaultName(t)
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.", r)) {
			t.Fatalf("name %q holds %q", name, r)
		}
	}
}
