package imagestore

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mamori-dev/mamori/image/record"
)

// ErrReadOnly is returned by writes to a store opened ReadOnly.
var ErrReadOnly = errors.New("the image store is open read-only")

// Register files a scanned and judged image (image.Scan, then image.Judge,
// then Report.Scanned) under its image id, its manifest digest and the name:tag it was scanned
// by. Registering an image again replaces its verdict, findings and
// baseline and keeps its first registration time; a name:tag that pointed
// at another image moves to this one. The next Lookup sees the change.
func (s *Store) Register(ctx context.Context, rep *record.Scanned) (*Record, error) {
	if s.opts.ReadOnly {
		return nil, ErrReadOnly
	}
	if rep.Verdict == nil {
		return nil, fmt.Errorf("register %s: the report has no verdict; judge it against the assurance policies first", rep.Ref)
	}
	id := digestKey(rep.ID)
	if id == "" {
		return nil, fmt.Errorf("register %s: the scan found no image id (config digest), got %q", rep.Ref, rep.ID)
	}
	now := time.Now().UTC()
	rec := &Record{
		ID: id, Digest: digestKey(rep.Digest), Ref: rep.Ref, Transport: rep.Transport,
		OS: rep.OS, Architecture: rep.Architecture, User: rep.User,
		Registered: now, Scanned: now,
		Compliant: rep.Verdict.Compliant, Policies: rep.Verdict.Policies, Reasons: rep.Verdict.Reasons,
		Findings: Summarize(rep.Findings), Executables: rep.Executables,
	}
	if rec.Policies == nil {
		rec.Policies = []string{}
	}
	keys := []string{rec.ID}
	if rec.Digest != "" {
		keys = append(keys, rec.Digest)
	}
	if rep.Name != "" && rep.Tag != "" {
		rec.Names = []string{rep.Name + ":" + rep.Tag}
		keys = append(keys, rec.Names[0])
	}
	if d := digestKey(rep.NamedDigest); d != "" && !slices.Contains(keys, d) {
		keys = append(keys, d)
	}
	var baseline []byte
	if rep.Baseline != nil {
		var err error
		if baseline, err = gzipJSON(rep.Baseline); err != nil {
			return nil, fmt.Errorf("register %s: baseline: %w", rep.Ref, err)
		}
	}
	policies, _ := json.Marshal(rec.Policies)
	reasons, _ := json.Marshal(rec.Reasons)
	findings, _ := json.Marshal(rec.Findings)

	db, err := s.conn(ctx)
	if err != nil {
		return nil, err
	}
	err = s.tx(ctx, db, func(tx *sql.Tx) error {
		var first string
		switch err := tx.QueryRowContext(ctx, `SELECT registered_at FROM images WHERE id = ?`, rec.ID).Scan(&first); {
		case err == nil:
			if t, err := time.Parse(time.RFC3339Nano, first); err == nil {
				rec.Registered = t
			}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO images (id, digest, ref, transport, os, architecture, config_user,
				registered_at, scanned_at, compliant, policies, reasons, findings, executables, baseline)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET digest = excluded.digest, ref = excluded.ref, transport = excluded.transport,
				os = excluded.os, architecture = excluded.architecture, config_user = excluded.config_user,
				scanned_at = excluded.scanned_at, compliant = excluded.compliant, policies = excluded.policies,
				reasons = excluded.reasons, findings = excluded.findings, executables = excluded.executables,
				baseline = excluded.baseline`,
			rec.ID, rec.Digest, rec.Ref, rec.Transport, rec.OS, rec.Architecture, rec.User,
			rec.Registered.Format(time.RFC3339Nano), rec.Scanned.Format(time.RFC3339Nano), rec.Compliant,
			string(policies), string(reasons), string(findings), rec.Executables, baseline)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO names (key, image) VALUES (?, ?)
				ON CONFLICT (key) DO UPDATE SET image = excluded.image`, k, rec.ID); err != nil {
				return err
			}
		}
		rec.Names, err = names(ctx, tx, rec.ID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("register %s in %s: %w", rep.Ref, s.path, err)
	}
	return rec, nil
}

// Remove unregisters the image ref points at (see Key), with every name
// and digest filed for it, and returns what it was; false when ref names
// no registered image.
func (s *Store) Remove(ctx context.Context, ref string) (*Record, bool, error) {
	if s.opts.ReadOnly {
		return nil, false, ErrReadOnly
	}
	key := Key(ref)
	if key == "" {
		return nil, false, fmt.Errorf("%q is not an image reference, id or digest", ref)
	}
	db, err := s.conn(ctx)
	if err != nil {
		return nil, false, err
	}
	var rec *Record
	err = s.tx(ctx, db, func(tx *sql.Tx) error {
		var err error
		if rec, err = get(ctx, tx, key); err != nil || rec == nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM images WHERE id = ?`, rec.ID)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("unregister %s from %s: %w", ref, s.path, err)
	}
	return rec, rec != nil, nil
}

// tx runs f in a transaction that takes the write lock at its start, so
// that two writers queue on the busy timeout instead of failing midway.
func (s *Store) tx(ctx context.Context, db *sql.DB, f func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func gzipJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
