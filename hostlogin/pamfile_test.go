package hostlogin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sshdLike is a PAM service file shaped like Debian's sshd: the check must
// go before the account phase's first line, the @include.
const sshdLike = `# PAM configuration for the Secure Shell service

# Standard Un*x authentication.
@include common-auth

# Disallow non-root logins when /etc/nologin exists.
account    required     pam_nologin.so

@include common-account
session    required     pam_loginuid.so
`

const entryA = "account required pam_exec.so quiet stdout /usr/bin/mamori hostlogin check --policy /etc/mamori/policies"
const entryB = "account required pam_exec.so quiet stdout /usr/bin/mamori hostlogin check --policy /srv/p --fail-closed"

// TestInstallUninstall edits a service file as install and uninstall do:
// the line lands before the first account line, a second install changes
// nothing, a changed line replaces the old one, uninstall gives back the
// file byte for byte, with its mode.
func TestInstallUninstall(t *testing.T) {
	for name, orig := range map[string]string{"sshd-like": sshdLike, "no account phase": "auth required pam_permit.so\n\n", "empty": ""} {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "svc")
			if err := os.WriteFile(f, []byte(orig), 0o600); err != nil {
				t.Fatal(err)
			}
			step := func(do func(string) (Change, error), want Change) string {
				t.Helper()
				got, err := do(f)
				if err != nil || got != want {
					t.Fatalf("got %q, %v; want %q", got, err, want)
				}
				b, _ := os.ReadFile(f)
				return string(b)
			}
			install := func(e string) func(string) (Change, error) {
				return func(f string) (Change, error) { return Install(f, e) }
			}
			after := step(install(entryA), Added)
			lines := strings.Split(after, "\n")
			i := indexOf(lines, entryA)
			if i < 1 || !strings.HasPrefix(lines[i-1], Marker) {
				t.Fatalf("entry not after the marker:\n%s", after)
			}
			for _, l := range lines[:i] {
				if f := strings.Fields(l); len(f) > 0 && (f[0] == "account" || strings.Contains(l, "common-account")) {
					t.Errorf("an account line comes before the check:\n%s", after)
				}
			}
			if step(install(entryA), Unchanged) != after {
				t.Error("a second install changed the file")
			}
			updated := step(install(entryB), Updated)
			if strings.Contains(updated, entryA) || strings.Count(updated, Marker) != 1 || !strings.Contains(updated, entryB) {
				t.Errorf("update did not replace the entry:\n%s", updated)
			}
			if ok, _ := Installed(f); !ok {
				t.Error("Installed = false after install")
			}
			if got := step(Uninstall, Removed); got != orig && !(orig == "" && got == "\n") && got != strings.TrimRight(orig, "\n")+"\n" {
				t.Errorf("uninstall left:\n%q\nwant:\n%q", got, orig)
			}
			step(Uninstall, Unchanged)
			if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode().Perm())
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(f), ".*")); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func indexOf(lines []string, s string) int {
	for i, l := range lines {
		if l == s {
			return i
		}
	}
	return -1
}

// TestEntry refuses arguments PAM would split or misread.
func TestEntry(t *testing.T) {
	e, err := Entry([]string{"/usr/bin/mamori", "hostlogin", "check"})
	if err != nil || e != "account required pam_exec.so quiet stdout /usr/bin/mamori hostlogin check" {
		t.Errorf("got %q, %v", e, err)
	}
	for _, bad := range []string{"/opt/my tools/mamori", "", "[x]"} {
		if _, err := Entry([]string{bad, "hostlogin", "check"}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
