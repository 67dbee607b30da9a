package detect

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/defaults"
)

// enableAll is a rules file that turns on every rule of rs that is
// disabled, as a user's override would.
func enableAll(rs *rules.Ruleset) rules.File {
	var b strings.Builder
	for _, r := range rs.Rules() {
		if !r.Enabled {
			fmt.Fprintf(&b, "- rule: %s\n  enabled: true\n  override:\n    enabled: replace\n", r.Name)
		}
	}
	return rules.File{Name: "enable.yaml", Data: []byte(b.String())}
}

// TestCaptureOfUpstreamRules works out what the three upstream syscall
// files need of opens, every rule enabled, and checks that each rule that
// matches reads is covered by keys the kernel can test, narrow ones, and
// that failed opens are wanted only where Falco's open_file_failed is.
func TestCaptureOfUpstreamRules(t *testing.T) {
	files := []rules.File{upstream(t, "falco_rules.yaml"), upstream(t, "falco-incubating_rules.yaml"), upstream(t, "falco-sandbox_rules.yaml")}
	rs := loadRuleset(t, files...)
	rs = loadRuleset(t, append(files, enableAll(rs))...)
	n := NeedsOf(rs)
	if n.Reads.All {
		t.Errorf("some rule needs every read-only open")
	}
	reads := map[string]PathKeys{}
	var failed []string
	for _, rn := range n.Rules {
		if rn.MatchesReads {
			reads[rn.Rule.Name] = rn.Reads
		}
		if rn.MatchesFail {
			failed = append(failed, rn.Rule.Name)
		}
	}
	want := map[string]string{
		"Directory traversal monitored file read":             "holding ../",
		"Read sensitive file trusted after startup":           "under /etc/pam.conf, /etc/security/pwquality.conf, /etc/shadow, /etc/sudoers; in /etc/pam.d/, /etc/sudoers.d/",
		"Read sensitive file untrusted":                       "under /etc/pam.conf, /etc/security/pwquality.conf, /etc/shadow, /etc/sudoers; in /etc/pam.d/, /etc/sudoers.d/",
		"Read ssh information":                                "under /root/.ssh; holding /.ssh/",
		"Read environment variable from /proc files":          "ending /environ",
		"Exfiltrating Artifacts via Kubernetes Control Plane": "by tar",
		"Backdoored library loaded into SSHD (CVE-2024-3094)": "by sshd",
		"Read Shell Configuration File":                       "under /etc/bashrc, /etc/csh.cshrc, /etc/csh.login, /etc/profile; in /etc/zsh/; ending /.bash_history, /.bash_login, /.bash_logout, /.bash_profile, /.bashrc, /.cshdirs, /.cshrc, /.history, /.inputrc, /.login, /.logout, /.profile, /.tcshrc, /.zlogin, /.zlogout, /.zprofile, /.zshenv, /.zshrc",
		"Privileged Container Device Access":                  "under /dev/kmem, /dev/mem, /dev/nvme, /dev/sd, /dev/vd, /dev/xvd",
		"Container Access to Host Sensitive Paths":            "under /host/, /hostfs/, /rootfs/",
	}
	for name, w := range want {
		k, ok := reads[name]
		if !ok {
			t.Errorf("%s: matches no read-only open", name)
			continue
		}
		k.sort()
		if got := k.String(); got != w {
			t.Errorf("%s: reads %s, want %s", name, got, w)
		}
	}
	for name := range reads {
		if _, ok := want[name]; !ok {
			t.Errorf("%s matches read-only opens (%s), which its condition does not say", name, reads[name])
		}
	}
	// Falco's rules match failed opens in two places: open_file_failed,
	// and a failed O_CREAT below /dev.
	if !slices.Equal(failed, []string{"Directory traversal monitored file read", "Create files below dev"}) {
		t.Errorf("rules that match failed opens: %q", failed)
	}
	if got := n.Failed.String(); got != "in /dev/; holding ../" {
		t.Errorf("failed opens: %s", got)
	}
}

