// Package podmantest runs real podman containers for tests. Require makes
// sure podman works on the machine (it runs scripts/setup-podman.sh and
// scripts/build-test-image.sh once per test binary); Run, Exec and Inspect
// start, enter and describe containers that are removed when the test ends.
//
// It owns nothing but test containers: it must not be imported by non-test
// code.
package podmantest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Image is the local busybox image that scripts/build-test-image.sh builds.
const Image = "localhost/mamori-test-busybox:latest"

// StrictEnv names the environment variable that turns "podman is unusable"
// from a skip into a failure, so that CI cannot pass by skipping.
const StrictEnv = "MAMORI_REQUIRE_PODMAN"

// setup runs the scripts once per test binary: they take seconds and a test
// binary may hold many tests that need podman.
var setup = sync.OnceValue(func() error {
	dir, err := ScriptsDir()
	if err != nil {
		return err
	}
	for _, script := range []string{"setup-podman.sh", "build-test-image.sh"} {
		cmd := exec.Command(filepath.Join(dir, script))
		cmd.Env = append(os.Environ(), "MAMORI_SKIP_VERIFY=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", script, err, out)
		}
	}
	// The scripts can succeed while podman still cannot start a container,
	// e.g. on a kernel without overlayfs; only a real run tells.
	out, err := exec.Command("podman", "run", "--rm", Image, "true").CombinedOutput()
	if err != nil {
		return fmt.Errorf("podman run %s true: %w\n%s", Image, err, out)
	}
	return nil
})

// ScriptsDir returns the repository's scripts directory, found from this
// source file so that tests in any package can use it.
func ScriptsDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("podmantest: cannot locate own source file")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "scripts")
	if _, err := os.Stat(filepath.Join(dir, "setup-podman.sh")); err != nil {
		return "", fmt.Errorf("podmantest: scripts directory: %w", err)
	}
	return dir, nil
}

// Require skips t unless it runs as root with a working podman and the test
// image. With MAMORI_REQUIRE_PODMAN=1 in the environment it fails instead.
func Require(t testing.TB) {
	t.Helper()
	strict := os.Getenv(StrictEnv) == "1"
	if os.Geteuid() != 0 {
		if strict {
			t.Fatalf("podmantest: needs root for rootful podman (%s=1)", StrictEnv)
		}
		t.Skip("podmantest: needs root for rootful podman")
	}
	if err := setup(); err != nil {
		if strict {
			t.Fatalf("podmantest: podman is unusable: %v", err)
		}
		t.Skipf("podmantest: podman is unusable: %v", err)
	}
}

// Container is a container started by Run.
type Container struct {
	ID   string
	Name string
}

// Option changes how Run starts a container.
type Option func(*options)

type options struct {
	name    string
	labels  map[string]string
	env     []string
	args    []string
	image   string
	command []string
}

// Name sets the container name; by default it is derived from the test name.
func Name(name string) Option { return func(o *options) { o.name = name } }

// Label adds a container label.
func Label(key, value string) Option {
	return func(o *options) { o.labels[key] = value }
}

// Env adds an environment variable.
func Env(key, value string) Option {
	return func(o *options) { o.env = append(o.env, key+"="+value) }
}

// Args adds arguments for `podman run`, placed before the image.
func Args(args ...string) Option {
	return func(o *options) { o.args = append(o.args, args...) }
}

// Rootfs runs the container from a plain directory instead of Image
// (podman run --rootfs DIR): its root is no overlay.
func Rootfs(dir string) Option {
	return func(o *options) {
		o.args = append(o.args, "--rootfs")
		o.image = dir
	}
}

// FromImage runs another local image than Image.
func FromImage(ref string) Option { return func(o *options) { o.image = ref } }

// Command replaces the default command, `sleep 3600`.
func Command(argv ...string) Option {
	return func(o *options) { o.command = argv }
}

