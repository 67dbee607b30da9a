package detect

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/syscalls"
)

// TestChangeKeys derives the keys of removes, renames and mkdirs from
// rules whose conditions use each kind of check, and checks that a path
// argument's check gives keys of its own kind (a rename's old path From,
// its new path To), that a check on an argument the calls lack never
// holds (and always under "not"), and that whatever the keys cannot
// express makes every call of the kind wanted.
func TestChangeKeys(t *testing.T) {
	for _, tc := range []struct {
		cond                     string
		removes, renames, mkdirs string // "" when the rule cannot match the kind
	}{
		{cond: "evt.type in (unlink, unlinkat) and evt.arg.path startswith /srv/", removes: "under /srv/"},
		{cond: "evt.type in (unlink, unlinkat, rmdir) and (evt.arg.name endswith .log or evt.arg.path = /etc/passwd)", removes: "under /etc/passwd; ending .log"},
		{cond: "evt.type in (rename, unlink) and evt.arg.newpath contains /.", renames: "to holding /."},
		{cond: "evt.type = rename and (evt.arg.oldpath startswith /a/ or evt.arg.newpath startswith /b/)", renames: "from under /a/; to under /b/"},
		{cond: "evt.type = rename and evt.arg.oldpath startswith /a/ and evt.arg.newpath startswith /a/much/longer/", renames: "to under /a/much/longer/"},
		{cond: "evt.type = rename and evt.arg.path startswith /x"},
		{cond: "evt.type = rename and not evt.arg.path startswith /x", renames: "all"},
		{cond: "evt.type in (mkdir, mkdirat) and not evt.arg.path startswith /tmp", mkdirs: "all"},
		{cond: "evt.type = mkdirat and fd.name startswith /x", mkdirs: "all"},
		{cond: "evt.type = unlink and evt.args contains foo", removes: "all"},
		{cond: "evt.type = unlink and evt.arg[path] startswith /x", removes: "all"},
		{cond: "evt.type = unlink and evt.arg.path icontains x", removes: "all"},
		{cond: "evt.type in (mkdir, rename) and proc.name = tar", renames: "from by tar", mkdirs: "by tar"},
		{cond: "evt.type = rmdir and container.id != host", removes: "in containers"},
		{cond: "evt.type = unlink and evt.arg.path pmatch (/etc/apt/, /var/ca*/x)", removes: "under /etc/apt, /var/ca"},
		{cond: "evt.type = unlink and evt.arg.path glob '/home/*/.bash_history'", removes: "ending /.bash_history"},
		{cond: "evt.type in (unlink, mkdir) and evt.is_open_write = true"},
		{cond: "evt.type = open and evt.arg.name startswith /x"},
		{cond: "proc.name = rm", removes: "by rm", renames: "from by rm", mkdirs: "by rm"},
	} {
		rs := loadRuleset(t, rules.File{Name: "r.yaml", Data: fmt.Appendf(nil, `
- rule: r
  desc: d
  condition: %s
  output: o
  priority: WARNING
`, tc.cond)})
		rn := RuleNeedsOf(rs.Rules()[0])
		got := func(matches bool, keys fmt.Stringer) string {
			if !matches {
				return ""
			}
			return keys.String()
		}
		removes, renames, mkdirs := got(rn.MatchesRemoves, rn.Removes), got(rn.MatchesRenames, rn.Renames), got(rn.MatchesMkdirs, rn.Mkdirs)
		if removes != tc.removes || renames != tc.renames || mkdirs != tc.mkdirs {
			t.Errorf("%s:\nremoves %q renames %q mkdirs %q\nwant    %q         %q        %q", tc.cond, removes, renames, mkdirs, tc.removes, tc.renames, tc.mkdirs)
		}
	}
}