// TestWriteCaptureOfUpstreamRules checks what the three upstream syscall
// files need of opens for writing, every rule enabled: keys for every
// rule, so that a storm of writes the rules cannot match stays in the
// kernel; Falco's fd.directory as the directory itself ("/" is not every
// path); a substring longer than the kernel's 16 bytes cut to its head
// rather than given up; and the container macro as the key "in
// containers".
func TestWriteCaptureOfUpstreamRules(t *testing.T) {
	files := []rules.File{upstream(t, "falco_rules.yaml"), upstream(t, "falco-incubating_rules.yaml"), upstream(t, "falco-sandbox_rules.yaml")}
	rs := loadRuleset(t, files...)
	rs = loadRuleset(t, append(files, enableAll(rs))...)
	n := NeedsOf(rs)
	if n.Writes.All {
		t.Errorf("some rule needs every open for writing")
	}
	want := map[string]string{
		"Write below root":                       "under /root/; in /",
		"Create files below dev":                 "in /dev/",
		"Write below binary dir":                 "in /bin/, /sbin/, /usr/bin/, /usr/sbin/",
		"Write below etc":                        "under /etc/",
		"Delete or rename shell history":         "ending ash_history, fish_history, zsh_history; holding fish_read_histor",
		"Container Drift Detected (open+create)": "in containers",
		"Clear Log Activities":                   "in /dev/log/, /var/log/; ending /access_log, /auth.log, /cron, /dpkg.log, /kern.log, /last.log, /mysql.log, /mysqld.log, /secure, /syslog, /user.log, /yum.log",
	}
	got := map[string]string{}
	for _, rn := range n.Rules {
		if rn.MatchesWrites {
			if rn.Writes.All {
				t.Errorf("%s needs every open for writing", rn.Rule.Name)
			}
			got[rn.Rule.Name] = rn.Writes.String()
		}
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: writes %q, want %q", name, got[name], w)
		}
	}
	for _, name := range []string{"Run shell untrusted", "Terminal shell in container", "Netcat Remote Code Execution in Container"} {
		if g, ok := got[name]; ok {
			t.Errorf("%s matches opens for writing (%s), which it cannot", name, g)
		}
	}
	// A rule on opens for reading matches those that also write (O_RDWR)
	// and no open for writing only.
	for _, rn := range n.Rules {
		if rn.Rule.Name == "Exfiltrating Artifacts via Kubernetes Control Plane" &&
			(rn.MatchesWrites || !rn.MatchesReadWrites || rn.ReadWrites.String() != "by tar") {
			t.Errorf("%s: writes %v %s, read-writes %v %s; want none, and by tar", rn.Rule.Name, rn.MatchesWrites, rn.Writes, rn.MatchesReadWrites, rn.ReadWrites)
		}
	}
	if len(n.Writes.Contains) > 4 {
		t.Errorf("writes look for %d substrings, more than the kernel's 4: %q", len(n.Writes.Contains), n.Writes.Contains)
	}
}

// TestResolvedKeys checks that keys on fd.realpath, and only those, make
// the kernel walk an open's dentries to decide (PathKeys.Resolved), and
// that mamori's built-in rules need it for reads (Secret file read names
// fd.realpath) but not for opens for writing only.
func TestResolvedKeys(t *testing.T) {
	rs := loadRuleset(t, rules.File{Name: "r.yaml", Data: []byte(`
- rule: by name
  desc: d
  condition: evt.type = open and evt.is_open_write = true and fd.name startswith /srv/
  output: o
  priority: WARNING
- rule: by real path
  desc: d
  condition: evt.type = open and evt.is_open_read = true and fd.realpath startswith /srv/
  output: o
  priority: WARNING
`)})
	n := NeedsOf(rs)
	if n.Writes.Resolved || n.Writes.String() != "under /srv/" {
		t.Errorf("writes: %s, resolved %v; want under /srv/ on the path as given", n.Writes, n.Writes.Resolved)
	}
	if !n.ReadWrites.Resolved || n.ReadWrites.String() != "under /srv/" {
		t.Errorf("read-writes: %s, resolved %v; want under /srv/ on the resolved path too", n.ReadWrites, n.ReadWrites.Resolved)
	}
	if !n.Reads.Resolved || n.Reads.String() != "under /srv/" {
		t.Errorf("reads: %s, resolved %v; want under /srv/ on the resolved path", n.Reads, n.Reads.Resolved)
	}
	n = NeedsOf(loadRuleset(t, defaults.File()))
	if !n.Reads.Resolved || n.Writes.Resolved || n.Writes.All || n.ReadWrites.All {
		t.Errorf("built-in rules: reads resolved %v, writes resolved %v, all writes %v %v; want true, false, false, false", n.Reads.Resolved, n.Writes.Resolved, n.Writes.All, n.ReadWrites.All)
	}
}

