//go:build agentonly

package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/mamori-dev/mamori/console/wire"
)

// embeddedConsoleBuilt is false in the lean node agent: the console, its
// NATS server and its stores are what -tags agentonly leaves out.
const embeddedConsoleBuilt = false

func openEmbeddedConsole(string, string, io.Writer, *slog.Logger) (interface{ Run(context.Context) error }, string, *wire.Credential, error) {
	return nil, "", nil, errors.New("--console embedded: not in this lean node agent")
}
