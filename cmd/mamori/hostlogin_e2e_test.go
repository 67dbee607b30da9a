package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/podmantest"
)

// pamTest is a PAM stack of the test's own: real users and groups added
// with useradd and groupadd, and service files in /etc/pam.d named
// mamori-test-<random>, all removed when the test ends. The system's own
// services are never touched.
type pamTest struct {
	t      *testing.T
	prefix string // unique per run, for users, groups and services
	n      int
}

func requirePAM(t *testing.T) *pamTest {
	t.Helper()
	missing := ""
	switch {
	case os.Geteuid() != 0:
		missing = "needs root (useradd, /etc/pam.d)"
	case lookPath("pamtester") != nil:
		missing = "pamtester is not installed (scripts/install-deps.sh installs it)"
	case lookPath("useradd") != nil:
		missing = "useradd is not installed"
	}
	if _, err := os.Stat("/etc/pam.d"); missing == "" && err != nil {
		missing = "no /etc/pam.d"
	}
	if missing != "" {
		if os.Getenv(podmantest.StrictEnv) == "1" {
			t.Fatalf("host-login PAM test: %s (%s=1)", missing, podmantest.StrictEnv)
		}
		t.Skipf("host-login PAM test: %s", missing)
	}
	b := make([]byte, 3)
	rand.Read(b)
	return &pamTest{t: t, prefix: "mmt" + hex.EncodeToString(b)}
}

func lookPath(name string) error { _, err := exec.LookPath(name); return err }

func (p *pamTest) run(name string, args ...string) {
	p.t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		p.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// group adds a group and returns its name.
func (p *pamTest) group(suffix string) string {
	name := p.prefix + suffix
	p.run("groupadd", name)
	p.t.Cleanup(func() { exec.Command("groupdel", name).Run() })
	return name
}

// user adds a user without a home directory, with its own primary group
// or the one given, and supplementary groups.
func (p *pamTest) user(suffix, primary string, supplementary ...string) string {
	name := p.prefix + suffix
	args := []string{"-M", "-s", "/usr/sbin/nologin"}
	if primary != "" {
		args = append(args, "-N", "-g", primary)
	} else {
		args = append(args, "-U")
	}
	if len(supplementary) > 0 {
		args = append(args, "-G", strings.Join(supplementary, ","))
	}
	p.run("useradd", append(args, name)...)
	p.t.Cleanup(func() { exec.Command("userdel", name).Run() })
	return name
}

// service writes a PAM service whose account phase is only the check
// with checkArgs, and returns its name.
func (p *pamTest) service(checkArgs ...string) string {
	p.n++
	name := fmt.Sprintf("mamori-test-%s-%d", p.prefix, p.n)
	line := "account required pam_exec.so quiet stdout " + mamoriBin + " hostlogin check " + strings.Join(checkArgs, " ")
	p.pamFile(name, "auth required pam_permit.so\n"+line+"\n")
	return name
}

func (p *pamTest) pamFile(name, body string) string {
	f := filepath.Join("/etc/pam.d", name)
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { os.Remove(f) })
	return f
}

// policies writes a policy directory holding body.
func (p *pamTest) policies(body string) string {
	dir := p.t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "logins.yaml"), []byte(body), 0o644); err != nil {
		p.t.Fatal(err)
	}
	return dir
}

// login runs the account phase of service for user, as sshd would after
// authentication: nil when PAM lets the user in.
func (p *pamTest) login(service, user string) (string, error) {
	out, err := exec.Command("pamtester", service, user, "acct_mgmt").CombinedOutput()
	return string(out), err
}

func (p *pamTest) expect(service, user string, allowed bool) {
	p.t.Helper()
	out, err := p.login(service, user)
	if allowed && err != nil {
		p.t.Errorf("%s via %s refused, want allowed: %v\n%s", user, service, err, out)
	}
	if !allowed {
		if err == nil {
			p.t.Errorf("%s via %s allowed, want refused\n%s", user, service, out)
		} else if !strings.Contains(out, "login as "+user+" refused by this host's login policy") {
			p.t.Errorf("%s via %s: the user is not told why:\n%s", user, service, out)
		}
	}
}

