package runtimehook

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/mamori-dev/mamori/policy"
	"github.com/mamori-dev/mamori/workload"
)

// config is a podman-shaped config.json: the runtime's defaults, changed by
// edit.
func config(edit func(*specs.Spec)) *specs.Spec {
	c := &specs.Spec{
		Process: &specs.Process{
			User:         specs.User{UID: 0},
			Env:          []string{"PATH=/bin", "API_TOKEN=s3cret"},
			Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"}},
		},
		Root: &specs.Root{Path: "/merged"},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/etc/hosts", Type: "bind", Source: "/run/containers/storage/overlay-containers/x/userdata/hosts"},
		},
		Linux: &specs.Linux{
			Namespaces:  []specs.LinuxNamespace{{Type: "pid"}, {Type: "network"}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"}},
			Seccomp:     &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_ERRNO"},
			MaskedPaths: []string{"/proc/kcore"},
		},
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func TestSpecFromOCIConfig(t *testing.T) {
	st := State{ID: "abc", Bundle: "/b", Annotations: map[string]string{"io.container.manager": "libpod"}}
	plain := Spec(st, config(nil), Who{Name: "web", Image: "docker.io/library/nginx:1.27"}, nil)
	c := plain.Containers[0]
	if plain.HostNetwork || plain.HostPID || plain.HostIPC || plain.HostUTS || c.Privileged || len(c.AddedCapabilities) != 0 ||
		c.Seccomp != "RuntimeDefault" || len(plain.Volumes) != 0 || c.Name != "web" || c.Image != "docker.io/library/nginx:1.27" {
		t.Errorf("a default container: %+v %+v", plain, c)
	}
	if c.RunAsUser == nil || *c.RunAsUser != 0 || !slices.Equal(c.Env, []string{"PATH", "API_TOKEN"}) {
		t.Errorf("user %v env %v: want uid 0 and names only", c.RunAsUser, c.Env)
	}

	loose := Spec(st, config(func(s *specs.Spec) {
		s.Linux.Namespaces = []specs.LinuxNamespace{{Type: "mount"}, {Type: "network", Path: "/proc/1/ns/net"}}
		s.Linux.Seccomp = nil
		s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN", "CAP_NET_ADMIN")
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/host", Source: "/etc", Options: []string{"rbind", "ro"}})
		s.Annotations = map[string]string{annPodmanPrivileged: "TRUE"}
		s.Root.Readonly = true
		s.Process.User.UID = 1000
	}), Who{}, nil)
	c = loose.Containers[0]
	if !loose.HostNetwork || !loose.HostPID || !loose.HostIPC || !loose.HostUTS {
		t.Errorf("joined or missing namespaces are the host's: %+v", loose)
	}
	if !c.Privileged || !slices.Equal(c.AddedCapabilities, []string{"SYS_ADMIN", "NET_ADMIN"}) || c.Seccomp != "Unconfined" ||
		!c.ReadOnlyRootFilesystem || *c.RunAsUser != 1000 || c.Name != "abc" {
		t.Errorf("a loose container: %+v", c)
	}
	if len(loose.Volumes) != 1 || loose.Volumes[0].HostPath != "/etc" || loose.Volumes[0].Path != "mounts[2]" {
		t.Errorf("volumes %+v: want /etc only, the runtime's /etc/hosts left out", loose.Volumes)
	}

	// CRI annotations name the container, image and pod.
	cri := Spec(State{ID: "x", Bundle: "/b", Annotations: map[string]string{
		annCRIContainerName: "app", annCRIImageName: "reg.example/app:v1", annCRISandboxName: "app-7f9", annCRINamespace: "shop",
	}}, config(nil), Who{}, nil)
	if cri.Containers[0].Name != "app" || cri.Containers[0].Image != "reg.example/app:v1" || cri.Pod != "app-7f9" || cri.Namespace != "shop" {
		t.Errorf("CRI container: %+v", cri)
	}
}

// TestJoinedNamespaces: a namespace joined by path is the host's only when
// it is the host's own; one that cannot be read is taken for the host's.
func TestJoinedNamespaces(t *testing.T) {
	// ReadHostNamespaces reads PROC/1: let this process stand in for the host.
	own, err := os.Readlink("/proc/self")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink("/proc/"+own, filepath.Join(dir, "1")); err != nil {
		t.Fatal(err)
	}
	host, fallback, err := ReadHostNamespaces(dir)
	if err != nil || len(fallback) > 0 {
		t.Fatal(err, fallback)
	}
	ns := func(path string) []specs.LinuxNamespace {
		return []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace, Path: path}}
	}
	for _, c := range []struct {
		name string
		ns   []specs.LinuxNamespace
		want bool
	}{
		{"own namespace", []specs.LinuxNamespace{{Type: specs.NetworkNamespace}}, false},
		{"not listed", []specs.LinuxNamespace{{Type: specs.MountNamespace}}, true},
		{"joined: the host's", ns("/proc/self/ns/net"), true},
		{"joined: unreadable", ns(filepath.Join(dir, "missing")), true},
		{"joined: another", ns("/proc/self/ns/mnt"), false}, // a different namespace file than net's
	} {
		if got := host.shared(c.ns, specs.NetworkNamespace); got != c.want {
			t.Errorf("%s: shared = %v, want %v", c.name, got, c.want)
		}
	}
	if got := HostNamespaces(nil).shared(ns("/proc/self/ns/mnt"), specs.NetworkNamespace); !got {
		t.Error("without host namespaces a joined one must count as the host's")
	}
}

// TestSpecChecks runs the workload checks over a mapped configuration:
// what a policy blocks is found, with the config.json key to look at.
func TestSpecChecks(t *testing.T) {
	s := Spec(State{ID: "abc", Bundle: "/b"}, config(func(s *specs.Spec) {
		s.Annotations = map[string]string{annPodmanPrivileged: "TRUE"}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/sock", Type: "bind", Source: "/run/podman/podman.sock"})
	}), Who{Name: "web"}, nil)
	doc := `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: p}
spec:
  mode: enforce
  scope: {container: {}}
  controls:
    limitContainerPrivileges: {block: [privileged]}
    volumesBlocklist: {paths: ["/run/podman/podman.sock"]}
    readOnlyRootFilesystem: {}
`
	pols, err := policy.Parse("p.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var fs []string
	for _, f := range workload.Check(s, &policy.Merge(s.Target(&s.Containers[0]), pols).Enforce.Controls) {
		fs = append(fs, f.Control+" "+f.Field)
	}
	got := strings.Join(fs, "; ")
	for _, want := range []string{"limitContainerPrivileges annotations[" + annPodmanPrivileged + "]", "volumesBlocklist mounts[2]", "readOnlyRootFilesystem root.readonly"} {
		if !strings.Contains(got, want) {
			t.Errorf("findings %q lack %q", got, want)
		}
	}
}

func TestHookFile(t *testing.T) {
	if _, err := HookFile(HookConfig{Binary: "mamori"}); err == nil {
		t.Error("a relative binary path was accepted")
	}
	data, err := HookFile(HookConfig{Binary: "/usr/bin/mamori", Socket: "/run/m.sock", FailClosed: true})
	if err != nil {
		t.Fatal(err)
	}
	var f hookFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if f.Version != "1.0.0" || !slices.Equal(f.Stages, []string{"createRuntime"}) || !f.When.Always ||
		!slices.Contains(f.Hook.Args, "--fail-closed") || f.Hook.Timeout != 11 || f.Hook.Args[0] != "mamori" {
		t.Errorf("hook file:\n%s", data)
	}
}
