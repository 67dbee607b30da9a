package image

import (
	"archive/tar"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// imageFS is the final filesystem of a scanned image as an fs.FS, for
// FSAnalyzers. Names are relative to the image root ("etc/os-release").
// Open, Stat and ReadDir follow symlinks inside the image (an absolute
// target is taken from the image root, never the host's); Lstat and
// ReadLink do not. Regular files are read from the layer directory or
// the scan's spill directory, and support ReadAt and Seek.
type imageFS struct{ t *tree }

var (
	_ fs.ReadDirFS   = imageFS{}
	_ fs.StatFS      = imageFS{}
	_ fs.ReadLinkFS  = imageFS{}
	_ fs.ReadFileFS  = imageFS{}
	_ io.ReaderAt    = (*regularFile)(nil)
	_ fs.ReadDirFile = (*dirFile)(nil)
)

func (f imageFS) find(op, name string, follow bool) (*node, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	rel := name
	if rel == "." {
		rel = ""
	}
	n := f.t.lookup(rel, follow)
	if n == nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return n, nil
}

func (f imageFS) Open(name string) (fs.File, error) {
	n, err := f.find("open", name, true)
	if err != nil {
		return nil, err
	}
	info := nodeInfo{n: n, name: path.Base(name)}
	switch {
	case n.isDir():
		return &dirFile{info: info, n: n}, nil
	case n.typ == tar.TypeReg:
		if !n.content.kept() {
			if n.size == 0 {
				return &emptyFile{info}, nil
			}
			return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("content not kept by this scan")}
		}
		of, err := os.Open(n.content.path)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &regularFile{File: of, info: info}, nil
	case n.typ == tar.TypeSymlink:
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("symlink loop or dangling symlink")}
	}
	return &emptyFile{info}, nil
}

func (f imageFS) Stat(name string) (fs.FileInfo, error) {
	n, err := f.find("stat", name, true)
	if err != nil {
		return nil, err
	}
	return nodeInfo{n: n, name: path.Base(name)}, nil
}

func (f imageFS) Lstat(name string) (fs.FileInfo, error) {
	n, err := f.find("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return nodeInfo{n: n, name: path.Base(name)}, nil
}

func (f imageFS) ReadLink(name string) (string, error) {
	n, err := f.find("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.typ != tar.TypeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return n.link, nil
}

func (f imageFS) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := f.find("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return entriesOf(n), nil
}

func (f imageFS) ReadFile(name string) ([]byte, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	return io.ReadAll(file)
}

func entriesOf(n *node) []fs.DirEntry {
	out := make([]fs.DirEntry, 0, len(n.kids))
	for name, k := range n.kids {
		out = append(out, fs.FileInfoToDirEntry(nodeInfo{n: k, name: name}))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// nodeInfo is a node as an fs.FileInfo.
type nodeInfo struct {
	n    *node
	name string
}

func (i nodeInfo) Name() string {
	if i.name == "." || i.name == "/" {
		return "."
	}
	return i.name
}
func (i nodeInfo) Size() int64        { return i.n.size }
func (i nodeInfo) ModTime() time.Time { return i.n.mtime }
func (i nodeInfo) IsDir() bool        { return i.n.isDir() }
func (i nodeInfo) Sys() any           { return nil }

func (i nodeInfo) Mode() fs.FileMode {
	m := i.n.mode
	switch i.n.typ {
	case tar.TypeDir:
		m |= fs.ModeDir
	case tar.TypeSymlink:
		m |= fs.ModeSymlink
	case tar.TypeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case tar.TypeBlock:
		m |= fs.ModeDevice
	case tar.TypeFifo:
		m |= fs.ModeNamedPipe
	}
	return m
}

type regularFile struct {
	*os.File
	info nodeInfo
}

func (f *regularFile) Stat() (fs.FileInfo, error) { return f.info, nil }

type emptyFile struct{ info nodeInfo }

func (f *emptyFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *emptyFile) Read([]byte) (int, error)   { return 0, io.EOF }
func (f *emptyFile) Close() error               { return nil }

type dirFile struct {
	info    nodeInfo
	n       *node
	entries []fs.DirEntry
	read    bool
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}

func (d *dirFile) ReadDir(count int) ([]fs.DirEntry, error) {
	if !d.read {
		d.entries, d.read = entriesOf(d.n), true
	}
	if count <= 0 {
		out := d.entries
		d.entries = nil
		return out, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	k := min(count, len(d.entries))
	out := d.entries[:k]
	d.entries = d.entries[k:]
	return out, nil
}

// absPath turns an fs.FS name into the image's absolute path.
func absPath(name string) string {
	return "/" + strings.TrimPrefix(name, "/")
}