// TestPmatchKeys checks the keys of pmatch, which holds a path itself and
// what is below it, and whose wildcards may stand in the middle of a
// component: "/etc/apt" must let "/etc/apt" through, "/etc/ap*" must let
// "/etc/apt/x" through.
func TestPmatchKeys(t *testing.T) {
	rs := loadRuleset(t, rules.File{Name: "r.yaml", Data: []byte(`
- rule: by name
  desc: d
  condition: evt.type = open and evt.is_open_read = true and fd.name pmatch (/etc/apt/, /var/ca*/x, /srv)
  output: o
  priority: WARNING
- rule: by directory
  desc: d
  condition: evt.type = open and evt.is_open_write = true and fd.directory pmatch (/etc/ca*, /opt)
  output: o
  priority: WARNING
`)})
	n := NeedsOf(rs)
	if got := n.Reads.String(); got != "under /etc/apt, /srv, /var/ca" {
		t.Errorf("reads: %s", got)
	}
	if got := n.Writes.String(); got != "under /etc/ca, /opt" {
		t.Errorf("writes: %s", got)
	}
}

// TestConnectCapture works out which connects the rules need: the
// built-in rules only those to the mining pools' ports, and each upstream
// rule that matches connects the keys its condition gives (a port list,
// "in a container"), or every connect where nothing bounds it.
func TestConnectCapture(t *testing.T) {
	n := NeedsOf(loadRuleset(t, defaults.File()))
	if got := n.Connects.String(); got != "to peer port 3333, 3334, 3335, 4444, 5555, 5556, 7777, 8888, 9999, 14433, 14444, 45560, 45700" {
		t.Errorf("built-in rules need connects %s", got)
	}

	files := []rules.File{upstream(t, "falco_rules.yaml"), upstream(t, "falco-incubating_rules.yaml"), upstream(t, "falco-sandbox_rules.yaml")}
	rs := loadRuleset(t, files...)
	rs = loadRuleset(t, append(files, enableAll(rs))...)
	got := map[string]string{}
	for _, rn := range NeedsOf(rs).Rules {
		if rn.MatchesConnects {
			got[rn.Rule.Name] = rn.Connects.String()
		}
	}
	want := map[string]string{
		"Contact K8S API Server From Container":                  "in a container",
		"Contact EC2 Instance Metadata Service From Container":   "in a container",
		"Contact cloud metadata service from container":          "in a container",
		"Network Connection outside Local Subnet":                "in a container",
		"Unexpected K8s NodePort Connection":                     "in a container",
		"Disallowed SSH Connection Non Standard Port":            "to peer port 53, 80, 88, 443, 4444, 8080, 8443",
		"System procs network activity":                          "all",
		"Unexpected UDP Traffic":                                 "all",
		"Interpreted procs outbound network activity":            "all",
		"Detect outbound connections to common miner pool ports": "to peer port 25, 80, 443, 3333, 3334, 3335, 3336, 3357, 4444, 5555, 5556, 5588, 5730, 6099, 6666, 7777, 7778, 8000, 8001, 8008, 8080, 8118, 8333, 8888, 8899, 9332, 9999, 14433, 14444, 45560, 45700",
	}
	for name, w := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s: matches no connect", name)
		} else if g != w {
			t.Errorf("%s: connects %s; want %s", name, g, w)
		}
	}
	for name, g := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: matches connects %s, which this test does not expect", name, g)
		}
	}
}
