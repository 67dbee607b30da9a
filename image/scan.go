package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/mamori-dev/mamori/internal/progress"
)

// Options configure a scan. The zero value scans with the defaults: local
// storage at its usual places, the platform mamori runs on, no analyzers
// beyond the built-in checks, no progress bar.
type Options struct {
	// Platform picks an image from a multi-platform index: "linux/arm64".
	Platform string
	// PodmanRoot is containers/storage's graph root
	// (/var/lib/containers/storage).
	PodmanRoot string
	// ContainerdRoot is containerd's root (/var/lib/containerd) and
	// ContainerdNamespace the namespace its images are in ("default";
	// Kubernetes uses "k8s.io").
	ContainerdRoot      string
	ContainerdNamespace string
	// Insecure allows plain HTTP to any registry (localhost and loopback
	// registries always may).
	Insecure bool
	// Analyzers run in this order; see analyzer.go.
	Analyzers []Analyzer
	// TempDir holds the copies of file contents that analyzers read and
	// the unpacked OCI archives; the system's by default. The scan
	// removes what it wrote there.
	TempDir string
	// Progress is where the progress bar is drawn (it draws only on a
	// terminal); nil draws none.
	Progress io.Writer
}

func (o *Options) podmanRoot() string {
	return cmp(o.PodmanRoot, "/var/lib/containers/storage")
}
func (o *Options) containerdRoot() string      { return cmp(o.ContainerdRoot, "/var/lib/containerd") }
func (o *Options) containerdNamespace() string { return cmp(o.ContainerdNamespace, "default") }
func (o *Options) platform() string            { return o.Platform }

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ReportSchema identifies the JSON report format.
const ReportSchema = "mamori.dev/image-report/v1"

// Report is what a scan found.
type Report struct {
	Schema   string    `json:"schema"`
	Image    ImageInfo `json:"image"`
	Findings []Finding `json:"findings"`
	Packages []Package `json:"packages,omitempty"`
	// Executables counts the executables of the final filesystem; the
	// Baseline lists them.
	Executables int `json:"executables"`
	// Verdict is set by Judge.
	Verdict   *Verdict `json:"verdict,omitempty"`
	Analyzers []string `json:"analyzers"`
	Warnings  []string `json:"warnings,omitempty"`
	Stats     Stats    `json:"stats"`

	// Baseline is written separately (--baseline): it is long.
	Baseline *Baseline `json:"-"`
	// Config is the parsed image config.
	Config *v1.ConfigFile `json:"-"`
	// Ref is the reference the scan was given.
	Ref Ref `json:"-"`
}

// ImageInfo identifies the scanned image.
type ImageInfo struct {
	Ref       string `json:"ref"`
	Transport string `json:"transport"`
	// Name is the image name the reference resolved to, if any.
	Name         string            `json:"name,omitempty"`
	Digest       string            `json:"digest,omitempty"`
	ID           string            `json:"id"`
	OS           string            `json:"os,omitempty"`
	Architecture string            `json:"architecture,omitempty"`
	Created      time.Time         `json:"created,omitzero"`
	User         string            `json:"user"`
	Labels       map[string]string `json:"labels,omitempty"`
	Layers       []LayerInfo       `json:"layers"`
}

// Stats say how much the scan read and how long it took.
type Stats struct {
	Layers int `json:"layers"`
	// StoredBytes is the layer data read as stored (compressed from a
	// registry or archive; a tar's worth for podman's directories).
	StoredBytes int64 `json:"storedBytes"`
	// ContentBytes is the file content read, uncompressed.
	ContentBytes int64   `json:"contentBytes"`
	Files        int     `json:"files"`
	Seconds      float64 `json:"seconds"`
}

