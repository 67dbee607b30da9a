package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// content says where a regular file's content can be read again after its
// layer has been read: a file in a podman layer's diff directory, or a
// copy the scan kept in its spill directory. The zero value keeps nothing.
type content struct {
	path string
}

func (c content) kept() bool { return c.path != "" }

func (c content) open() (io.ReadCloser, error) {
	if c.path == "" {
		return nil, errors.New("content not kept")
	}
	return os.Open(c.path)
}

// layerReader reads one layer's entries in tar's vocabulary. For a regular
// file fn gets its content in r, readable only during the call; disk is
// the file's path when the layer is a directory on disk (so the scan need
// not copy it), "" otherwise.
type layerReader interface {
	entries(fn func(e *entry, r io.Reader, disk string) error) error
}

// tarLayer reads a layer tar, uncompressed.
type tarLayer struct{ r io.Reader }

func (l tarLayer) entries(fn func(*entry, io.Reader, string) error) error {
	tr := tar.NewReader(l.r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read layer tar: %w", err)
		}
		e := &entry{name: h.Name, typ: h.Typeflag, mode: tarMode(h.Mode), size: h.Size, link: h.Linkname,
			uid: h.Uid, gid: h.Gid, mtime: h.ModTime}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
			e.typ = tar.TypeReg
		case tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			e.size = 0
		default:
			continue // PAX and GNU metadata records are folded in by archive/tar
		}
		if err := fn(e, tr, ""); err != nil {
			return err
		}
	}
}

// decompress sniffs a stored layer's compression (gzip, zstd or none) and
// returns a reader of the tar.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(4)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

// dirLayer reads a layer kept as a directory by containers/storage's
// overlay driver: whiteouts are character devices 0/0 and an opaque
// directory carries the overlay.opaque extended attribute, as the kernel's
// overlayfs wants them. They are turned into tar's ".wh." names.
type dirLayer struct {
	root  string
	count func(int64) // bytes read, for the progress bar: a tar's worth
	// links maps a multiply linked file's device and inode to the first
	// name it was seen under, so that later names become hard links as
	// in a tar.
	links map[[2]uint64]string
}

func (l dirLayer) entries(fn func(*entry, io.Reader, string) error) error {
	l.links = map[[2]uint64]string{}
	return l.walk(l.root, "", fn)
}

func (l dirLayer) walk(dir, rel string, fn func(*entry, io.Reader, string) error) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read layer directory: %w", err)
	}
	sort.Slice(des, func(i, j int) bool { return des[i].Name() < des[j].Name() })
	for _, de := range des {
		p := filepath.Join(dir, de.Name())
		name := de.Name()
		if rel != "" {
			name = rel + "/" + de.Name()
		}
		if err := l.one(p, name, fn); err != nil {
			return err
		}
	}
	return nil
}

func (l dirLayer) one(p, name string, fn func(*entry, io.Reader, string) error) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("layer file: %w", err)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	e := &entry{name: name, mode: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), mtime: fi.ModTime()}
	if st != nil {
		e.uid, e.gid = int(st.Uid), int(st.Gid)
	}
	if fi.Mode().Type() == 0 {
		if st != nil && st.Nlink > 1 {
			key := [2]uint64{uint64(st.Dev), st.Ino}
			if first, ok := l.links[key]; ok {
				e.typ, e.link = tar.TypeLink, first
				l.counted(512)
				return fn(e, nil, "")
			}
			l.links[key] = name
		}
		e.typ, e.size = tar.TypeReg, fi.Size()
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("layer file: %w", err)
		}
		defer f.Close()
		l.counted(512 + e.size)
		return fn(e, f, p)
	}
	l.counted(512)
	switch t := fi.Mode().Type(); {
	case t == fs.ModeDir:
		e.typ = tar.TypeDir
		if err := fn(e, nil, ""); err != nil {
			return err
		}
		if opaque(p) {
			if err := fn(&entry{name: name + "/" + opaqueMarker, typ: tar.TypeReg}, bytes.NewReader(nil), ""); err != nil {
				return err
			}
		}
		return l.walk(p, name, fn)
	case t == fs.ModeSymlink:
		e.typ = tar.TypeSymlink
		if e.link, err = os.Readlink(p); err != nil {
			return fmt.Errorf("layer file: %w", err)
		}
	case t&fs.ModeCharDevice != 0:
		if st != nil && st.Rdev == 0 {
			dir, base := filepath.Split(name)
			return fn(&entry{name: dir + whiteoutPrefix + base, typ: tar.TypeReg}, bytes.NewReader(nil), "")
		}
		e.typ = tar.TypeChar
	case t == fs.ModeDevice:
		e.typ = tar.TypeBlock
	case t == fs.ModeNamedPipe:
		e.typ = tar.TypeFifo
	default:
		return nil // sockets do not belong in a layer
	}
	return fn(e, nil, "")
}

func (l dirLayer) counted(n int64) {
	if l.count != nil {
		l.count(n)
	}
}

// opaque reports whether a layer directory is marked opaque: the kernel's
// attribute (rootful), or the user namespace one fuse-overlayfs and
// rootless podman use.
func opaque(p string) bool {
	buf := make([]byte, 8)
	for _, attr := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		n, err := unix.Lgetxattr(p, attr, buf)
		if err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}