// Run starts a detached container from Image and removes it when the test
// ends. Call Require first.
func Run(t testing.TB, opts ...Option) *Container {
	t.Helper()
	o := options{
		name:    defaultName(t),
		labels:  map[string]string{},
		image:   Image,
		command: []string{"sleep", "3600"},
	}
	for _, opt := range opts {
		opt(&o)
	}
	args := []string{"run", "-d", "--name", o.name}
	for k, v := range o.labels {
		args = append(args, "--label", k+"="+v)
	}
	for _, e := range o.env {
		args = append(args, "--env", e)
	}
	args = append(args, o.args...)
	args = append(args, o.image)
	args = append(args, o.command...)

	// A container left behind by a crashed earlier run would make the name
	// clash; it belongs to this test, so remove it.
	_ = exec.Command("podman", "rm", "-f", "-t", "0", o.name).Run()
	t.Cleanup(func() {
		if out, err := exec.Command("podman", "rm", "-f", "-t", "0", o.name).CombinedOutput(); err != nil {
			t.Logf("podman rm %s: %v: %s", o.name, err, out)
		}
	})
	out, err := podman(args...)
	if err != nil {
		t.Fatalf("podman %s: %v", strings.Join(args, " "), err)
	}
	return &Container{ID: strings.TrimSpace(out), Name: o.name}
}

// Exec runs argv in the container and returns its standard output. It fails
// the test when the command fails.
func Exec(t testing.TB, c *Container, argv ...string) string {
	t.Helper()
	out, err := podman(append([]string{"exec", c.ID}, argv...)...)
	if err != nil {
		t.Fatalf("podman exec %s %s: %v", c.Name, strings.Join(argv, " "), err)
	}
	return out
}

// Remove removes the container now, before the test ends.
func Remove(t testing.TB, c *Container) {
	t.Helper()
	if out, err := podman("rm", "-f", "-t", "0", c.ID); err != nil {
		t.Fatalf("podman rm %s: %v: %s", c.Name, err, out)
	}
}

// Info is what `podman inspect` says about a container.
type Info struct {
	ID            string
	Name          string
	Pid           int
	Image         string // the name the container was created from
	ImageID       string
	ImageDigest   string
	Labels        map[string]string
	UpperDir      string
	OCIConfigPath string
	Running       bool
}

// Inspect runs `podman inspect` on the container.
func Inspect(t testing.TB, c *Container) Info {
	t.Helper()
	out, err := podman("inspect", c.ID)
	if err != nil {
		t.Fatalf("podman inspect %s: %v", c.Name, err)
	}
	info, err := parseInspect([]byte(out))
	if err != nil {
		t.Fatalf("podman inspect %s: %v", c.Name, err)
	}
	return info
}

func parseInspect(data []byte) (Info, error) {
	var raw []struct {
		ID          string `json:"Id"`
		Name        string
		Image       string
		ImageName   string
		ImageDigest string
		State       struct {
			Pid     int
			Running bool
		}
		Config struct {
			Labels map[string]string
		}
		GraphDriver struct {
			Data map[string]string
		}
		OCIConfigPath string
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Info{}, fmt.Errorf("decode inspect output: %w", err)
	}
	if len(raw) != 1 {
		return Info{}, fmt.Errorf("inspect output holds %d containers, want 1", len(raw))
	}
	r := raw[0]
	return Info{
		ID:            r.ID,
		Name:          r.Name,
		Pid:           r.State.Pid,
		Running:       r.State.Running,
		Image:         r.ImageName,
		ImageID:       r.Image,
		ImageDigest:   r.ImageDigest,
		Labels:        r.Config.Labels,
		UpperDir:      r.GraphDriver.Data["UpperDir"],
		OCIConfigPath: r.OCIConfigPath,
	}, nil
}

func podman(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("podman", args...)
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// runs numbers the containers of this test binary so that one test can
// start several without naming them.
var runs atomic.Int64

// defaultName makes a container name that says which test made it, so that
// a leaked container can be traced back.
func defaultName(t testing.TB) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mamori-test-%d-%d-", os.Getpid(), runs.Add(1))
	for _, r := range strings.ToLower(t.Name()) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}