func readHostLoginAlerts(t *testing.T, path string) []event.Alert {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []event.Alert
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var a event.Alert
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("%s: %v: %s", path, err, sc.Text())
		}
		out = append(out, a)
	}
	return out
}

func loginPolicy(name, mode, scope, controls string) string {
	return fmt.Sprintf("apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata: {name: %s}\nspec:\n  mode: %s\n  scope: %s\n  controls:\n    hostLogins: %s\n---\n",
		name, mode, scope, controls)
}

// TestHostLoginPAM runs real PAM account phases (pamtester acct_mgmt)
// through pam_exec and `mamori hostlogin check`, for real users and
// groups: block lists by user and by supplementary group refuse, and the
// user is told so in one line without the policy's details; an allow list
// by group lets in only its members (by primary or supplementary group);
// audit mode lets the login through with an audited alert; a policy
// scoped to another hostname changes nothing, one scoped to this host
// applies; a policy that does not load fails open, or closed with
// --fail-closed; install and uninstall edit a service file and take
// effect on the next login.
func TestHostLoginPAM(t *testing.T) {
	p := requirePAM(t)
	ops, contractors := p.group("ops"), p.group("ctr")
	alice := p.user("alice", "")
	bob := p.user("bob", "")
	carol := p.user("carol", "", contractors)
	dave := p.user("dave", "", ops)
	erin := p.user("erin", ops) // ops is her primary group
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	const onHost = "{not: {container: {}}}"

	t.Run("enforce block lists", func(t *testing.T) {
		alerts := filepath.Join(t.TempDir(), "log", "hostlogins.jsonl")
		pol := p.policies(loginPolicy("no-bob", "enforce", onHost, fmt.Sprintf("{blockUsers: [%s], blockGroups: [%s]}", bob, contractors)))
		svc := p.service("--policy", pol, "--alerts-output", alerts)
		p.expect(svc, alice, true)
		p.expect(svc, bob, false)
		p.expect(svc, carol, false)
		out, _ := p.login(svc, bob)
		if strings.Contains(out, "blockUsers") || strings.Contains(out, "no-bob") {
			t.Errorf("the user is shown policy details:\n%s", out)
		}
		got := readHostLoginAlerts(t, alerts)
		if len(got) != 3 {
			t.Fatalf("%d alerts, want 3 (bob twice, carol): %+v", len(got), got)
		}
		for i, want := range []string{bob, carol} {
			a := got[i]
			if a.Rule != "Host Logins" || a.Action != event.Blocked || a.Control != "hostLogins" || a.Policy != "no-bob" ||
				a.Source != "host" || a.OutputFields["user"] != want || a.OutputFields["service"] != svc || a.Hostname != hostname {
				t.Errorf("alert %d: %+v", i, a)
			}
		}
		if !strings.Contains(got[1].Output, contractors) {
			t.Errorf("carol's alert does not name the group: %s", got[1].Output)
		}
	})

	t.Run("allow list by group", func(t *testing.T) {
		pol := p.policies(loginPolicy("ops-only", "enforce", onHost, fmt.Sprintf("{allowGroups: [%s]}", ops)))
		svc := p.service("--policy", pol, "--alerts-output", filepath.Join(t.TempDir(), "a.jsonl"))
		p.expect(svc, dave, true) // supplementary
		p.expect(svc, erin, true) // primary
		p.expect(svc, alice, false)
		p.expect(svc, carol, false)
	})

	t.Run("audit lets in and reports", func(t *testing.T) {
		alerts := filepath.Join(t.TempDir(), "a.jsonl")
		pol := p.policies(loginPolicy("trial", "audit", onHost, fmt.Sprintf("{blockUsers: [%s]}", bob)))
		svc := p.service("--policy", pol, "--alerts-output", alerts)
		p.expect(svc, bob, true)
		p.expect(svc, alice, true)
		got := readHostLoginAlerts(t, alerts)
		if len(got) != 1 || got[0].Action != event.Audited || got[0].OutputFields["user"] != bob || got[0].Policy != "trial" {
			t.Errorf("alerts: %+v; want one audited for %s", got, bob)
		}
	})

	t.Run("host scope", func(t *testing.T) {
		alerts := filepath.Join(t.TempDir(), "a.jsonl")
		pol := p.policies(loginPolicy("elsewhere", "enforce", "{host: {hostname: not-"+hostname+"}}", fmt.Sprintf("{blockUsers: [%s]}", alice)) +
			loginPolicy("here", "enforce", "{host: {hostname: "+hostname+"}}", fmt.Sprintf("{blockUsers: [%s]}", bob)) +
			loginPolicy("group", "enforce", "{host: {group: edge}}", fmt.Sprintf("{blockUsers: [%s]}", dave)))
		svc := p.service("--policy", pol, "--alerts-output", alerts)
		p.expect(svc, alice, true)
		p.expect(svc, bob, false)
		p.expect(svc, dave, true)
		edge := p.service("--policy", pol, "--alerts-output", alerts, "--host-group", "edge")
		p.expect(edge, dave, false)
		for _, a := range readHostLoginAlerts(t, alerts) {
			if a.Policy == "elsewhere" {
				t.Errorf("a policy for another host raised %+v", a)
			}
		}
	})

	t.Run("broken policy fails open, or closed", func(t *testing.T) {
		alerts := filepath.Join(t.TempDir(), "a.jsonl")
		pol := p.policies("apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata: {name: broken\n")
		open := p.service("--policy", pol, "--alerts-output", alerts)
		closed := p.service("--policy", pol, "--alerts-output", alerts, "--fail-closed")
		out, err := p.login(open, alice)
		if err != nil || !strings.Contains(out, "could not be checked; login allowed") || strings.Contains(out, "logins.yaml") {
			t.Errorf("fail-open: %v\n%s", err, out)
		}
		if out, err := p.login(closed, alice); err == nil || !strings.Contains(out, "refused: this host's login policy could not be checked") {
			t.Errorf("fail-closed: %v\n%s", err, out)
		}
		got := readHostLoginAlerts(t, alerts)
		if len(got) != 2 || got[0].Action != "check-failed" || !strings.Contains(got[0].Output, "logins.yaml:") ||
			!strings.Contains(got[0].Output, "fail-open") || !strings.Contains(got[1].Output, "fail-closed") {
			t.Errorf("alerts: %+v", got)
		}
	})

	t.Run("install and uninstall", func(t *testing.T) {
		name := fmt.Sprintf("mamori-test-%s-install", p.prefix)
		orig := "auth required pam_permit.so\naccount required pam_permit.so\n"
		f := p.pamFile(name, orig)
		pol := p.policies(loginPolicy("no-bob", "enforce", onHost, fmt.Sprintf("{blockUsers: [%s]}", bob)))
		alerts := filepath.Join(t.TempDir(), "a.jsonl")
		p.expect(name, bob, true)
		for range 2 {
			p.run(mamoriBin, "hostlogin", "install", "--allow-temporary-binary", "--service", name, "--policy", pol, "--alerts-output", alerts)
		}
		b, _ := os.ReadFile(f)
		if strings.Count(string(b), "pam_exec.so") != 1 || !strings.HasPrefix(strings.SplitN(string(b), "\n", 3)[1], "# mamori hostlogin:") {
			t.Errorf("after two installs:\n%s", b)
		}
		p.expect(name, bob, false)
		p.expect(name, alice, true)
		out, err := exec.Command(mamoriBin, "hostlogin", "uninstall", "--service", name).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "removed") {
			t.Errorf("uninstall: %v\n%s", err, out)
		}
		if b, _ := os.ReadFile(f); string(b) != orig {
			t.Errorf("after uninstall:\n%s\nwant:\n%s", b, orig)
		}
		p.expect(name, bob, true)
		if out, err := exec.Command(mamoriBin, "hostlogin", "install", "--allow-temporary-binary", "--service", "no-such-service-"+p.prefix, "--policy", pol).CombinedOutput(); err == nil ||
			!strings.Contains(string(out), "no PAM file for") {
			t.Errorf("install for a missing service: %v\n%s", err, out)
		}
	})
}
