package container

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCgroupPathByHandle(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_DAC_READ_SEARCH) for open_by_handle_at")
	}
	r := newResolver(t, Config{})
	if p, err := r.cgroups.pathByHandle(r.rootID); err != nil || p != "/" {
		t.Fatalf("root cgroup %d: path %q, %v; want /", r.rootID, p, err)
	}
	dir := mkCgroup(t, r, "mamori-test-handle.slice/inner")
	id := r.cgroups.inode(dir)
	for name, path := range map[string]func() (string, error){
		"handle": func() (string, error) { return r.cgroups.pathByHandle(id) },
		"walk":   func() (string, error) { return r.cgroups.pathByWalk(id) },
	} {
		if p, err := path(); err != nil || p != dir {
			t.Errorf("%s: cgroup %d: path %q, %v; want %s", name, id, p, err, dir)
		}
	}
	if err := os.Remove(filepath.Join(r.cfg.CgroupRoot, dir)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.cgroups.pathByHandle(id); !errors.Is(err, errNoCgroup) {
		t.Errorf("removed cgroup by handle: err = %v, want errNoCgroup", err)
	}
	if _, err := r.cgroups.pathByWalk(id); !errors.Is(err, errNoCgroup) {
		t.Errorf("removed cgroup by walk: err = %v, want errNoCgroup", err)
	}
}

func TestCgroupPathFromProc(t *testing.T) {
	r := newResolver(t, Config{})
	self := uint32(os.Getpid())
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	want, ok := unifiedLine(data)
	if !ok {
		t.Skip("no cgroup v2 line in /proc/self/cgroup")
	}
	id := r.cgroups.inode(want)
	if p, ok := r.cgroups.pathFromProc(id, self); !ok || p != want {
		t.Errorf("pathFromProc(%d, self) = %q, %v; want %q", id, p, ok, want)
	}
	// A pid whose cgroup is another one is not believed.
	if p, ok := r.cgroups.pathFromProc(id+1000000, self); ok {
		t.Errorf("pathFromProc with a wrong id = %q, want no answer", p)
	}
	if _, ok := r.cgroups.pathFromProc(id, 1<<22+1); ok {
		t.Error("pathFromProc of a pid that does not exist gave an answer")
	}
}

func TestUnifiedLine(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"12:pids:/x\n0::/libpod_parent/libpod-" + id64 + "\n", "/libpod_parent/libpod-" + id64, true},
		{"0::/\n", "/", true},
		{"0::/gone (deleted)\n", "", false},
		{"1:name=systemd:/\n", "", false},
		{"", "", false},
		{"0::relative\n", "", false},
	}
	for _, tt := range tests {
		got, ok := unifiedLine([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("unifiedLine(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFindCgroup2Mount(t *testing.T) {
	dir := t.TempDir()
	for name, tt := range map[string]struct{ mountinfo, want string }{
		"hybrid": {`25 30 0:23 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
`, "/sys/fs/cgroup/unified"},
		"pure v2": {`30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`, "/sys/fs/cgroup"},
		"optional fields and escapes": {`30 23 0:26 / /mnt/my\040cgroups rw shared:4 master:1 - cgroup2 none rw
`, "/mnt/my cgroups"},
		"bind of a sub-cgroup is not the root": {`30 23 0:26 /sub /mnt/sub rw - cgroup2 none rw
31 23 0:26 / /sys/fs/cgroup rw - cgroup2 none rw
`, "/sys/fs/cgroup"},
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(tt.mountinfo), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := FindCgroup2Mount(path)
		if err != nil || got != tt.want {
			t.Errorf("%s: FindCgroup2Mount = %q, %v; want %q", name, got, err, tt.want)
		}
	}
	path := filepath.Join(dir, "none")
	os.WriteFile(path, []byte("1 0 0:1 / / rw - ext4 /dev/sda rw\n"), 0o600)
	if got, err := FindCgroup2Mount(path); err == nil {
		t.Errorf("no cgroup2: FindCgroup2Mount = %q, want an error", got)
	}
}

func TestNewFailsOnABadCgroupRoot(t *testing.T) {
	if _, err := New(Config{CgroupRoot: filepath.Join(t.TempDir(), "missing")}, nil); err == nil {
		t.Error("New with a missing cgroup root succeeded")
	}
}
