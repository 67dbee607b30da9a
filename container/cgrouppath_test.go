package container

import (
	"strings"
	"testing"
)

const (
	id64  = "6b8ef443398ee43ac855fd2ff2afe0a9abb704d1dbc33257365b76ff684c7bf2"
	podID = "0b4e2c5a-7c1e-4f0e-9d3a-2f5b8c9d1e0f"
)

func TestParseCgroupPath(t *testing.T) {
	uscore := strings.ReplaceAll(podID, "-", "_")
	tests := []struct {
		path string
		want CgroupRef
		ok   bool
	}{
		// podman
		{"/libpod_parent/libpod-" + id64, CgroupRef{Runtime: Podman, ID: id64}, true},
		{"/machine.slice/libpod-" + id64 + ".scope", CgroupRef{Runtime: Podman, ID: id64}, true},
		{"/machine.slice/libpod-" + id64 + ".scope/container", CgroupRef{Runtime: Podman, ID: id64}, true},
		{"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id64 + ".scope", CgroupRef{Runtime: Podman, ID: id64}, true},
		{"/machine.slice/libpod-conmon-" + id64 + ".scope", CgroupRef{}, false},
		// Shaped like containerd's /<namespace>/<id>: weak, the resolver confirms.
		{"/libpod_parent/conmon", CgroupRef{Runtime: Containerd, Namespace: "libpod_parent", ID: "conmon", Weak: true}, true},
		// cri-o
		{"/system.slice/crio-" + id64 + ".scope", CgroupRef{Runtime: CRIO, ID: id64}, true},
		{"/system.slice/crio-conmon-" + id64 + ".scope", CgroupRef{}, false},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uscore + ".slice/crio-" + id64 + ".scope",
			CgroupRef{Runtime: CRIO, ID: id64, PodUID: podID}, true},
		// containerd
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uscore + ".slice/cri-containerd-" + id64 + ".scope",
			CgroupRef{Runtime: Containerd, ID: id64, PodUID: podID}, true},
		{"/kubepods.slice/kubepods-pod" + uscore + ".slice/cri-containerd-" + id64 + ".scope",
			CgroupRef{Runtime: Containerd, ID: id64, PodUID: podID}, true},
		{"/system.slice/containerd.service/kubepods-burstable-pod" + uscore + ".slice:cri-containerd:" + id64, CgroupRef{}, false},
		{"/default/probe-ctr", CgroupRef{Runtime: Containerd, Namespace: "default", ID: "probe-ctr", Weak: true}, true},
		{"/k8s.io/" + id64, CgroupRef{Runtime: "", ID: id64}, true},
		{"/moby/a.b_c-d", CgroupRef{Runtime: Containerd, Namespace: "moby", ID: "a.b_c-d", Weak: true}, true},
		// kubepods with the cgroupfs driver: the runtime is not in the path
		{"/kubepods/besteffort/pod" + podID + "/" + id64, CgroupRef{ID: id64, PodUID: podID}, true},
		{"/kubepods/pod" + podID + "/" + id64, CgroupRef{ID: id64, PodUID: podID}, true},
		{"/kubepods/burstable/pod" + podID, CgroupRef{}, false},
		// docker
		{"/docker/" + id64, CgroupRef{Runtime: Docker, ID: id64}, true},
		{"/system.slice/docker-" + id64 + ".scope", CgroupRef{Runtime: Docker, ID: id64}, true},
		// nested: the innermost container wins
		{"/libpod_parent/libpod-" + id64 + "/docker/" + strings.Repeat("a", 64), CgroupRef{Runtime: Docker, ID: strings.Repeat("a", 64)}, true},
		// host cgroups
		{"/", CgroupRef{}, false},
		{"", CgroupRef{}, false},
		{"relative/path", CgroupRef{}, false},
		{"/init.scope", CgroupRef{}, false},
		{"/system.slice/ssh.service", CgroupRef{}, false},
		{"/user.slice/user-0.slice/session-1.scope", CgroupRef{}, false},
		{"/system.slice", CgroupRef{}, false},
		{"/a/b/c", CgroupRef{}, false},
		{"/libpod_parent/libpod-" + strings.ToUpper(id64), CgroupRef{Runtime: Containerd, Namespace: "libpod_parent", ID: "libpod-" + strings.ToUpper(id64), Weak: true}, true},
		{"/libpod_parent/libpod-" + id64[:63], CgroupRef{Runtime: Containerd, Namespace: "libpod_parent", ID: "libpod-" + id64[:63], Weak: true}, true},
		{"/a/-b", CgroupRef{}, false},
		{"/a/b..c", CgroupRef{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseCgroupPath(tt.path)
		// The container's own cgroup is the path up to the component
		// naming it; below, one test checks a sub-cgroup's.
		if ok && (got.Own == "" || !strings.HasPrefix(tt.path+"/", got.Own+"/")) {
			t.Errorf("ParseCgroupPath(%q).Own = %q: not a prefix of the path", tt.path, got.Own)
		}
		got.Own = ""
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseCgroupPath(%q) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
	sub := "/machine.slice/libpod-" + id64 + ".scope"
	if got, _ := ParseCgroupPath(sub + "/container/init.scope"); got.Own != sub {
		t.Errorf("a sub-cgroup's Own = %q, want %q", got.Own, sub)
	}
}

func FuzzParseCgroupPath(f *testing.F) {
	for _, seed := range []string{
		"/", "/libpod_parent/libpod-" + id64, "/machine.slice/libpod-" + id64 + ".scope/container",
		"/kubepods/besteffort/pod" + podID + "/" + id64, "/default/probe-ctr",
		"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + podID + ".slice/cri-containerd-" + id64 + ".scope",
		"//", "/a//b", "/kubepods-pod.slice/x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, path string) {
		ref, ok := ParseCgroupPath(path)
		if !ok {
			if ref != (CgroupRef{}) {
				t.Fatalf("no match but ref %+v", ref)
			}
			return
		}
		if ref.ID == "" || !strings.Contains(path, ref.ID) {
			t.Fatalf("ParseCgroupPath(%q) = %+v: id not taken from the path", path, ref)
		}
		if ref.Namespace != "" && !strings.Contains(path, "/"+ref.Namespace+"/") {
			t.Fatalf("ParseCgroupPath(%q) = %+v: namespace not taken from the path", path, ref)
		}
		if ref.PodUID != "" && !isUID(ref.PodUID) {
			t.Fatalf("ParseCgroupPath(%q) = %+v: bad pod uid", path, ref)
		}
		// A strong match must survive being nested below another cgroup.
		if !ref.Weak {
			again, ok := ParseCgroupPath("/outer.slice" + path)
			if !ok || again.ID != ref.ID || again.Runtime != ref.Runtime {
				t.Fatalf("ParseCgroupPath of %q nested = %+v, %v; want id %s", path, again, ok, ref.ID)
			}
		}
	})
}
