package console

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/mamori-dev/mamori/console/api"
	"github.com/mamori-dev/mamori/console/auth"
	"github.com/mamori-dev/mamori/console/wire"
)

// AdminTokenFile is where a first run writes the admin token, under the
// data directory.
const AdminTokenFile = "admin.token"

// openAuth loads (or on a first run makes) the credentials and the CA.
func (c *Console) openAuth() error {
	var err error
	if c.reg, err = auth.Open(c.cfg.DataDir); err != nil {
		return err
	}
	if c.pki, err = auth.LoadPKI(filepath.Join(c.cfg.DataDir, "pki"), c.cfg.TLSNames); err != nil {
		return err
	}
	if !c.reg.HasTokens() {
		tok, err := c.reg.AddToken("admin", auth.Admin)
		if err != nil {
			return err
		}
		path := filepath.Join(c.cfg.DataDir, AdminTokenFile)
		if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
			return fmt.Errorf("write the admin token: %w", err)
		}
		c.FirstToken = path
		c.log.Info("first run: an admin API token was made", "file", path, "ca", c.pki.CAFile)
	}
	return nil
}

// CAFile is the console's CA certificate, which agents and clients trust;
// "" without TLS.
func (c *Console) CAFile() string {
	if c.pki == nil {
		return ""
	}
	return c.pki.CAFile
}

// secureServer adds TLS and the users to the embedded server's options.
func (c *Console) secureServer(o *server.Options) error {
	users, err := c.reg.NkeyUsers()
	if err != nil {
		return err
	}
	o.Nkeys = users
	o.TLSConfig = c.pki.ServerTLS()
	o.TLS = true
	o.TLSTimeout = 5
	o.TLSVerify = false
	return nil
}

// reloadUsers gives the running server the current users: a revoked
// agent's connection is closed, a new one may connect.
func (c *Console) reloadUsers() error {
	if c.ns == nil {
		return errors.New("agent credentials are managed here only with the embedded NATS server; with --nats, the cluster's operator issues them")
	}
	users, err := c.reg.NkeyUsers()
	if err != nil {
		return err
	}
	o := c.nsOpts.Clone()
	o.Nkeys = users
	if err := c.ns.ReloadOptions(o); err != nil {
		return fmt.Errorf("nats server: reload users: %w", err)
	}
	c.nsOpts = o
	return nil
}

// AddAgent issues node's credential (revoking an earlier one).
func (c *Console) AddAgent(cluster, node string) (*wire.Credential, error) {
	if c.reg == nil {
		return nil, errors.New("the console runs without credentials (--insecure)")
	}
	if c.ns == nil {
		return nil, errors.New("agent credentials are managed here only with the embedded NATS server; with --nats, the cluster's operator issues them")
	}
	cred, err := c.reg.AddAgent(cluster, node, c.pki.CAPEM)
	if err != nil {
		return nil, err
	}
	if err := c.reloadUsers(); err != nil {
		return nil, err
	}
	c.log.Info("agent credential issued", "cluster", cluster, "node", node)
	return cred, nil
}

// RevokeAgent revokes node's credential and closes its connection.
func (c *Console) RevokeAgent(cluster, node string) (bool, error) {
	if c.reg == nil {
		return false, errors.New("the console runs without credentials (--insecure)")
	}
	ok, err := c.reg.RevokeAgent(cluster, node)
	if err != nil || !ok {
		return ok, err
	}
	c.log.Info("agent credential revoked", "cluster", cluster, "node", node)
	return true, c.reloadUsers()
}

// Agents lists the credentials.
func (c *Console) Agents() []auth.Agent {
	if c.reg == nil {
		return nil
	}
	return c.reg.Agents()
}

// AddToken makes an API token.
func (c *Console) AddToken(name, role string) (string, error) {
	if c.reg == nil {
		return "", errors.New("the console runs without tokens (--insecure)")
	}
	return c.reg.AddToken(name, role)
}

func (c *Console) authenticator() api.Authenticator {
	if c.reg == nil {
		return nil
	}
	return c.reg
}

// agentAPI adapts the console to the API's agent calls.
type agentAPI struct{ c *Console }

func (a agentAPI) AddAgent(cluster, node string) (any, error) { return a.c.AddAgent(cluster, node) }
func (a agentAPI) RevokeAgent(cluster, node string) (bool, error) {
	return a.c.RevokeAgent(cluster, node)
}
func (a agentAPI) Agents() any                                { return a.c.Agents() }
func (a agentAPI) AddToken(name, role string) (string, error) { return a.c.AddToken(name, role) }

func (c *Console) agents() api.Agents {
	if c.reg == nil {
		return nil
	}
	return agentAPI{c}
}
