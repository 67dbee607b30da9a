package workload

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/policy"
)

func ptr[T any](v T) *T { return &v }

// loadControls loads one enforcing policy with the given controls for
// every container and returns its effective enforce tier.
func loadSet(t *testing.T, docs ...string) *policy.Set {
	t.Helper()
	dir := t.TempDir()
	for i, d := range docs {
		if err := os.WriteFile(filepath.Join(dir, "p"+string(rune('a'+i))+".yaml"), []byte(d), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := policy.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const everything = `apiVersion: mamori.dev/v1
kind: RuntimePolicy
metadata: {name: everything}
spec:
  mode: enforce
  scope: {container: {}}
  controls:
    limitContainerPrivileges: {allowCapabilities: [NET_BIND_SERVICE]}
    preventDefaultOverride: {}
    volumesBlocklist: {paths: [/var/run/docker.sock, /etc]}
    hostPathVolumes: {allow: ["/var/log/**"]}
    readOnlyRootFilesystem: {}
    blockPrivilegeEscalation: {}
    imageReferences: {}
`

// safe is a pod that every check passes.
func safe() *Spec {
	return &Spec{
		Kind: "Pod", Name: "web", Namespace: "shop", HostUsers: ptr(false),
		Containers: []Container{{
			Name: "app", Image: "registry.example.com/shop/web:1.2@sha256:" + strings.Repeat("ab", 32),
			AllowPrivilegeEscalation: ptr(false), RunAsNonRoot: ptr(true), ReadOnlyRootFilesystem: true,
			Seccomp: "RuntimeDefault", Ports: []Port{{ContainerPort: 8080}},
			AddedCapabilities: []string{"CAP_NET_BIND_SERVICE"},
		}},
		Volumes: []Volume{{Name: "logs", Type: "hostPath", HostPath: "/var/log/web"}, {Name: "tmp", Type: "emptyDir"}},
	}
}

func TestCheckEachSetting(t *testing.T) {
	set := loadSet(t, everything)
	for _, tc := range []struct {
		name  string
		edit  func(s *Spec, c *Container)
		check string // the one check expected
	}{
		{"privileged", func(s *Spec, c *Container) { c.Privileged = true }, "privileged"},
		{"hostNetwork", func(s *Spec, c *Container) { s.HostNetwork = true }, "hostNetwork"},
		{"hostPID", func(s *Spec, c *Container) { s.HostPID = true }, "hostPID"},
		{"hostIPC", func(s *Spec, c *Container) { s.HostIPC = true }, "hostIPC"},
		{"host user namespace by default", func(s *Spec, c *Container) { s.HostUsers = nil }, "hostUserNamespace"},
		{"added capability", func(s *Spec, c *Container) { c.AddedCapabilities = append(c.AddedCapabilities, "SYS_ADMIN") }, "addedCapabilities"},
		{"runAsUser 0", func(s *Spec, c *Container) { c.RunAsUser = ptr(int64(0)) }, "runAsRoot"},
		{"root left to the image", func(s *Spec, c *Container) { c.RunAsNonRoot = nil }, "runAsRoot"},
		{"low container port", func(s *Spec, c *Container) { c.Ports = []Port{{ContainerPort: 80}} }, "lowPorts"},
		{"low host port", func(s *Spec, c *Container) { c.Ports = []Port{{ContainerPort: 8080, HostPort: 443}} }, "lowPorts"},
		{"seccomp", func(s *Spec, c *Container) { c.Seccomp = "Unconfined" }, "seccompUnconfined"},
		{"apparmor", func(s *Spec, c *Container) { c.AppArmor = "Unconfined" }, "apparmorUnconfined"},
		{"selinux spc_t", func(s *Spec, c *Container) { c.SELinux.Type = "spc_t" }, "selinuxDisabled"},
		{"writable root", func(s *Spec, c *Container) { c.ReadOnlyRootFilesystem = false }, "readOnlyRootFilesystem"},
		{"escalation unset", func(s *Spec, c *Container) { c.AllowPrivilegeEscalation = nil }, "allowPrivilegeEscalation"},
		{"escalation true", func(s *Spec, c *Container) { c.AllowPrivilegeEscalation = ptr(true) }, "allowPrivilegeEscalation"},
		{"no digest", func(s *Spec, c *Container) { c.Image = "registry.example.com/shop/web:1.2" }, "noDigest"},
		{"host path", func(s *Spec, c *Container) {
			s.Volumes = append(s.Volumes, Volume{Name: "data", Type: "hostPath", HostPath: "/srv/data"})
		}, "hostPathVolumes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := safe()
			if v := (&Checker{}).Evaluate(s, set); len(v.Results) != 0 {
				t.Fatalf("the safe pod has findings: %v", v.Results)
			}
			tc.edit(s, &s.Containers[0])
			v := (&Checker{}).Evaluate(s, set)
			if len(v.Results) != 1 || v.Results[0].Check != tc.check {
				t.Fatalf("want one %s finding, got %+v", tc.check, v.Results)
			}
			if r := v.Results[0]; r.Mode != policy.Enforce || !slices.Equal(r.Policies, []string{"everything"}) || r.Reason == "" {
				t.Errorf("result %+v: want enforce by policy everything with a reason", r)
			}
		})
	}
}

func TestLatestImageGivesBothReasons(t *testing.T) {
	s := safe()
	s.Containers[0].Image = "nginx"
	var checks []string
	for _, r := range (&Checker{}).Evaluate(s, loadSet(t, everything)).Results {
		checks = append(checks, r.Check)
	}
	if !slices.Equal(checks, []string{"latestTag", "noDigest"}) {
		t.Errorf("checks %v, want latestTag and noDigest", checks)
	}
}

func TestBlockedVolumeAlsoHostPath(t *testing.T) {
	s := safe()
	s.Volumes = []Volume{{Name: "sock", Type: "hostPath", HostPath: "/var/run/docker.sock", Path: "spec.volumes[0]"}}
	fs := Check(s, &loadSet(t, everything).Effective(s.Target(&s.Containers[0])).Enforce.Controls)
	if len(fs) != 2 || fs[0].Control != "volumesBlocklist" || fs[1].Control != "hostPathVolumes" || fs[0].Field != "spec.volumes[0]" {
		t.Errorf("findings %+v", fs)
	}
}
