package console

import (
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/mamori-dev/mamori/console/wire"
)

// embedded starts the console's own NATS server with JetStream, its store
// under dataDir/jetstream, listening on listen (host:port) for agents;
// secure adds TLS and the users (NKEYs) to its options.
func embedded(listen, dataDir string, secure func(*server.Options) error, log *slog.Logger) (*server.Server, *server.Options, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, nil, fmt.Errorf("--nats-listen %q: %w", listen, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, nil, fmt.Errorf("--nats-listen %q: port: %w", listen, err)
	}
	if p == 0 {
		p = server.RANDOM_PORT
	} else {
		// The server reports a port it cannot listen on only in its
		// log, and is then never ready: say so now, not in 30 s.
		l, err := net.Listen("tcp", listen)
		if err != nil {
			return nil, nil, fmt.Errorf("--nats-listen %s: %w (another console, or a NATS server, listens there?)", listen, err)
		}
		l.Close()
	}
	opts := &server.Options{
		ServerName: "mamori-console",
		Host:       host,
		Port:       p,
		JetStream:  true,
		StoreDir:   filepath.Join(dataDir, "jetstream"),
		// Larger than a record may be, so that the console sees an
		// oversized one, refuses it and counts it; the server itself
		// refuses what is larger still.
		MaxPayload: int32(4 * wire.MaxRecord),
		NoSigs:     true,
	}
	if secure != nil {
		if err := secure(opts); err != nil {
			return nil, nil, err
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("nats server: %w", err)
	}
	ns.SetLoggerV2(natsLog{log.With("part", "nats")}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, nil, fmt.Errorf("nats server on %s not ready after 30s", listen)
	}
	return ns, opts, nil
}

// natsLog sends the NATS server's log to slog; its notices are debug
// messages to a mamori user, its warnings and errors are not.
type natsLog struct{ l *slog.Logger }

func (n natsLog) Noticef(f string, v ...any) { n.l.Debug(fmt.Sprintf(f, v...)) }
func (n natsLog) Warnf(f string, v ...any)   { n.l.Warn(fmt.Sprintf(f, v...)) }
func (n natsLog) Fatalf(f string, v ...any)  { n.l.Error(fmt.Sprintf(f, v...)) }
func (n natsLog) Errorf(f string, v ...any)  { n.l.Error(fmt.Sprintf(f, v...)) }
func (n natsLog) Debugf(f string, v ...any)  {}
func (n natsLog) Tracef(f string, v ...any)  {}
