package imagestore

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations take the schema from version i to i+1: migrations[0] creates
// version 1 from an empty database. The version is SQLite's user_version.
// A migration is only ever appended, never edited: databases in the field
// have run the old ones.
var migrations = []string{
	// 1: images and the names and digests that point at them.
	`CREATE TABLE images (
		-- id is the config digest (sha256:...): podman's and containerd's
		-- image id, the same for an image wherever it is kept.
		id TEXT PRIMARY KEY,
		-- digest is the manifest digest; '' for a docker archive.
		digest TEXT NOT NULL DEFAULT '',
		-- ref is the reference the image was registered by.
		ref TEXT NOT NULL,
		transport TEXT NOT NULL DEFAULT '',
		os TEXT NOT NULL DEFAULT '',
		architecture TEXT NOT NULL DEFAULT '',
		-- user is the config's USER; '' runs as root.
		config_user TEXT NOT NULL DEFAULT '',
		registered_at TEXT NOT NULL,
		scanned_at TEXT NOT NULL,
		compliant INTEGER NOT NULL,
		-- policies, reasons and findings are JSON: the assurance policies
		-- that judged the image, record.Reason values, and a Summary.
		policies TEXT NOT NULL DEFAULT '[]',
		reasons TEXT NOT NULL DEFAULT '[]',
		findings TEXT NOT NULL DEFAULT '{}',
		executables INTEGER NOT NULL DEFAULT 0,
		-- baseline is the executables baseline's JSON, gzipped.
		baseline BLOB
	) STRICT`,
	// A key is a normalised reference, "registry/repository:tag", or a
	// digest "sha256:..." (the image id and the manifest digest). A tag
	// points at one image: registering another image under it moves it.
	`CREATE TABLE names (
		key TEXT PRIMARY KEY,
		image TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
	) STRICT`,
	`CREATE INDEX names_image ON names(image)`,
}

// steps groups migrations into versions: the statements of version v are
// migrations[steps[v-1]:steps[v]].
var steps = []int{0, 3}

// SchemaVersion is the schema this mamori writes.
func SchemaVersion() int { return len(steps) - 1 }

// migrate brings the database to SchemaVersion in one immediate
// transaction, so that two processes opening a new database at once do
// not both create it. A database from a newer mamori is refused.
func migrate(ctx context.Context, db *sql.DB, path string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	v, err := userVersion(ctx, conn)
	if err != nil {
		return err
	}
	if v == SchemaVersion() {
		return nil
	}
	if v > SchemaVersion() {
		return fmt.Errorf("%s has schema version %d, written by a newer mamori; this one knows up to %d: upgrade mamori", path, v, SchemaVersion())
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("%s: lock for migration: %w", path, err)
	}
	commit := false
	defer func() {
		if !commit {
			conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	// Another process may have migrated while this one waited.
	if v, err = userVersion(ctx, conn); err != nil {
		return err
	}
	for ; v < SchemaVersion(); v++ {
		for _, stmt := range migrations[steps[v]:steps[v+1]] {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("%s: migrate to schema version %d: %w", path, v+1, err)
			}
		}
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("%s: commit migration: %w", path, err)
	}
	commit = true
	return nil
}

func userVersion(ctx context.Context, conn *sql.Conn) (int, error) {
	var v int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
