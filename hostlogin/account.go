package hostlogin

import (
	"errors"
	"fmt"
	"os/user"
)

// Groups returns the names of the groups user belongs to in the system's
// user database (the primary group and the supplementary ones, through
// NSS where the binary is built with cgo, else /etc/passwd and
// /etc/group). A user the database does not know has no groups and no
// error: the login is judged by name alone (and PAM's own account check
// will refuse it anyway). Any other failure is an error, since a block
// list by group cannot be honoured without the groups.
func Groups(name string) ([]string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if errors.As(err, new(user.UnknownUserError)) {
			return nil, nil
		}
		return nil, fmt.Errorf("look up user %s: %w", name, err)
	}
	gids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("list the groups of %s: %w", name, err)
	}
	names := make([]string, 0, len(gids))
	for _, gid := range gids {
		g, err := user.LookupGroupId(gid)
		if err != nil {
			if errors.As(err, new(user.UnknownGroupIdError)) {
				continue // a gid without a name matches no pattern
			}
			return nil, fmt.Errorf("look up group %s of %s: %w", gid, name, err)
		}
		names = append(names, g.Name)
	}
	return names, nil
}
