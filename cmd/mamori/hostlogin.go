//go:build !agentonly

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/hostlogin"
	"github.com/mamori-dev/mamori/policy"
	"github.com/mamori-dev/mamori/runtimehook"
)

const (
	defaultPolicyDir       = "/etc/mamori/policies"
	defaultHostLoginAlerts = "/var/log/mamori/hostlogins.jsonl"
)

const hostLoginHelp = `The hostLogins control of the runtime policies says which operating-system
users and groups may log in to the host. PAM enforces it: one line in a
service's PAM file runs 'mamori hostlogin check' through pam_exec in the
account phase, after the user has authenticated and before the session:

  account required pam_exec.so quiet stdout /usr/local/bin/mamori hostlogin check --policy /etc/mamori/policies

check reads the login from pam_exec's environment (PAM_USER, PAM_SERVICE,
PAM_RHOST, PAM_RUSER, PAM_TTY), the user's groups from the system's user
database, and the policies whose scope covers this host (host: hostname,
IP, group; not containers). An enforcing policy that refuses the user makes
it exit 1 with one line for the user, and PAM refuses the login; an
auditing one lets the login through. Either way an alert (rule "Host
Logins", action blocked or audited) is appended to --alerts-output as a
JSON line. If the policies cannot be loaded or the user database does not
answer, the login is allowed with a message and a check-failed alert, or,
with --fail-closed, refused. With --user it checks a user by hand: it
prints the verdict and why, and writes no alert.

install adds that line (after a marker comment) before the first account
line of each service's PAM file, or updates it; uninstall removes it.
Without --service, install edits sshd and login (those that exist) and
uninstall every file that has the marker. Both need root. --print prints
the line for config management instead of editing anything.

install names the mamori binary running it in the PAM line (or --binary):
a line whose binary is gone fails every login, so install refuses a binary
in a temporary directory or Go's build cache (go run); install mamori
first (go install ./cmd/mamori, or make install).

Test before you log out: pamtester SERVICE USER acct_mgmt (Debian package
pamtester) runs the account phase as a login would.

Exit status of check: 0 allowed (or audited, or failed open), 1 refused,
2 usage (which PAM also takes as a refusal).
`

func newHostLoginCmd() *cobra.Command {
	return group("hostlogin", "judge logins to the host by the policies' hostLogins control (PAM, pam_exec)", hostLoginHelp,
		newHostLoginCheckCmd(), newHostLoginInstallCmd(), newHostLoginUninstallCmd())
}

// checkFlags are the flags of check, which install writes into the PAM
// line as they were given.
type checkFlags struct {
	policies   listFlag
	alerts     *string
	failClosed *bool
	node       *string
	hostGroups listFlag
}

func addCheckFlags(fs *pflag.FlagSet) *checkFlags {
	c := &checkFlags{}
	fs.Var(&c.policies, "policy", "runtime policy file or directory (repeatable); default "+defaultPolicyDir)
	c.alerts = fs.String("alerts-output", defaultHostLoginAlerts, "append an alert per refused, audited or unchecked login to this file; empty for none")
	c.failClosed = fs.Bool("fail-closed", false, "refuse the login when the policies cannot be loaded or the user's groups read (default: allow it)")
	c.node = fs.String("node", "", "this host's name for host scopes; default the hostname (as mamori agent --node)")
	fs.Var(&c.hostGroups, "host-group", "a node group this host belongs to, for host: {group: ...} scopes (repeatable)")
	return c
}

func (c *checkFlags) paths() []string {
	if len(c.policies) == 0 {
		return []string{defaultPolicyDir}
	}
	return c.policies
}

// argv renders the flags for the PAM line, with absolute paths since
// pam_exec runs the check in the application's working directory.
func (c *checkFlags) argv() ([]string, error) {
	var out []string
	for _, p := range c.paths() {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		out = append(out, "--policy", abs)
	}
	if *c.alerts != defaultHostLoginAlerts {
		if *c.alerts == "" {
			return nil, errors.New("--alerts-output '' cannot be written into a PAM line; keep the default or name a file")
		}
		abs, err := filepath.Abs(*c.alerts)
		if err != nil {
			return nil, err
		}
		out = append(out, "--alerts-output", abs)
	}
	if *c.failClosed {
		out = append(out, "--fail-closed")
	}
	if *c.node != "" {
		out = append(out, "--node", *c.node)
	}
	for _, g := range c.hostGroups {
		out = append(out, "--host-group", g)
	}
	return out, nil
}

// errLoginRefused is what the user sees (through PAM) when a login is
// refused: it names no policy, list or pattern.
func errLoginRefused(user string) error {
	return fmt.Errorf("login as %s refused by this host's login policy", user)
}

func newHostLoginCheckCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "check [flags]",
		Short:   "judge the login pam_exec describes (or --user by hand)",
		Long:    hostLoginHelp,
		Example: "  mamori hostlogin check --policy /etc/mamori/policies --user alice",
		Args:    noArgs,
	}
	fs := cmd.Flags()
	cf := addCheckFlags(fs)
	byHand := fs.String("user", "", "check this user by hand instead of the PAM login: print the verdict and why, write no alert")
	service := fs.String("service", "", "with --user: the PAM service to report")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runHostLoginCheck(cf, byHand, service, os.Environ(), cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
	return cmd
}

func runHostLoginCheck(cf *checkFlags, byHand, service *string, environ []string, stdout, stderr io.Writer) error {
	now := time.Now()
	var login hostlogin.Login
	if *byHand != "" {
		login = hostlogin.Login{User: *byHand, Service: *service}
	} else {
		var err error
		if login, err = hostlogin.FromEnv(environ); err != nil {
			return usageError{err.Error()}
		}
		if !login.Judged() {
			return nil
		}
	}

	host, groups, verdict, err := judgeLogin(cf, login.User)
	if *byHand != "" {
		if err != nil {
			return fmt.Errorf("cannot judge %s: %w", login.User, err)
		}
		return printVerdict(stdout, login.User, groups, host, verdict)
	}
	if err != nil {
		refused := *cf.failClosed
		writeHostLoginAlert(*cf.alerts, hostlogin.FailedAlert(err, refused, login, groups, host.Hostname, now), stderr)
		if refused {
			return fmt.Errorf("login as %s refused: this host's login policy could not be checked", login.User)
		}
		fmt.Fprintln(stderr, "mamori hostlogin: this host's login policy could not be checked; login allowed")
		return nil
	}
	if verdict.Action != "" {
		writeHostLoginAlert(*cf.alerts, hostlogin.Alert(verdict, login, groups, host.Hostname, now), stderr)
	}
	if verdict.Refused() {
		return errLoginRefused(login.User)
	}
	return nil
}

// judgeLogin loads the policies, reads the host's facts and the user's
// groups, and decides. Whatever it learnt before an error is returned
// with it, for the alert.
func judgeLogin(cf *checkFlags, user string) (policy.HostFacts, []string, hostlogin.Verdict, error) {
	host, err := hostlogin.Host(*cf.node, cf.hostGroups)
	if err != nil {
		return host, nil, hostlogin.Verdict{}, err
	}
	set, err := policy.Load(cf.paths()...)
	if err != nil {
		return host, nil, hostlogin.Verdict{}, fmt.Errorf("load the policies: %w", err)
	}
	groups, err := hostlogin.Groups(user)
	if err != nil {
		return host, nil, hostlogin.Verdict{}, err
	}
	return host, groups, hostlogin.Decide(hostlogin.Effective(set, host), user, groups), nil
}

// writeHostLoginAlert appends the alert; a failure to write it does not
// change the verdict, and its message goes where pam_exec sends stderr.
func writeHostLoginAlert(path string, a *event.Alert, stderr io.Writer) {
	if path == "" {
		return
	}
	if err := hostlogin.Append(path, a); err != nil {
		fmt.Fprintf(stderr, "mamori hostlogin: alert not written: %v\n", err)
	}
}

func printVerdict(w io.Writer, user string, groups []string, host policy.HostFacts, v hostlogin.Verdict) error {
	gs := strings.Join(groups, ", ")
	if gs == "" {
		gs = "none"
	}
	fmt.Fprintf(w, "user %s (groups: %s) on host %s: ", user, gs, host.Hostname)
	switch v.Action {
	case "":
		fmt.Fprintln(w, "allowed")
		return nil
	case event.Audited:
		fmt.Fprintf(w, "allowed, reported (audit): %s [policy %s]\n", v.Reason, strings.Join(v.Policies, ", "))
		return nil
	}
	fmt.Fprintf(w, "refused (enforce): %s [policy %s]\n", v.Reason, strings.Join(v.Policies, ", "))
	return errLoginRefused(user)
}

var defaultLoginServices = []string{"sshd", "login"}

func newHostLoginInstallCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "install [flags]",
		Short:   "add the pam_exec line to PAM services (or --print it)",
		Long:    hostLoginHelp,
		Example: "  sudo mamori hostlogin install --service sshd\n  mamori hostlogin install --print --policy /etc/mamori/policies",
		Args:    noArgs,
	}
	fs := cmd.Flags()
	var services listFlag
	fs.Var(&services, "service", "PAM service to guard (repeatable or comma-separated: sshd, login, su, ...); default sshd and login, those installed")
	pamDir := fs.String("pam-dir", "/etc/pam.d", "the PAM configuration directory")
	printOnly := fs.Bool("print", false, "print the PAM line and change nothing")
	binary := fs.String("binary", "", "the mamori binary the PAM line runs (default: the one running install)")
	allowTemp := fs.Bool("allow-temporary-binary", false, "install even when the binary is in a temporary directory or Go's build cache (for tests)")
	cf := addCheckFlags(fs)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runHostLoginInstall(cmd.OutOrStdout(), services, *pamDir, *printOnly, *binary, *allowTemp, cf)
	}
	return cmd
}

