//go:build !agentonly

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/mamori-dev/mamori/console"
	"github.com/mamori-dev/mamori/console/store"
	"github.com/mamori-dev/mamori/console/wire"
)

// embeddedConsoleBuilt says whether this binary can run --console
// embedded: the lean node agent (-tags agentonly) leaves the console out.
const embeddedConsoleBuilt = true

// openEmbeddedConsole opens the console --console embedded runs in the
// agent's process, and this node's credential for it; the caller runs
// it and links to its NATS URL.
func openEmbeddedConsole(cluster, node string, stderr io.Writer, log *slog.Logger) (interface{ Run(context.Context) error }, string, *wire.Credential, error) {
	c, err := console.Open(context.Background(), console.Config{DataDir: DefaultConsoleDir, NATSListen: "127.0.0.1:4222",
		HTTPListen: "127.0.0.1:9747", Retention: store.DefaultRetention, Secure: true}, log.With("part", "console"))
	if err != nil {
		return nil, "", nil, fmt.Errorf("embedded console: %w", err)
	}
	creds, err := c.AddAgent(cluster, node)
	if err != nil {
		c.Close()
		return nil, "", nil, fmt.Errorf("embedded console: %w", err)
	}
	fmt.Fprintf(stderr, "mamori console: the web console at https://%s/ and alerts at https://%s/api/v1/alerts (CA %s; admin token in %s)\n",
		c.APIAddr(), c.APIAddr(), c.CAFile(), filepath.Join(DefaultConsoleDir, console.AdminTokenFile))
	return c, c.NATSURL(), creds, nil
}
