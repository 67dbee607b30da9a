package auth

import (
	"github.com/nats-io/nats-server/v2/server"

	"github.com/mamori-dev/mamori/console/wire"
)

// NkeyUsers are the NATS server's users: the console itself, with every
// permission, and each agent whose credential is not revoked, with its
// node's permissions.
func (r *Registry) NkeyUsers() ([]*server.NkeyUser, error) {
	kp, err := r.ConsoleKey()
	if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	users := []*server.NkeyUser{{Nkey: pub}}
	for _, a := range r.Agents() {
		if !a.Revoked.IsZero() {
			continue
		}
		pubs, subs := wire.AgentPermissions(a.Cluster, a.Node)
		users = append(users, &server.NkeyUser{Nkey: a.NKey, Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: pubs},
			Subscribe: &server.SubjectPermission{Allow: subs},
		}})
	}
	return users, nil
}
