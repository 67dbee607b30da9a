package hostlogin

import (
	"errors"
	"strings"
)

// Login is one login attempt as PAM describes it to pam_exec.
type Login struct {
	User    string // PAM_USER: the account being logged in to
	Service string // PAM_SERVICE: sshd, login, su, ...
	RHost   string // PAM_RHOST: the remote host, if any
	RUser   string // PAM_RUSER: who asks, for su and sudo
	TTY     string // PAM_TTY
	Type    string // PAM_TYPE: account, auth, open_session, ...
}

// ErrNoUser is returned by FromEnv when PAM named no user.
var ErrNoUser = errors.New("PAM_USER is not set: run under pam_exec (account phase), or name the user with --user")

// FromEnv reads a Login from a pam_exec environment (os.Environ()).
//
// pam_exec builds the environment from the PAM environment list, which a
// user can influence (pam_env's user files), and then appends the PAM
// items. So when a name appears twice, the last one is PAM's own item and
// the earlier one is whatever the user put there: the last one wins.
func FromEnv(environ []string) (Login, error) {
	var l Login
	fields := map[string]*string{
		"PAM_USER": &l.User, "PAM_SERVICE": &l.Service, "PAM_RHOST": &l.RHost,
		"PAM_RUSER": &l.RUser, "PAM_TTY": &l.TTY, "PAM_TYPE": &l.Type,
	}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if p := fields[k]; ok && p != nil {
			*p = v
		}
	}
	if l.User == "" {
		return l, ErrNoUser
	}
	return l, nil
}

// Judged reports whether a login of this PAM type is one to decide on.
// The check belongs in the account phase; placed in auth or session it
// still decides when the session opens, but never when it closes or a
// password changes, where refusing would lock nobody out and only break
// logouts and password changes.
func (l Login) Judged() bool {
	switch l.Type {
	case "", "account", "auth", "open_session":
		return true
	}
	return false
}
