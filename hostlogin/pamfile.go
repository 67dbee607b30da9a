package hostlogin

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Marker begins the comment line that precedes the entry Install adds;
// Uninstall removes both.
const Marker = "# mamori hostlogin:"

const markerLine = Marker + " refuse logins the runtime policies' hostLogins control forbids (mamori hostlogin uninstall removes this line and the next)"

// Entry is the PAM line that runs argv (the mamori binary and its
// `hostlogin check` flags) through pam_exec in the account phase: quiet
// keeps pam_exec's own "failed: exit code" message from the user (the
// check prints a better one), stdout hands the check's one line to the
// application, which shows it to the user. PAM splits a line at spaces,
// so no argument may contain one.
func Entry(argv []string) (string, error) {
	for _, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n[]") {
			return "", fmt.Errorf("%q cannot be an argument in a PAM line (empty, or contains a space or a bracket)", a)
		}
	}
	return "account required pam_exec.so quiet stdout " + strings.Join(argv, " "), nil
}

// Change says what Install or Uninstall did to one file.
type Change string

const (
	Added     Change = "added"
	Updated   Change = "updated"
	Removed   Change = "removed"
	Unchanged Change = "unchanged"
)

// Install puts entry, after the marker comment, into the PAM service file
// before its first account line, so that no earlier `sufficient` or
// `done` module can end the account phase before the check runs. A file
// that already has mamori's entry gets the new one in its place. The file
// is replaced atomically, keeping its mode and owner.
func Install(file, entry string) (Change, error) {
	lines, err := readLines(file)
	if err != nil {
		return "", err
	}
	kept, at, had := strip(lines)
	if at < 0 {
		at = firstAccount(kept)
	}
	out := append(append(append([]string{}, kept[:at]...), markerLine, entry), kept[at:]...)
	change := Added
	switch {
	case slices.Equal(out, lines):
		return Unchanged, nil
	case had:
		change = Updated
	}
	return change, writeLines(file, out)
}

// Uninstall removes mamori's marker comment and entry from the file.
func Uninstall(file string) (Change, error) {
	lines, err := readLines(file)
	if err != nil {
		return "", err
	}
	kept, _, had := strip(lines)
	if !had {
		return Unchanged, nil
	}
	return Removed, writeLines(file, kept)
}

// Installed reports whether the file holds mamori's marker.
func Installed(file string) (bool, error) {
	lines, err := readLines(file)
	if err != nil {
		return false, err
	}
	_, _, had := strip(lines)
	return had, nil
}

// strip removes every marker line and the entry after each; at is where
// the first one was (-1 if none).
func strip(lines []string) (kept []string, at int, had bool) {
	at = -1
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(strings.TrimSpace(lines[i]), Marker) {
			kept = append(kept, lines[i])
			continue
		}
		if !had {
			at, had = len(kept), true
		}
		if i+1 < len(lines) && isEntry(lines[i+1]) {
			i++
		}
	}
	return kept, at, had
}

// isEntry recognises a line mamori wrote, also after an admin edited its
// flags.
func isEntry(line string) bool {
	f := strings.Fields(line)
	return len(f) >= 3 && f[2] == "pam_exec.so" && strings.Contains(line, " hostlogin check")
}

// firstAccount is the index of the first line of the account phase: an
// account (or -account) line or an @include of a file named for it, or
// the end of the file.
func firstAccount(lines []string) int {
	for i, l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) == 0:
		case f[0] == "account" || f[0] == "-account":
			return i
		case f[0] == "@include" && len(f) > 1 && strings.Contains(f[1], "account"):
			return i
		}
	}
	n := len(lines)
	for n > 0 && strings.TrimSpace(lines[n-1]) == "" {
		n-- // before trailing blank lines
	}
	return n
}

func readLines(file string) ([]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read the PAM service file: %w", err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil, nil
	}
	return strings.Split(s, "\n"), nil
}

// writeLines replaces file by a new file with the same mode and owner,
// renamed into place so that PAM never reads half a file.
func writeLines(file string, lines []string) error {
	file, err := filepath.EvalSymlinks(file) // edit the file a link points to, keep the link
	if err != nil {
		return err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".mamori-*")
	if err != nil {
		return fmt.Errorf("write the PAM service file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing to remove
	if _, err := tmp.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if err := tmp.Chown(int(st.Uid), int(st.Gid)); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("replace the PAM service file: %w", err)
	}
	return nil
}