// TestChangeCaptureOfUpstreamRules works out what the three upstream
// syscall files need of removes, renames and mkdirs, every rule enabled,
// and checks each rule that can match them against its condition: keys
// for every one (a file storm's unlinks stay in the kernel), a rename's
// new path apart from its old, and no remove for a check on a rename's
// new path.
func TestChangeCaptureOfUpstreamRules(t *testing.T) {
	rs := upstreamAll(t)
	n := NeedsOf(rs)
	want := map[string][3]string{
		"Delete or rename shell history": {"ending ash_history, fish_history, zsh_history; holding fish_read_histor",
			"from ending ash_history, fish_history, zsh_history; holding fish_read_histor", ""},
		"Modify binary dirs": {"under /bin/, /sbin/, /usr/bin/, /usr/sbin/",
			"from under /bin/, /sbin/, /usr/bin/, /usr/sbin/; to under /bin/, /sbin/, /usr/bin/, /usr/sbin/", ""},
		"Update Package Repository":          {"", "to under /etc/apt, /etc/apt/sources.list.d, /etc/yum.repos.d", ""},
		"Mkdir binary dirs":                  {"", "", "under /bin/, /sbin/, /usr/bin/, /usr/sbin/"},
		"Create Hidden Files or Directories": {"", "to holding /.", "holding /."},
	}
	got := map[string][3]string{}
	for _, rn := range n.Rules {
		var g [3]string
		if rn.MatchesRemoves {
			g[0] = rn.Removes.String()
		}
		if rn.MatchesRenames {
			g[1] = rn.Renames.String()
		}
		if rn.MatchesMkdirs {
			g[2] = rn.Mkdirs.String()
		}
		if g != [3]string{} {
			got[rn.Rule.Name] = g
		}
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: removes, renames, mkdirs\n%q\nwant %q", name, got[name], w)
		}
	}
	for name, g := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s matches removes, renames or mkdirs (%q), which its condition does not say", name, g)
		}
	}
	if n.Removes.All || n.Renames.All() || n.Mkdirs.All {
		t.Errorf("some rule needs every remove, rename or mkdir: %s; %s; %s", n.Removes, n.Renames, n.Mkdirs)
	}
}

