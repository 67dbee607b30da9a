package imagestore

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mamori-dev/mamori/image/record"
	"github.com/mamori-dev/mamori/workload"
)

var _ workload.Images = (*Store)(nil)

// Lookup implements workload.Images: the status of the image ref names as
// a workload writes it ("nginx:1.27", "docker.io/library/nginx:1.27",
// "reg/app@sha256:...", an image id), and false when it is not
// registered. A failure to read the database is logged and answers false:
// an image mamori cannot vouch for counts as unregistered.
func (s *Store) Lookup(ref string) (workload.ImageStatus, bool) {
	rec, err := s.verdict(context.Background(), ref)
	if err != nil {
		s.log.Error("image store lookup failed; the image counts as unregistered", "image", ref, "db", s.path, "err", err)
		return workload.ImageStatus{}, false
	}
	if rec == nil {
		return workload.ImageStatus{}, false
	}
	return rec.Status(), true
}

// verdict reads only what Status needs, in one query: Lookup runs on
// every container creation.
func (s *Store) verdict(ctx context.Context, ref string) (*Record, error) {
	key := Key(ref)
	if key == "" {
		return nil, nil
	}
	db, err := s.conn(ctx)
	if err != nil || db == nil {
		return nil, err
	}
	var rec Record
	var reasons string
	err = db.QueryRowContext(ctx, `SELECT i.id, i.digest, i.config_user, i.compliant, i.reasons
		FROM names n JOIN images i ON i.id = n.image WHERE n.key = ?`, key).Scan(&rec.ID, &rec.Digest, &rec.User, &rec.Compliant, &reasons)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err == nil {
		err = json.Unmarshal([]byte(reasons), &rec.Reasons)
	}
	if err != nil {
		return nil, fmt.Errorf("look up %s in %s: %w", ref, s.path, err)
	}
	return &rec, nil
}

// Get returns the record of the image ref names (see Key); false when it
// is not registered.
func (s *Store) Get(ctx context.Context, ref string) (*Record, bool, error) {
	key := Key(ref)
	if key == "" {
		return nil, false, nil
	}
	db, err := s.conn(ctx)
	if err != nil || db == nil {
		return nil, false, err
	}
	rec, err := get(ctx, db, key)
	if err != nil {
		return nil, false, fmt.Errorf("look up %s in %s: %w", ref, s.path, err)
	}
	return rec, rec != nil, nil
}

// List returns every registered image, most recently scanned first.
func (s *Store) List(ctx context.Context) ([]Record, error) {
	db, err := s.conn(ctx)
	if err != nil || db == nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT `+recordColumns+` FROM images ORDER BY scanned_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.path, err)
	}
	var out []Record
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list %s: %w", s.path, err)
		}
		out = append(out, *rec)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", s.path, err)
	}
	for i := range out {
		if out[i].Names, err = names(ctx, db, out[i].ID); err != nil {
			return nil, fmt.Errorf("list %s: %w", s.path, err)
		}
	}
	return out, nil
}

// Baseline returns the executables baseline recorded for the image ref
// names; false when the image is not registered or was registered
// without one.
func (s *Store) Baseline(ctx context.Context, ref string) (*record.Baseline, bool, error) {
	key := Key(ref)
	db, err := s.conn(ctx)
	if err != nil || db == nil || key == "" {
		return nil, false, err
	}
	var blob []byte
	err = db.QueryRowContext(ctx, `SELECT i.baseline FROM names n JOIN images i ON i.id = n.image WHERE n.key = ?`, key).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) || err == nil && blob == nil {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("baseline of %s in %s: %w", ref, s.path, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		return nil, false, fmt.Errorf("baseline of %s in %s: %w", ref, s.path, err)
	}
	var b record.Baseline
	if err := json.NewDecoder(zr).Decode(&b); err != nil {
		return nil, false, fmt.Errorf("baseline of %s in %s: %w", ref, s.path, err)
	}
	return &b, true, nil
}

// querier is what both a pool and a transaction offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const recordColumns = `id, digest, ref, transport, os, architecture, config_user, registered_at, scanned_at,
	compliant, policies, reasons, findings, executables`

// get reads the record filed under key, with its names; nil when there is
// none.
func get(ctx context.Context, q querier, key string) (*Record, error) {
	row := q.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM images
		WHERE id = (SELECT image FROM names WHERE key = ?)`, key)
	rec, err := scanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if rec.Names, err = names(ctx, q, rec.ID); err != nil {
		return nil, err
	}
	return rec, nil
}

func scanRecord(row interface{ Scan(...any) error }) (*Record, error) {
	var rec Record
	var registered, scanned, policies, reasons, findings string
	err := row.Scan(&rec.ID, &rec.Digest, &rec.Ref, &rec.Transport, &rec.OS, &rec.Architecture, &rec.User,
		&registered, &scanned, &rec.Compliant, &policies, &reasons, &findings, &rec.Executables)
	if err != nil {
		return nil, err
	}
	if rec.Registered, err = time.Parse(time.RFC3339Nano, registered); err != nil {
		return nil, fmt.Errorf("image %s: registered_at: %w", rec.ID, err)
	}
	if rec.Scanned, err = time.Parse(time.RFC3339Nano, scanned); err != nil {
		return nil, fmt.Errorf("image %s: scanned_at: %w", rec.ID, err)
	}
	for _, c := range []struct {
		col  string
		text string
		v    any
	}{{"policies", policies, &rec.Policies}, {"reasons", reasons, &rec.Reasons}, {"findings", findings, &rec.Findings}} {
		if err := json.Unmarshal([]byte(c.text), c.v); err != nil {
			return nil, fmt.Errorf("image %s: %s: %w", rec.ID, c.col, err)
		}
	}
	return &rec, nil
}

// names returns the name:tag keys filed for an image, sorted.
func names(ctx context.Context, q querier, id string) ([]string, error) {
	// A digest key ("sha256:...") has no slash; a name always has one.
	rows, err := q.QueryContext(ctx, `SELECT key FROM names WHERE image = ? AND instr(key, '/') > 0 ORDER BY key`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// ImageFile says what the registered baseline of the image with content
// imageID ("sha256:…", as the runtime resolved a container's image) holds
// at path: the SHA-256 of the executable the image ships there, and
// whether it ships one; known is false when the image is not registered
// with a baseline. Drift Prevention's alerts use it to tell a changed
// image program from a new one. Baselines are cached by image id, which
// names their content.
func (s *Store) ImageFile(imageID, path string) (sha256 string, shipped, known bool) {
	s.filesMu.Lock()
	files, ok := s.files[imageID]
	s.filesMu.Unlock()
	if !ok {
		b, found, err := s.Baseline(context.Background(), imageID)
		if err != nil {
			s.log.Warn("image baseline unreadable", "image", imageID, "db", s.path, "err", err)
			return "", false, false
		}
		if !found {
			return "", false, false // asked again next time: it may be registered since
		}
		files = map[string]string{}
		for _, f := range b.Present() {
			files[f.Path] = f.SHA256
		}
		s.filesMu.Lock()
		if s.files == nil || len(s.files) >= 64 {
			s.files = map[string]map[string]string{}
		}
		s.files[imageID] = files
		s.filesMu.Unlock()
	}
	sha256, shipped = files[path]
	return sha256, shipped, true
}
