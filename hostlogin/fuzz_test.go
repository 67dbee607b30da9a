package hostlogin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzInstallUninstall: for any service file, install puts exactly one
// entry before every account line, and uninstall gives the file back as it
// was (with a final newline).
func FuzzInstallUninstall(f *testing.F) {
	for _, s := range []string{sshdLike, "", "auth required pam_permit.so", "account sufficient pam_sss.so\n\n\n",
		"-account optional pam_x.so\n@include common-account\n", "\n\n", "# comment only\r\naccount required pam_unix.so\r\n"} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, orig string) {
		if strings.Contains(orig, Marker) || strings.ContainsRune(orig, 0) {
			t.Skip()
		}
		file := filepath.Join(dir, "svc")
		if err := os.WriteFile(file, []byte(orig), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Install(file, entryA); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(file)
		lines := strings.Split(string(b), "\n")
		at := indexOf(lines, entryA)
		if at < 1 || strings.Count(string(b), entryA) != 1 || !strings.HasPrefix(lines[at-1], Marker) {
			t.Fatalf("entry missing or doubled:\n%q", b)
		}
		if first := firstAccount(lines); first < at-1 {
			t.Fatalf("account line %d comes before the entry at %d:\n%q", first, at, b)
		}
		if _, err := Uninstall(file); err != nil {
			t.Fatal(err)
		}
		b, _ = os.ReadFile(file)
		want := orig
		if !strings.HasSuffix(want, "\n") {
			want += "\n"
		}
		if string(b) != want {
			t.Fatalf("after uninstall %q, want %q", b, want)
		}
	})
}

// FuzzFromEnv: any environment parses without a panic, and the last
// PAM_USER is the user.
func FuzzFromEnv(f *testing.F) {
	f.Add("PAM_USER=a\x00PAM_USER=b\x00PAM_SERVICE=sshd")
	f.Add("=\x00PAM_USER\x00PAM_USER==x")
	f.Fuzz(func(t *testing.T, env string) {
		vars := strings.Split(env, "\x00")
		l, err := FromEnv(vars)
		want := ""
		for _, kv := range vars {
			if v, ok := strings.CutPrefix(kv, "PAM_USER="); ok {
				want = v
			}
		}
		if l.User != want || (err == nil) != (want != "") {
			t.Fatalf("user %q (err %v), want %q", l.User, err, want)
		}
	})
}
