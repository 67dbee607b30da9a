package vuln

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/mamori-dev/mamori/image/sbom"
)

// DB is an OSV database loaded into memory, indexed by ecosystem and
// package name. It is safe for concurrent use once loaded.
type DB struct {
	index     map[packageKey][]*affected
	entries   int
	withdrawn int
}

// packageKey is how an affected package is found: its ecosystem (with the
// release, "Debian:12") and name, both normalized (see matchKey).
type packageKey struct {
	ecosystem, name string
}

// Advisory is what a finding reports about an OSV entry.
type Advisory struct {
	ID       string   `json:"id"`
	Aliases  []string `json:"aliases,omitempty"`
	Summary  string   `json:"summary,omitempty"`
	Modified string   `json:"modified,omitempty"`
	rating
}

// affected is one affected[] element of an entry, kept for matching.
type affected struct {
	advisory  *Advisory
	ecosystem string // as the entry wrote it
	ranges    []osvRange
	versions  []string
	// rating overrides the advisory's when the affected element carries
	// its own severity (Ubuntu writes it per package).
	rating *rating
}

// LoadConfig tunes Load.
type LoadConfig struct {
	// Progress, when set, is called as entries are read with the number
	// read so far and the total when known (a zip's entry count; 0 for a
	// directory, which is not counted beforehand).
	Progress func(done, total int64)
}

// Load reads an OSV database from path: a zip export (all.zip of an
// ecosystem, or of every ecosystem), or a directory holding OSV JSON
// files and zip exports at any depth. Withdrawn entries are counted and
// left out. A file that is not an OSV entry stops the load with an error
// naming it.
func Load(ctx context.Context, path string, cfg LoadConfig) (*DB, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open OSV database: %w", err)
	}
	l := newLoader(cfg)
	if info.IsDir() {
		err = l.loadDir(ctx, path)
	} else {
		err = l.loadZip(ctx, path)
	}
	if err != nil {
		return nil, err
	}
	if l.db.entries == 0 && l.db.withdrawn == 0 {
		return nil, fmt.Errorf("open OSV database %s: no OSV entries (*.json) found; point at a directory of OSV JSON files or an ecosystem's all.zip export", path)
	}
	return l.db, nil
}

// Entries is the number of entries loaded, withdrawn ones excluded.
func (db *DB) Entries() int { return db.entries }

// Withdrawn is the number of withdrawn entries that were left out.
func (db *DB) Withdrawn() int { return db.withdrawn }

// loader decodes entries on every core and adds them to one DB.
type loader struct {
	cfg  LoadConfig
	mu   sync.Mutex
	db   *DB
	done int64
	// interned keeps one copy of each ecosystem name.
	interned map[string]string
}

func newLoader(cfg LoadConfig) *loader {
	return &loader{cfg: cfg, db: &DB{index: map[packageKey][]*affected{}}, interned: map[string]string{}}
}

// source is one file to decode: its name for errors and how to open it.
type source struct {
	name string
	open func() (io.ReadCloser, error)
}

func (l *loader) loadDir(ctx context.Context, dir string) error {
	var files []source
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return nil
		case strings.HasSuffix(p, ".zip"):
			return l.loadZip(ctx, p)
		case strings.HasSuffix(p, ".json"):
			files = append(files, source{name: p, open: func() (io.ReadCloser, error) { return os.Open(p) }})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read OSV database %s: %w", dir, err)
	}
	return l.decodeAll(ctx, files, 0)
}

// loadZip streams the entries of a zip export: each is decompressed and
// decoded in turn, so memory holds the index and not the archive.
func (l *loader) loadZip(ctx context.Context, path string) error {
	ra, size, closeFn, err := openMapped(path)
	if err != nil {
		return fmt.Errorf("open OSV export: %w", err)
	}
	defer closeFn()
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return fmt.Errorf("open OSV export %s: %w (want a zip of OSV JSON files, such as an ecosystem's all.zip)", path, err)
	}
	var files []source
	for _, f := range zr.File {
		if f.FileInfo().IsDir() || !strings.HasSuffix(f.Name, ".json") {
			continue
		}
		files = append(files, source{name: path + ":" + f.Name, open: f.Open})
	}
	return l.decodeAll(ctx, files, int64(len(files)))
}

