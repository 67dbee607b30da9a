package runtimehook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultHooksDir is where podman and CRI-O read hook files from, as
// packaged on Debian and Fedora. /etc/containers/oci/hooks.d is the
// administrator's override directory.
const DefaultHooksDir = "/usr/share/containers/oci/hooks.d"

// HookFileName is the name of mamori's hook file in a hooks directory.
const HookFileName = "50-mamori.json"

// HookConfig says how the runtime runs the hook.
type HookConfig struct {
	// Binary is the absolute path of the mamori binary.
	Binary string
	// Socket is the agent's hook socket.
	Socket string
	// FailClosed refuses containers when the agent cannot be asked.
	FailClosed bool
	// Timeout bounds the hook; the runtime kills it after that.
	Timeout time.Duration
}

// hookFile is the hooks.d schema 1.0.0 that podman and CRI-O read.
type hookFile struct {
	Version string   `json:"version"`
	Hook    hookCmd  `json:"hook"`
	When    hookWhen `json:"when"`
	Stages  []string `json:"stages"`
}

type hookCmd struct {
	Path    string   `json:"path"`
	Args    []string `json:"args"`
	Timeout int      `json:"timeout,omitempty"`
}

type hookWhen struct {
	Always bool `json:"always"`
}

// HookFile returns the hooks.d file that runs `mamori oci-hook run` at
// createRuntime for every container: after the runtime has set the
// container up and before its entrypoint runs.
func HookFile(c HookConfig) ([]byte, error) {
	if !filepath.IsAbs(c.Binary) {
		return nil, fmt.Errorf("hook binary %q is not an absolute path", c.Binary)
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	args := []string{"mamori", "oci-hook", "run", "--hook-socket", c.Socket, "--timeout", c.Timeout.String()}
	if c.FailClosed {
		args = append(args, "--fail-closed")
	}
	secs := int((c.Timeout + time.Second - 1) / time.Second)
	f := hookFile{
		Version: "1.0.0",
		Hook:    hookCmd{Path: c.Binary, Args: args, Timeout: secs + 1},
		When:    hookWhen{Always: true},
		Stages:  []string{"createRuntime"},
	}
	data, err := json.MarshalIndent(f, "", "  ")
	return append(data, '\n'), err
}

// Install writes the hook file into dir (created if needed), atomically.
func Install(dir string, c HookConfig) (string, error) {
	data, err := HookFile(c)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, HookFileName)
	tmp := p + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return p, nil
}

// OverrideHooksDir is the administrator's hooks directory, which podman
// and CRI-O read too and which wins over DefaultHooksDir.
const OverrideHooksDir = "/etc/containers/oci/hooks.d"

// Uninstall removes mamori's hook file from dir; it reports whether there
// was one.
func Uninstall(dir string) (string, bool, error) {
	p := filepath.Join(dir, HookFileName)
	err := os.Remove(p)
	switch {
	case err == nil:
		return p, true, nil
	case errors.Is(err, fs.ErrNotExist):
		return p, false, nil
	}
	return p, false, err
}

// Transient says why a binary at path may vanish, or "" when it should
// last: a runtime silently skips a hook whose binary is gone, so a hook
// pointing into a temporary directory or Go's build cache (go run) lets
// containers start unjudged once it is cleaned.
func Transient(path string) string {
	clean := filepath.Clean(path)
	under := func(dir string) bool {
		dir = filepath.Clean(dir)
		return dir != "." && dir != "/" && (clean == dir || strings.HasPrefix(clean, dir+string(filepath.Separator)))
	}
	for _, part := range strings.Split(clean, string(filepath.Separator)) {
		if strings.HasPrefix(part, "go-build") {
			return "it is in Go's build cache (go run or go test built it): the cache is cleaned"
		}
	}
	if c := os.Getenv("GOCACHE"); c != "" && under(c) {
		return "it is in Go's build cache (GOCACHE): the cache is cleaned"
	}
	if home, err := os.UserCacheDir(); err == nil && under(filepath.Join(home, "go-build")) {
		return "it is in Go's build cache: the cache is cleaned"
	}
	for _, d := range []string{os.TempDir(), "/tmp", "/var/tmp", "/dev/shm", "/run/user"} {
		if under(d) {
			return "it is in " + d + ", a temporary directory that is cleaned"
		}
	}
	return ""
}