// TestChangeKeysCoverMatches raises removes, renames and mkdirs of many
// paths, by several processes, on the host and in a container, against
// every rule of the three upstream files (all enabled) and against rules
// with each kind of check, and checks that whenever a rule matches one,
// the keys derived from that rule let it through the kernel's filter,
// which this test plays as sensor.bpf.c does: no rule is left blind.
func TestChangeKeysCoverMatches(t *testing.T) {
	extra := rules.File{Name: "extra.yaml", Data: []byte(`
- rule: old or new
  desc: d
  condition: evt.type in (rename, renameat2) and (evt.arg.oldpath pmatch (/etc/apt) or evt.arg.newpath glob /root/*)
  output: o
  priority: WARNING
- rule: not under tmp
  desc: d
  condition: evt.type in (rmdir, unlinkat, mkdirat) and not evt.arg.path startswith /tmp/ and proc.name in (sh, rm)
  output: o
  priority: WARNING
- rule: by name in a container
  desc: d
  condition: evt.type in (unlink, mkdir) and container.id != host and (evt.arg.path endswith /x or evt.arg.name contains "in/l")
  output: o
  priority: WARNING
- rule: directory
  desc: d
  condition: evt.type in (unlink, unlinkat) and evt.arg.name in (/bin, /etc/apt) or evt.type = mkdir and evt.arg.path = /
  output: o
  priority: WARNING
`)}
	rs := upstreamAll(t, extra)
	var checked, matched int
	perRule := map[string]int{}
	ev := syscalls.NewEvent(nil, nil)
	paths := []string{"/", "/bin", "/bin/x", "/bin/.x", "/usr/bin/ls", "/usr/sbin/a/b", "/sbin", "/tmp/x", "/tmp/.hidden",
		"/tmp/a/.b/c", "/root/.bash_history", "/root/x", "/home/u/.zsh_history", "/home/u/.local/share/fish/fish_history",
		"/x/fish_read_history.y", "/etc/apt", "/etc/apt/sources.list.d/x.list", "/etc/aptitude", "/etc/yum.repos.d/a.repo",
		"/var/lib/docker/x/.bash_history", "/var/log/syslog", "/srv/in/lx"}
	calls := map[string]event.Type{"unlink": event.Unlink, "unlinkat": event.Unlink, "rmdir": event.Rmdir,
		"mkdir": event.Mkdir, "mkdirat": event.Mkdir, "rename": event.Rename, "renameat": event.Rename, "renameat2": event.Rename}
	var matches []*rules.Rule
	for call, typ := range calls {
		for _, name := range []string{"sh", "rm", "dpkg", "docker", "tar"} {
			for _, ctr := range []*event.Container{{ID: event.HostID}, {ID: "0123456789ab", Name: "c", Image: "i"}} {
				for i, p := range paths {
					targets := []string{""}
					if typ == event.Rename {
						targets = paths
					}
					for _, q := range targets {
						e := &event.Event{Type: typ, Syscall: call, Container: ctr, File: &event.File{Path: p, Target: q},
							Process: event.Process{Name: name, PID: 100, Exe: "/bin/" + name, Args: []string{name}}}
						ev.Reset(e, uint64(i))
						matches = rs.MatchAll(syscalls.Source, call, ev, matches[:0])
						checked++
						for _, r := range matches {
							matched++
							perRule[r.Name]++
							if !kernelReports(RuleNeedsOf(r), e) {
								t.Errorf("%s: %s %s %s by %s in %s matches, but its keys turn it away", r.Name, call, p, q, name, ctr.ID)
							}
						}
					}
				}
			}
		}
	}
	for _, name := range []string{"Delete or rename shell history", "Modify binary dirs", "Update Package Repository", "Mkdir binary dirs",
		"Create Hidden Files or Directories", "old or new", "not under tmp", "by name in a container", "directory"} {
		if perRule[name] == 0 {
			t.Errorf("no call matched %s: the test raises too little", name)
		}
	}
	t.Logf("%d calls, %d matches: %v", checked, matched, perRule)
}

// kernelReports plays sensor.bpf.c's filter of calls on paths with one
// rule's keys.
func kernelReports(rn RuleNeeds, e *event.Event) bool {
	in := !e.Container.IsHost()
	switch e.Type {
	case event.Unlink, event.Rmdir:
		return rn.MatchesRemoves && keysReport(rn.Removes, e.File.Path, e.Process.Name, in)
	case event.Mkdir:
		return rn.MatchesMkdirs && keysReport(rn.Mkdirs, e.File.Path, e.Process.Name, in)
	case event.Rename:
		return rn.MatchesRenames && (keysReport(rn.Renames.From, e.File.Path, e.Process.Name, in) ||
			keysReport(rn.Renames.To, e.File.Target, e.Process.Name, in))
	}
	return false
}

func keysReport(k PathKeys, path, comm string, inContainer bool) bool {
	dir := path[:strings.LastIndexByte(path, '/')+1]
	return k.All || k.Containers && inContainer || slices.Contains(k.Comms, comm) ||
		slices.ContainsFunc(k.Prefixes, func(p string) bool { return strings.HasPrefix(path, p) }) ||
		slices.Contains(k.Dirs, dir) ||
		slices.ContainsFunc(k.Suffixes, func(s string) bool { return strings.HasSuffix(path, s) }) ||
		slices.ContainsFunc(k.Contains, func(s string) bool { return strings.Contains(path, s) })
}

// upstreamAll loads the three upstream syscall files and more, every rule
// enabled.
func upstreamAll(t *testing.T, more ...rules.File) *rules.Ruleset {
	files := append([]rules.File{upstream(t, "falco_rules.yaml"), upstream(t, "falco-incubating_rules.yaml"), upstream(t, "falco-sandbox_rules.yaml")}, more...)
	rs := loadRuleset(t, files...)
	return loadRuleset(t, append(files, enableAll(rs))...)
}
