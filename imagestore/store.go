package imagestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// DefaultPath is where mamori keeps its registered images.
const DefaultPath = "/var/lib/mamori/images.db"

// Options configure a Store. The zero value opens for reading and writing,
// creating the database and its directory when missing.
type Options struct {
	// ReadOnly opens for lookups only, as the agent and the admission
	// webhook do: a missing database is not created but means that no
	// image is registered, until `mamori image register` creates it; the
	// next lookup then finds it. Writes are refused.
	ReadOnly bool
	// BusyTimeout is how long a write waits for another writer's
	// transaction; 5s when zero. Readers never wait for writers.
	BusyTimeout time.Duration
	// Log receives the lookup failures that Lookup cannot return; nil
	// discards them.
	Log *slog.Logger
}

// Store is an open registered-images database. It is safe for concurrent
// use, and several processes may open the same file.
type Store struct {
	path string
	opts Options
	log  *slog.Logger

	mu sync.Mutex
	db *sql.DB
	// id is the file db has open: a database removed and made anew under
	// the same path is opened again, and so, for a read-only store, is one
	// whose content changed (a database copied over it in place keeps the
	// inode; SQLite's cache would keep answering from the old content).
	id fileID

	filesMu sync.Mutex
	files   map[string]map[string]string // image id → path → SHA-256 of its baseline's programs
}

// Open opens the registered-images database at path. Without ReadOnly it
// creates the file and its directory when missing and brings an older
// schema up to date; with ReadOnly a missing file is not an error (see
// Options.ReadOnly).
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("image store: no database path given")
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	s := &Store{path: path, opts: opts, log: opts.Log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("image store: create the directory of %s: %w", path, err)
		}
	}
	if _, err := s.conn(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

// Path is the database file's path.
func (s *Store) Path() string { return s.path }

// Exists reports whether the database file exists; a read-only store
// over a missing file knows no images.
func (s *Store) Exists() bool {
	_, err := os.Stat(s.path)
	return err == nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// conn returns the open database, opening it when the file has appeared
// or been replaced since the last call; nil (and no error) when a
// read-only store's file does not exist.
func (s *Store) conn(ctx context.Context) (*sql.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := os.Stat(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist) && s.opts.ReadOnly:
		s.closeDB()
		return nil, nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("image store %s: %w", s.path, err)
	case err == nil && st.Size() == 0:
		s.closeDB()
		return nil, fmt.Errorf("image store %s is empty (0 bytes): not a database mamori wrote (cut short, or made by hand); "+
			"remove it (mamori image register makes it anew) and register the images again", s.path)
	}
	if s.db != nil && err == nil && s.same(idOf(st)) {
		return s.db, nil
	}
	if s.db != nil {
		s.log.Info("image store changed on disk; opening it again", "db", s.path)
		s.closeDB()
	}
	db, err := s.open(ctx, s.opts.ReadOnly)
	if err != nil {
		return nil, err
	}
	if st, err = os.Stat(s.path); err != nil {
		db.Close()
		return nil, fmt.Errorf("image store %s: %w", s.path, err)
	}
	s.db, s.id = db, idOf(st)
	return db, nil
}

func (s *Store) closeDB() {
	if s.db != nil {
		s.db.Close()
		s.db = nil
	}
}

// fileID tells a database file from another and, for a reader, from
// itself with other content.
type fileID struct {
	ino   uint64
	size  int64
	mtime time.Time
}

func idOf(fi os.FileInfo) fileID { return fileID{inode(fi), fi.Size(), fi.ModTime()} }

// same reports whether the file is the one db has open. A writer's own
// commits change the file's size and time, so it goes by the inode only.
func (s *Store) same(id fileID) bool {
	if s.opts.ReadOnly {
		return id == s.id
	}
	return id.ino == s.id.ino
}

// open opens a connection pool and brings the schema up to date; a
// read-only pool migrates through a short-lived writable one.
func (s *Store) open(ctx context.Context, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", s.opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	if readOnly {
		q.Set("mode", "rw") // never create
		q.Set("_query_only", "1")
	} else {
		q.Set("mode", "rwc")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
	}
	dsn := (&url.URL{Scheme: "file", OmitHost: true, Path: s.path, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("image store %s: %w", s.path, err)
	}
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		db.Close()
		return nil, fmt.Errorf("image store %s: open: %w (not a database mamori wrote? remove it and register the images again)", s.path, err)
	}
	if err := integrity(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("image store %s failed its integrity check (%v): restore it from a backup, or remove it and register the images again", s.path, err)
	}
	switch {
	case v == SchemaVersion():
	case readOnly && v < SchemaVersion():
		w, err := s.open(ctx, false)
		if err != nil {
			db.Close()
			return nil, err
		}
		w.Close()
	default:
		if err := migrate(ctx, db, s.path); err != nil {
			db.Close()
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	return db, nil
}

// integrity runs SQLite's quick check: a file cut short or overwritten
// (in place, by a copy in progress) shows here, not as missing images.
func integrity(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check(5)")
	if err != nil {
		return err
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return err
		}
		if p != "ok" {
			problems = append(problems, p)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
