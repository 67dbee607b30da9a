package hostlogin

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/event"
)

// Rule is the alert's rule name, as guard.RuleName spells the control.
const Rule = "Host Logins"

// CheckFailed is the action of an alert about a login that could not be
// judged (a policy file that does not load, a user database that does not
// answer): allowed when failing open, refused when failing closed.
const CheckFailed = "check-failed"

// Alert is the alert for a login the verdict refused or reported.
func Alert(v Verdict, l Login, groups []string, hostname string, now time.Time) *event.Alert {
	priority, verb := "Critical", "refused"
	if v.Action == event.Audited {
		priority, verb = "Warning", "would be refused (audit)"
	}
	a := newAlert(l, groups, hostname, now, priority,
		fmt.Sprintf("Login of user %s %s %s: %s", l.User, where(l), verb, v.Reason))
	a.Action, a.Policy = v.Action, strings.Join(v.Policies, ",")
	return a
}

// FailedAlert is the alert for a login that could not be judged; refused
// says whether it was refused (fail-closed) or let through (fail-open).
func FailedAlert(cause error, refused bool, l Login, groups []string, hostname string, now time.Time) *event.Alert {
	outcome := "allowed (fail-open)"
	if refused {
		outcome = "refused (fail-closed)"
	}
	a := newAlert(l, groups, hostname, now, "Error",
		fmt.Sprintf("Login of user %s %s not checked, %s: %v", l.User, where(l), outcome, cause))
	a.Action = CheckFailed
	return a
}

func newAlert(l Login, groups []string, hostname string, now time.Time, priority, msg string) *event.Alert {
	if groups == nil {
		groups = []string{}
	}
	return &event.Alert{
		Kind:     "alert",
		Time:     now,
		Rule:     Rule,
		Priority: priority,
		Output:   now.Format("15:04:05.000000000") + ": " + priority + " " + msg,
		OutputFields: map[string]any{
			"user": l.User, "groups": groups, "service": l.Service,
			"rhost": l.RHost, "ruser": l.RUser, "tty": l.TTY,
		},
		Source:   "host",
		Tags:     []string{"host", "login"},
		Hostname: hostname,
		Control:  Control,
	}
}

// where describes the login's path: "via sshd from 192.0.2.7".
func where(l Login) string {
	s := "via " + l.Service
	if l.Service == "" {
		s = "via an unnamed PAM service"
	}
	if l.RHost != "" {
		s += " from " + l.RHost
	}
	if l.RUser != "" && l.RUser != l.User {
		s += " asked by " + l.RUser
	}
	return s
}

// Append writes a as one JSON line at the end of path, creating the file
// (mode 0640) and its directory (0750) when missing. The line goes out in
// a single write to a file opened for appending, so concurrent logins do
// not interleave their lines.
func Append(path string, a *event.Alert) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if os.IsNotExist(err) {
		if err = os.MkdirAll(filepath.Dir(path), 0o750); err == nil {
			f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		}
	}
	if err != nil {
		return fmt.Errorf("open the alerts file: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write the alert to %s: %w", path, err)
	}
	return f.Close()
}