// Scan opens the image ref names, reads its layers, and returns what it
// found: the baseline of executables, misconfigurations, and what the
// analyzers report. A Report with findings is not an error; an image that
// cannot be read is.
func Scan(ctx context.Context, ref string, opts Options) (*Report, error) {
	start := time.Now()
	r, err := ParseRef(ref)
	if err != nil {
		return nil, err
	}
	src, err := open(ctx, r, &opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if src.cleanup != nil {
			src.cleanup()
		}
	}()
	cfg, err := ParseConfig(src.config)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	rep := &Report{Schema: ReportSchema, Ref: r, Config: cfg, Findings: []Finding{}, Analyzers: []string{}}
	rep.Image = ImageInfo{Ref: ref, Transport: src.transport, Name: src.name, Digest: src.digest, ID: src.id,
		OS: cfg.OS, Architecture: cfg.Architecture, User: cfg.Config.User, Labels: cfg.Config.Labels}
	if !cfg.Created.IsZero() {
		rep.Image.Created = cfg.Created.Time
	}
	describeLayers(src, cfg)
	for _, l := range src.layers {
		rep.Image.Layers = append(rep.Image.Layers, l.info)
	}
	for _, a := range opts.Analyzers {
		rep.Analyzers = append(rep.Analyzers, a.Name())
	}

	s := &scanner{ctx: ctx, opts: &opts, rep: rep, t: newTree()}
	if len(opts.Analyzers) > 0 {
		if s.spill, err = os.MkdirTemp(opts.TempDir, "mamori-image-scan-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(s.spill)
	}
	var total int64
	for _, l := range src.layers {
		if l.info.Size <= 0 {
			total = 0
			break
		}
		total += l.info.Size
	}
	bar := progress.New(opts.Progress, "scanning "+ref, total)
	for i, l := range src.layers {
		if err := s.readLayer(i, l, bar); err != nil {
			bar.Done()
			return nil, fmt.Errorf("%s: layer %d (%s): %w", ref, i, cmp(l.info.Digest, l.info.DiffID), err)
		}
	}
	bar.Done()

	s.finish()
	if err := s.analyzeFS(); err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	s.markRemoved()
	sortFindings(rep.Findings)
	rep.Warnings = append(rep.Warnings, s.t.warnings...)
	rep.Stats.Layers = len(src.layers)
	rep.Stats.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// describeLayers fills each layer's diff id and history line from the
// config, which lists them base first (history also has entries for steps
// that made no layer).
func describeLayers(src *source, cfg *v1.ConfigFile) {
	for i := range src.layers {
		if i < len(cfg.RootFS.DiffIDs) && src.layers[i].info.DiffID == "" {
			src.layers[i].info.DiffID = cfg.RootFS.DiffIDs[i].String()
		}
	}
	i := 0
	for _, h := range cfg.History {
		if h.EmptyLayer {
			continue
		}
		if i < len(src.layers) {
			src.layers[i].info.CreatedBy = strings.TrimSpace(strings.TrimPrefix(h.CreatedBy, "/bin/sh -c #(nop) "))
		}
		i++
	}
}

// scanner holds one scan's state while the layers are read.
type scanner struct {
	ctx     context.Context
	opts    *Options
	rep     *Report
	t       *tree
	spill   string // where contents are kept for analyzers; "" keeps none
	spilled int    // files kept so far, which names the next one
	buf     []byte // copy buffer
	mem     []byte // a small file's content
	// passwd is /etc/passwd as the last layer that wrote it left it.
	passwd []byte
}

func (s *scanner) readLayer(i int, l layerSource, bar *progress.Bar) error {
	lr, closer, err := l.open(func(n int64) {
		s.rep.Stats.StoredBytes += n
		bar.Add(n)
	})
	if err != nil {
		return err
	}
	defer closer.Close()
	err = lr.entries(func(e *entry, r io.Reader, disk string) error {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		base := path.Base(cleanName(e.name))
		if e.typ == tar.TypeReg && !strings.HasPrefix(base, whiteoutPrefix) {
			if err := s.readFile(i, e, r, disk); err != nil {
				return fmt.Errorf("%s: %w", e.name, err)
			}
		}
		s.t.apply(i, e)
		return nil
	})
	if err != nil {
		return err
	}
	s.t.commit(i)
	return nil
}

// smallFile is the size up to which a file that must be kept is read into
// memory first: analyzers then read it from there, and it is written out
// in one call, which saves most of the system calls per file.
const smallFile = 1 << 20

// readFile reads a regular file's content once: its hash, its first bytes
// (what it is), a copy for the analyzers when they need one, and the
// file analyzers' findings.
func (s *scanner) readFile(layer int, e *entry, r io.Reader, disk string) error {
	s.rep.Stats.Files++
	rel := cleanName(e.name)
	keep := s.spill != "" && disk == ""
	var mem []byte
	var err error
	if keep && e.size <= smallFile {
		s.mem = s.mem[:0]
		buf := bytes.NewBuffer(s.mem)
		if _, err := buf.ReadFrom(r); err != nil {
			return err
		}
		s.mem = buf.Bytes()
		mem = s.mem
		sum := sha256.Sum256(mem)
		e.sum = hex.EncodeToString(sum[:])
		e.class = classify(mem[:min(len(mem), headSize)])
		e.size = int64(len(mem))
		s.spilled++
		kept := filepath.Join(s.spill, strconv.Itoa(s.spilled))
		if err := os.WriteFile(kept, mem, 0o600); err != nil {
			return err
		}
		e.content = content{path: kept}
	} else if err = s.streamFile(e, r, disk, keep); err != nil {
		return err
	}
	s.rep.Stats.ContentBytes += e.size
	if rel == "etc/passwd" && e.size < 1<<20 {
		if mem != nil {
			s.passwd = bytes.Clone(mem)
		} else if c, err := e.content.open(); err == nil {
			s.passwd, _ = io.ReadAll(io.LimitReader(c, 1<<20))
			c.Close()
		}
	}
	return s.analyzeFile(File{Path: "/" + rel, Size: e.size, Mode: e.mode, Layer: layer, SHA256: e.sum}, e.content, mem)
}

// streamFile hashes a file as it streams by, copying it to the spill
// directory when keep says so.
func (s *scanner) streamFile(e *entry, r io.Reader, disk string, keep bool) error {
	h := sha256.New()
	hw := headWriter{max: headSize}
	w := io.MultiWriter(h, &hw)
	var tmp *os.File
	if keep {
		s.spilled++
		var err error
		if tmp, err = os.Create(filepath.Join(s.spill, strconv.Itoa(s.spilled))); err != nil {
			return err
		}
		defer tmp.Close()
		w = io.MultiWriter(h, &hw, tmp)
	}
	if s.buf == nil {
		s.buf = make([]byte, 256<<10)
	}
	n, err := io.CopyBuffer(w, r, s.buf)
	if err != nil {
		return err
	}
	e.size = n
	e.sum = hex.EncodeToString(h.Sum(nil))
	e.class = classify(hw.b)
	switch {
	case disk != "":
		e.content = content{path: disk}
	case tmp != nil:
		if err := tmp.Close(); err != nil {
			return err
		}
		e.content = content{path: tmp.Name()}
	}
	return nil
}

func (s *scanner) analyzeFile(f File, c content, mem []byte) error {
	for _, a := range s.opts.Analyzers {
		fa, ok := a.(FileAnalyzer)
		if !ok {
			continue
		}
		if ff, ok := a.(FileFilter); ok && !ff.WantFile(f) {
			continue
		}
		var r io.Reader
		if mem != nil {
			r = bytes.NewReader(mem)
		} else {
			rc, err := c.open()
			if err != nil {
				return err
			}
			defer rc.Close()
			r = rc
		}
		fs, err := fa.AnalyzeFile(s.ctx, f, r)
		if err != nil {
			return fmt.Errorf("%s: %w", a.Name(), err)
		}
		for _, x := range fs {
			if x.Path == "" {
				x.Path = f.Path
			}
			if x.Path == f.Path {
				x.Layer = f.Layer
			}
			if x.Analyzer == "" {
				x.Analyzer = a.Name()
			}
			s.rep.Findings = append(s.rep.Findings, x)
		}
	}
	return nil
}

// finish builds the baseline and runs the built-in checks on the final
// filesystem and the config.
func (s *scanner) finish() {
	rep, t := s.rep, s.t
	b := &Baseline{Schema: BaselineSchema, Image: BaselineImage{Digest: rep.Image.Digest, ID: rep.Image.ID, Ref: rep.Image.Ref},
		Layers: rep.Image.Layers, Files: make([]BaselineFile, 0, len(t.execs))}
	for _, r := range t.execs {
		b.Files = append(b.Files, *r)
	}
	b.Sort()
	rep.Baseline = b
	for _, f := range b.Files {
		if f.State == Present {
			rep.Executables++
		}
	}
	rep.Findings = append(rep.Findings, refFindings(rep.Ref)...)
	rep.Findings = append(rep.Findings, configFindings(rep.Config, s.passwd)...)
	rep.Findings = append(rep.Findings, specialBitFindings(t)...)
	rep.Findings = append(rep.Findings, pathFindings(t, rep.Config)...)
	rep.Findings = append(rep.Findings, packageManagerFindings(t, rep.Config)...)
}

// markRemoved notes on each finding about a file version that a later
// layer modified or deleted it: it is not in the final filesystem, but
// still ships in the image.
func (s *scanner) markRemoved() {
	for i := range s.rep.Findings {
		f := &s.rep.Findings[i]
		if f.Path == "" || f.Layer < 0 {
			continue
		}
		if n := s.t.lookup(cleanName(f.Path), false); n == nil || n.layer != f.Layer {
			f.Removed = s.t.goneAt(f.Path, f.Layer)
		}
	}
}

func (s *scanner) analyzeFS() error {
	fsys := imageFS{t: s.t}
	for _, a := range s.opts.Analyzers {
		fa, ok := a.(FSAnalyzer)
		if !ok {
			continue
		}
		before := len(s.rep.Findings)
		if err := fa.AnalyzeFS(s.ctx, fsys, s.rep); err != nil {
			return fmt.Errorf("%s: %w", a.Name(), err)
		}
		for i := before; i < len(s.rep.Findings); i++ {
			if s.rep.Findings[i].Analyzer == "" {
				s.rep.Findings[i].Analyzer = a.Name()
			}
		}
	}
	return nil
}

// sortFindings orders findings most severe first, then by category, rule
// and path, so that reports are stable.
func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := &fs[i], &fs[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.Category != b.Category {
			return a.Category < b.Category
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Line < b.Line
	})
}

// headWriter keeps the first max bytes written to it.
type headWriter struct {
	b   []byte
	max int
}

func (w *headWriter) Write(p []byte) (int, error) {
	if k := w.max - len(w.b); k > 0 {
		w.b = append(w.b, p[:min(k, len(p))]...)
	}
	return len(p), nil
}
