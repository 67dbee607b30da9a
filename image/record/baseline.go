package record

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
)

// BaselineSchema identifies the baseline format; a reader must refuse a
// schema it does not know. docs/images.md describes every field.
const BaselineSchema = "mamori.dev/image-baseline/v1"

// Baseline is every executable an image ships: for each regular file with
// an execute bit, in every layer, its path, content hash, mode and kind,
// and which layer wrote it. Versions that a later layer modified or
// deleted are kept, marked so: Drift Prevention allows what is Present and
// can tell "this was in the image but a later layer removed it" from a
// file the image never had.
type Baseline struct {
	Schema string        `json:"schema"`
	Image  BaselineImage `json:"image"`
	// Layers are the image's layers, base first; a file's Layer indexes it.
	Layers []LayerInfo `json:"layers"`
	// Files are sorted by path, then layer.
	Files []BaselineFile `json:"files"`
}

// BaselineImage identifies the image the baseline was taken from.
type BaselineImage struct {
	// Digest is the manifest digest (what a registry and `podman inspect`
	// call the image digest); empty for a docker archive, which has none.
	Digest string `json:"digest,omitempty"`
	// ID is the config digest, the image id podman and containerd show.
	ID  string `json:"id"`
	Ref string `json:"ref"`
}

// LayerInfo describes one layer.
type LayerInfo struct {
	Index int `json:"index"`
	// DiffID is the digest of the uncompressed layer tar, as the image
	// config lists it.
	DiffID string `json:"diffID,omitempty"`
	// Digest is the layer as stored (compressed, in a registry).
	Digest string `json:"digest,omitempty"`
	// Size is the stored size in bytes.
	Size int64 `json:"size"`
	// CreatedBy is the config history's command for this layer.
	CreatedBy string `json:"createdBy,omitempty"`
}

// The states of a file version.
const (
	Present  = "present"  // in the final filesystem
	Modified = "modified" // a later layer wrote a new version at its path
	Deleted  = "deleted"  // a later layer deleted it (whiteout, opaque directory, replaced by a directory)
)

// The kinds of executable.
const (
	KindELF    = "elf"
	KindScript = "script"
	KindOther  = "other" // an execute bit on something that is neither
)

// BaselineFile is one version of one executable.
type BaselineFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Mode is the permission bits in octal, with setuid (4000), setgid
	// (2000) and sticky (1000): "0755", "4755".
	Mode   string `json:"mode"`
	Setuid bool   `json:"setuid,omitempty"`
	Setgid bool   `json:"setgid,omitempty"`
	UID    int    `json:"uid"`
	GID    int    `json:"gid"`
	Kind   string `json:"kind"`
	// ELF is the ELF type and machine ("DYN x86-64") for Kind elf.
	ELF string `json:"elf,omitempty"`
	// Interpreter is the shebang line's program for Kind script.
	Interpreter string `json:"interpreter,omitempty"`
	// Link is the path this one is a hard link to, when it is one: the
	// same content and mode under two names. Which name is the link
	// follows the order the layer lists them.
	Link string `json:"link,omitempty"`
	// Layer wrote this version; Change says whether the path was new
	// ("added") or already held a file or directory ("modified").
	Layer  int    `json:"layer"`
	Change string `json:"change"`
	// State is Present, Modified or Deleted; StateLayer is the layer
	// that modified or deleted it.
	State      string `json:"state"`
	StateLayer int    `json:"stateLayer,omitempty"`
}

// Present returns the executables of the final filesystem.
func (b *Baseline) Present() []BaselineFile {
	var out []BaselineFile
	for _, f := range b.Files {
		if f.State == Present {
			out = append(out, f)
		}
	}
	return out
}

// Lookup returns every recorded version of path, oldest first.
func (b *Baseline) Lookup(path string) []BaselineFile {
	i := sort.Search(len(b.Files), func(i int) bool { return b.Files[i].Path >= path })
	var out []BaselineFile
	for ; i < len(b.Files) && b.Files[i].Path == path; i++ {
		out = append(out, b.Files[i])
	}
	return out
}

// Write writes the baseline as indented JSON.
func (b *Baseline) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(b)
}

// ReadBaseline reads a baseline written by Write.
func ReadBaseline(r io.Reader) (*Baseline, error) {
	var b Baseline
	dec := json.NewDecoder(r)
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("read baseline: %w", err)
	}
	if b.Schema != BaselineSchema {
		return nil, fmt.Errorf("read baseline: schema %q is not %q; re-scan the image with this version of mamori", b.Schema, BaselineSchema)
	}
	if !sort.SliceIsSorted(b.Files, func(i, j int) bool { return lessFile(&b.Files[i], &b.Files[j]) }) {
		sort.Slice(b.Files, func(i, j int) bool { return lessFile(&b.Files[i], &b.Files[j]) })
	}
	return &b, nil
}

func lessFile(a, b *BaselineFile) bool {
	if a.Path != b.Path {
		return a.Path < b.Path
	}
	return a.Layer < b.Layer
}

// Sort puts the files in their order: by path, then layer (stable).
func (b *Baseline) Sort() {
	sort.SliceStable(b.Files, func(i, j int) bool { return lessFile(&b.Files[i], &b.Files[j]) })
}
