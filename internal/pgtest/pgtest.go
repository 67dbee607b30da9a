// Package pgtest runs a real PostgreSQL server for tests: Start initdb's a
// cluster in a temporary directory as the postgres user and starts it on
// a free port of 127.0.0.1; the server is stopped and removed when the
// test ends. Tests skip when Debian's PostgreSQL binaries are absent,
// unless MAMORI_REQUIRE_POSTGRES=1 (as scripts/test.sh sets) makes that a
// failure.
//
// It owns nothing but test servers: it must not be imported by non-test
// code.
package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BinDir is where Debian's postgresql package puts the server's programs.
const BinDir = "/usr/lib/postgresql/15/bin"

// StrictEnv turns a missing PostgreSQL into a failure.
const StrictEnv = "MAMORI_REQUIRE_POSTGRES"

// Server is a running test server.
type Server struct {
	Dir  string // the data directory
	Port int
	// URL connects as the superuser mamori to the database mamori.
	URL string
	t   testing.TB
}

// Start starts a server for t, or skips t.
func Start(t testing.TB) *Server {
	t.Helper()
	fail := t.Skipf
	if os.Getenv(StrictEnv) == "1" {
		fail = t.Fatalf
	}
	if _, err := os.Stat(filepath.Join(BinDir, "initdb")); err != nil {
		fail("pgtest: PostgreSQL is not installed (%s): apt-get install postgresql, or run scripts/install-deps.sh", BinDir)
		return nil
	}
	if os.Geteuid() != 0 {
		fail("pgtest: needs root to run PostgreSQL as the postgres user")
		return nil
	}
	pg, err := user.Lookup("postgres")
	if err != nil {
		fail("pgtest: no postgres user: %v", err)
		return nil
	}
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	base, err := os.MkdirTemp("", "mamori-pg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(base, 0o755)
	s := &Server{Dir: filepath.Join(base, "data"), t: t}
	os.Mkdir(s.Dir, 0o700)
	if err := os.Chown(s.Dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	s.Port = freePort(t)
	s.URL = fmt.Sprintf("postgres://mamori@127.0.0.1:%d/mamori?sslmode=disable", s.Port)
	if out, err := s.run("initdb", "-D", s.Dir, "-A", "trust", "-U", "mamori", "--no-sync", "-E", "UTF8"); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		s.run("pg_ctl", "-D", s.Dir, "-m", "immediate", "-w", "stop")
		os.RemoveAll(base)
	})
	s.Start()
	if out, err := s.run("createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", "mamori", "mamori"); err != nil {
		t.Fatalf("pgtest: createdb: %v\n%s", err, out)
	}
	return s
}

// Start starts the server (again, after Stop).
func (s *Server) Start() {
	s.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -c shared_buffers=256MB",
		s.Port, s.Dir)
	if out, err := s.run("pg_ctl", "-D", s.Dir, "-o", opts, "-l", filepath.Join(s.Dir, "log"), "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.Dir, "log"))
		s.t.Fatalf("pgtest: pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// Stop stops the server at once, as a crash would.
func (s *Server) Stop() {
	s.t.Helper()
	if out, err := s.run("pg_ctl", "-D", s.Dir, "-m", "immediate", "-w", "stop"); err != nil {
		s.t.Fatalf("pgtest: pg_ctl stop: %v\n%s", err, out)
	}
}

func (s *Server) run(prog string, args ...string) (string, error) {
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(BinDir, prog)}, args...)...)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitReady waits until the server accepts connections.
func (s *Server) WaitReady(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port))
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