// openMapped maps a file into memory read-only, so that reading a zip's
// entries costs no system call each (three preads an entry otherwise, a
// quarter of the load time). The pages are the kernel's page cache, not
// the Go heap. (A file truncated while mapped would fault: an OSV export
// is replaced by writing a new file, not rewritten in place.) Where
// mapping fails the file is read through ReadAt.
func openMapped(path string) (io.ReaderAt, int64, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	size := st.Size()
	if size > 0 && size == int64(int(size)) {
		if b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED); err == nil {
			f.Close()
			return bytes.NewReader(b), size, func() error { return syscall.Munmap(b) }, nil
		}
	}
	return f, size, f.Close, nil
}

// decodeAll decodes files on GOMAXPROCS workers and stops at the first
// error.
func (l *loader) decodeAll(ctx context.Context, files []source, total int64) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan source)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var buf bytes.Buffer
			for src := range work {
				e, err := decodeEntry(src, &buf)
				if err != nil {
					cancel(err)
					continue
				}
				l.add(e, total)
			}
		})
	}
send:
	for _, f := range files {
		select {
		case work <- f:
		case <-ctx.Done():
			break send
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

func decodeEntry(src source, buf *bytes.Buffer) (*osvEntry, error) {
	rc, err := src.open()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", src.name, err)
	}
	defer rc.Close()
	// Reading the whole entry first and unmarshalling it costs a third
	// less than a json.Decoder over the decompressor; entries are small.
	buf.Reset()
	if _, err := buf.ReadFrom(rc); err != nil {
		return nil, fmt.Errorf("read %s: %w", src.name, err)
	}
	var e osvEntry
	if err := json.Unmarshal(buf.Bytes(), &e); err != nil {
		return nil, fmt.Errorf("%s is not an OSV entry: %w", src.name, err)
	}
	if e.ID == "" {
		return nil, fmt.Errorf("%s is not an OSV entry: it has no id", src.name)
	}
	return &e, nil
}

// add indexes one decoded entry.
func (l *loader) add(e *osvEntry, total int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done++
	if l.cfg.Progress != nil {
		l.cfg.Progress(l.done, total)
	}
	if e.Withdrawn != "" {
		l.db.withdrawn++
		return
	}
	l.db.entries++
	adv := &Advisory{
		ID:       e.ID,
		Aliases:  e.Aliases,
		Summary:  e.Summary,
		Modified: e.Modified,
		rating:   rate(e.Severity, severityLabel(e.DatabaseSpecific)),
	}
	for _, a := range e.Affected {
		if a.Package.Name == "" || a.Package.Ecosystem == "" {
			continue
		}
		eco := l.intern(a.Package.Ecosystem)
		af := &affected{advisory: adv, ecosystem: eco, ranges: matchableRanges(a.Ranges), versions: a.Versions}
		if len(a.Severity) > 0 || len(a.EcosystemSpecific) > 0 || len(a.DatabaseSpecific) > 0 {
			if r := rate(a.Severity, severityLabel(a.EcosystemSpecific), severityLabel(a.DatabaseSpecific)); r.Severity != Unknown {
				af.rating = &r
			}
		}
		if len(af.ranges) == 0 && len(af.versions) == 0 {
			continue
		}
		k := matchKey(eco, a.Package.Name)
		l.db.index[k] = append(l.db.index[k], af)
	}
}

func (l *loader) intern(s string) string {
	if v, ok := l.interned[s]; ok {
		return v
	}
	l.interned[s] = s
	return s
}

// matchableRanges keeps the ranges whose events are versions of the
// package (ECOSYSTEM and SEMVER); GIT ranges name commits, which an
// installed package does not carry. The limit events of GIT ranges are
// dropped with them.
func matchableRanges(rs []osvRange) []osvRange {
	out := rs[:0:0]
	for _, r := range rs {
		if r.Type == "ECOSYSTEM" || r.Type == "SEMVER" {
			out = append(out, r)
		}
	}
	return out
}

// matchKey normalizes an ecosystem and package name so that an SBOM's
// package and an entry's affected package meet: Ubuntu's ":LTS" suffix is
// dropped (an installed system says 22.04, the advisory
// "Ubuntu:22.04:LTS"), and PyPI names are compared in their PEP 503 form.
func matchKey(ecosystem, name string) packageKey {
	ecosystem = strings.TrimSuffix(ecosystem, ":LTS")
	if ecosystem == "PyPI" {
		name = sbom.NormalizePyPIName(name)
	}
	return packageKey{ecosystem: ecosystem, name: name}
}