func runHostLoginInstall(stdout io.Writer, services listFlag, pamDirPath string, printOnlyFlag bool, binary string, allowTemp bool, cf *checkFlags) error {
	pamDir, printOnly := &pamDirPath, &printOnlyFlag
	self := binary
	if self == "" {
		var err error
		if self, err = os.Executable(); err != nil {
			return fmt.Errorf("find the mamori binary to name in the PAM line: %w", err)
		}
	}
	self, err := filepath.Abs(self)
	if err == nil {
		self, err = filepath.EvalSymlinks(self)
	}
	if err != nil {
		return fmt.Errorf("the mamori binary to name in the PAM line: %w", err)
	}
	if why := runtimehook.Transient(self); why != "" && !allowTemp {
		return fmt.Errorf("the PAM line would run %s, but %s; pam_exec then fails and so does every login it guards. "+
			"Install mamori first (go install ./cmd/mamori, or make install into /usr/local/bin) and run that one, or name it with --binary", self, why)
	}
	flags, err := cf.argv()
	if err != nil {
		return usageError{err.Error()}
	}
	entry, err := hostlogin.Entry(append([]string{self, "hostlogin", "check"}, flags...))
	if err != nil {
		return err
	}
	if *printOnly {
		fmt.Fprintln(stdout, entry)
		return nil
	}
	if os.Geteuid() != 0 {
		return errors.New("editing PAM files needs root: run it with sudo, or print the line with --print and add it yourself")
	}
	files, err := serviceFiles(*pamDir, services)
	if err != nil {
		return err
	}
	for _, f := range files {
		ch, err := hostlogin.Install(f, entry)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		fmt.Fprintf(stdout, "%s: %s\n", f, ch)
	}
	fmt.Fprintf(stdout, "the line: %s\ncheck it before you log out: pamtester %s $USER acct_mgmt\n", entry, filepath.Base(files[0]))
	return nil
}

func newHostLoginUninstallCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "uninstall [flags]",
		Short: "remove mamori's pam_exec line from PAM services",
		Long:  hostLoginHelp,
		Args:  noArgs,
	}
	fs := cmd.Flags()
	var services listFlag
	fs.Var(&services, "service", "PAM service to stop guarding (repeatable); default every file with mamori's line")
	pamDir := fs.String("pam-dir", "/etc/pam.d", "the PAM configuration directory")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runHostLoginUninstall(cmd.OutOrStdout(), services, pamDir)
	}
	return cmd
}

func runHostLoginUninstall(stdout io.Writer, services listFlag, pamDir *string) error {
	if os.Geteuid() != 0 {
		return errors.New("editing PAM files needs root: run it with sudo")
	}
	var files []string
	if len(services) > 0 {
		var err error
		if files, err = serviceFiles(*pamDir, services); err != nil {
			return err
		}
	} else {
		entries, err := os.ReadDir(*pamDir)
		if err != nil {
			return fmt.Errorf("list the PAM directory: %w", err)
		}
		for _, e := range entries {
			f := filepath.Join(*pamDir, e.Name())
			if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
				if ok, err := hostlogin.Installed(f); err == nil && ok {
					files = append(files, f)
				}
			}
		}
		if len(files) == 0 {
			fmt.Fprintf(stdout, "no file in %s has mamori's line\n", *pamDir)
			return nil
		}
	}
	for _, f := range files {
		ch, err := hostlogin.Uninstall(f)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		fmt.Fprintf(stdout, "%s: %s\n", f, ch)
	}
	return nil
}

// serviceFiles resolves service names to their PAM files, all of which
// must exist; without names, the default services that exist.
func serviceFiles(dir string, services []string) ([]string, error) {
	explicit := len(services) > 0
	if !explicit {
		services = defaultLoginServices
	}
	var files, missing []string
	for _, s := range services {
		if strings.ContainsRune(s, '/') {
			return nil, usageError{fmt.Sprintf("--service %q: name a PAM service (a file in --pam-dir), not a path", s)}
		}
		f := filepath.Join(dir, s)
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, s)
			continue
		}
		files = append(files, f)
	}
	switch {
	case explicit && len(missing) > 0:
		return nil, fmt.Errorf("no PAM file for %s in %s; is the service installed? (nothing was changed)", strings.Join(missing, ", "), dir)
	case len(files) == 0:
		return nil, fmt.Errorf("none of %s has a PAM file in %s; name the services to guard with --service", strings.Join(defaultLoginServices, ", "), dir)
	}
	return files, nil
}
