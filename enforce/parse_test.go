package enforce

import (
	"bytes"
	"encoding/binary"
	"github.com/mamori-dev/mamori/internal/procfs"
	"reflect"
	"testing"
)

func TestParseMountinfoLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want mount
		ok   bool
	}{
		{
			line: `76 49 0:39 / / rw,relatime - overlay overlay rw,lowerdir=/l/A:/l/B,upperdir=/s/up,workdir=/s/work,uuid=on`,
			want: mount{id: 76, point: "/", fstype: "overlay", opts: "rw,relatime",
				superOpts: "rw,lowerdir=/l/A:/l/B,upperdir=/s/up,workdir=/s/work,uuid=on"},
			ok: true,
		},
		{
			line: `82 78 0:38 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=64000k`,
			want: mount{id: 82, point: "/dev/shm", fstype: "tmpfs", opts: "rw,nosuid,nodev,noexec,relatime", superOpts: "rw,size=64000k", noExec: true},
			ok:   true,
		},
		{
			line: `90 76 254:0 /data /my\040vol ro,relatime shared:5 master:1 - ext4 /dev/vda ro`,
			want: mount{id: 90, point: "/my vol", fstype: "ext4", opts: "ro,relatime", superOpts: "ro", readOnly: true},
			ok:   true,
		},
		{line: `garbage`},
		{line: `1 2 3 4 5 6 -`},
		{line: `x 2 0:1 / / rw - tmpfs t rw`},
	} {
		got, ok := parseMountinfoLine(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseMountinfoLine(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestOverlayLayers(t *testing.T) {
	for _, tc := range []struct {
		opts   string
		upper  string
		lowers []string
	}{
		{"rw,lowerdir=/l/A:/l/B,upperdir=/s/up,workdir=/s/w", "/s/up", []string{"/l/A", "/l/B"}},
		// Colons and commas inside a path come escaped; "::" precedes
		// data-only layers.
		{`rw,lowerdir=/l/a\072b:/l/c\054d::/data,upperdir=/u\040p`, "/u p", []string{"/l/a:b", "/l/c,d", "/data"}},
		{"rw,lowerdir+=/l/A,lowerdir+=/l/B,upperdir=/u", "/u", []string{"/l/A", "/l/B"}},
		{"rw,lowerdir=/only", "", []string{"/only"}},
	} {
		upper, lowers := overlayLayers(tc.opts)
		if upper != tc.upper || !reflect.DeepEqual(lowers, tc.lowers) {
			t.Errorf("overlayLayers(%q) = %q, %q; want %q, %q", tc.opts, upper, lowers, tc.upper, tc.lowers)
		}
	}
}

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`: "/a b", `\134`: `\`, `/x\`: `/x\`, `/x\04`: `/x\04`, `\999`: `\999`, "plain": "plain",
	} {
		if got := procfs.Unescape(in); got != want {
			t.Errorf("procfs.Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPathHash pins the hash to values computed by hand from its
// definition (FNV-1a 64 over "c/b/a/"), which the kernel side implements.
func TestPathHash(t *testing.T) {
	fnv := func(s string) uint64 {
		var h uint64 = fnvOffset
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= fnvPrime
		}
		return h
	}
	for p, s := range map[string]string{
		"/":              "",
		"/a":             "a/",
		"/tmp/ok/touch":  "touch/ok/tmp/",
		"/tmp//ok/touch": "touch/ok/tmp/",
		"/usr/bin/x/":    "x/bin/usr/",
	} {
		if got, want := pathHash(p), fnv(s); got != want {
			t.Errorf("pathHash(%q) = %#x, want FNV-1a(%q) = %#x", p, got, s, want)
		}
	}
}

func TestCleanAllow(t *testing.T) {
	got, err := cleanAllow([]string{"/a/../b/c", "/x/"})
	if err != nil || !reflect.DeepEqual(got, []string{"/b/c", "/x"}) {
		t.Errorf("cleanAllow = %q, %v", got, err)
	}
	for _, bad := range []string{"rel/x", "/usr/*/x", ""} {
		if _, err := cleanAllow([]string{bad}); err == nil {
			t.Errorf("cleanAllow(%q) accepted it", bad)
		}
	}
}

func TestDecodeVerdict(t *testing.T) {
	in := driftVerdict{Ts: 5, CgroupId: 77, Ino: 9, Pid: 1234, Dev: 39, MntId: 76,
		Reason: reasonMemfd, Action: actionKilled, Mechanism: mechanismSigkill}
	copy(in.Filename[:], []int8{'/', 'd', 'e', 'v', '/', 'f', 'd', '/', '3'})
	copy(in.Name[:], []int8{'m', 'e', 'm', 'f', 'd', ':', 'p'})
	var buf bytes.Buffer
	binary.Write(&buf, binary.NativeEndian, &in)
	got, err := decodeVerdict(buf.Bytes())
	if err != nil || got != in {
		t.Fatalf("decodeVerdict = %+v, %v", got, err)
	}
	k := &kernel{}
	v := k.verdict(got, "c1")
	if v.Path != "/dev/fd/3" || v.Name != "memfd:p" || v.Reason != Memfd || v.Action != Blocked ||
		v.Mechanism != SIGKILL || v.PID != 1234 || v.CgroupID != 77 || v.Container != "c1" {
		t.Errorf("verdict = %+v", v)
	}
	if _, err := decodeVerdict(buf.Bytes()[:10]); err == nil {
		t.Error("a short record decoded")
	}
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add(`76 49 0:39 / / rw,relatime - overlay overlay rw,lowerdir=/l/A:/l/B,upperdir=/s/up`)
	f.Add(`90 76 254:0 /data /my\040vol ro,relatime shared:5 - ext4 /dev/vda ro`)
	f.Add(`1 2 3 4 5 6 - x`)
	f.Fuzz(func(t *testing.T, line string) {
		m, ok := parseMountinfoLine(line)
		if ok {
			overlayLayers(m.superOpts)
		}
	})
}

func FuzzDecodeVerdict(f *testing.F) {
	f.Add(make([]byte, verdictSize))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeVerdict(b)
		if err == nil {
			(&kernel{}).verdict(v, "")
		}
	})
}
