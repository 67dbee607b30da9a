package image

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// tarEntry is one entry of a test layer.
type tarEntry struct {
	name string
	typ  byte
	mode int64
	body string
	link string
	uid  int
}

func file(name string, mode int64, body string) tarEntry {
	return tarEntry{name: name, typ: tar.TypeReg, mode: mode, body: body}
}
func dir(name string, mode int64) tarEntry { return tarEntry{name: name, typ: tar.TypeDir, mode: mode} }
func symlink(name, target string) tarEntry {
	return tarEntry{name: name, typ: tar.TypeSymlink, mode: 0o777, link: target}
}
func hardlink(name, target string, mode int64) tarEntry {
	return tarEntry{name: name, typ: tar.TypeLink, mode: mode, link: target}
}
func whiteout(name string) tarEntry { return file(name, 0o644, "") }

// tarOf writes entries as a layer tar.
func tarOf(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Uid: e.uid,
			ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fakeELF is the start of a 64-bit little-endian x86-64 shared object:
// enough for the scan to call it an ELF "DYN x86-64".
func fakeELF(tag string) string {
	h := make([]byte, 64)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = 2, 1, 1                // 64-bit, little-endian, version 1
	binary.LittleEndian.PutUint16(h[16:], 3)  // ET_DYN
	binary.LittleEndian.PutUint16(h[18:], 62) // EM_X86_64
	return string(h) + tag
}

// The planted image: what each layer holds, and what a scan must find.
//
//	layer 0: /usr/bin/su setuid root ELF, /usr/bin/apt-get, /opt/tools
//	         (on PATH, mode 0777), /usr/local/bin/tool v1 (modified in
//	         layer 1), /usr/local/bin/gone (deleted in layer 1),
//	         /var/cache/app/old.sh (hidden by layer 1's opaque dir),
//	         /etc/passwd, /usr/bin/login a hard link to su,
//	         /bin -> usr/bin, an AWS key in /root/.aws/credentials
//	         (deleted in layer 1: still shipped)
//	layer 1: /usr/local/bin/tool v2, whiteout of gone, opaque
//	         /var/cache/app with new.sh, /bin/extra below the /bin
//	         symlink (which makes /bin a directory, as overlayfs does),
//	         whiteout of /root/.aws
//	config:  no USER, no HEALTHCHECK, AWS_SECRET_ACCESS_KEY in ENV
const (
	plantedSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	plantedKeyID  = "AKIAIOSFODNN7EXAMPLE"
)

func plantedLayers(t testing.TB) [][]byte {
	l0 := tarOf(t,
		dir("usr/", 0o755), dir("usr/bin/", 0o755), symlink("bin", "usr/bin"),
		file("usr/bin/su", 0o4755, fakeELF("su")),
		hardlink("usr/bin/login", "usr/bin/su", 0o4755), symlink("usr/bin/editor", "apt-get"),
		file("usr/bin/apt-get", 0o755, "#!/bin/sh\necho installing\n"),
		dir("opt/", 0o755), dir("opt/tools/", 0o777),
		dir("usr/local/", 0o755), dir("usr/local/bin/", 0o755),
		file("usr/local/bin/tool", 0o755, "#!/usr/bin/env python3\nprint(1)\n"),
		file("usr/local/bin/gone", 0o755, fakeELF("gone")),
		dir("var/", 0o755), dir("var/cache/", 0o755), dir("var/cache/app/", 0o755),
		file("var/cache/app/old.sh", 0o755, "#!/bin/sh\n"),
		dir("etc/", 0o755), file("etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"),
		dir("root/", 0o700), dir("root/.aws/", 0o700),
		file("root/.aws/credentials", 0o600, "[default]\naws_access_key_id = "+plantedKeyID+"\naws_secret_access_key = "+plantedSecret+"\n"),
	)
	l1 := tarOf(t,
		file("usr/local/bin/tool", 0o755, "#!/bin/sh\necho v2\n"),
		whiteout("usr/local/bin/.wh.gone"),
		dir("var/cache/app/", 0o755),
		whiteout("var/cache/app/.wh..wh..opq"),
		file("var/cache/app/new.sh", 0o755, "#!/bin/sh\necho new\n"),
		file("bin/extra", 0o755, fakeELF("extra")),
		whiteout("root/.wh..aws"),
	)
	return [][]byte{l0, l1}
}

// plantedImage builds the planted image in memory.
func plantedImage(t testing.TB) v1.Image {
	t.Helper()
	img := empty.Image
	for _, data := range plantedLayers(t) {
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/opt/tools", "AWS_SECRET_ACCESS_KEY=" + plantedSecret, "APP_MODE=production"}
	cfg.Config.Cmd = []string{"/usr/local/bin/tool"}
	cfg.Config.Labels = map[string]string{"team": "shop"}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// writeLayout writes img into a new OCI layout directory, tagged tag.
func writeLayout(t testing.TB, img v1.Image, tag string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{refNameAnnotation: tag})); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tarDir writes a directory's files into a tar file (an OCI archive when
// the directory is a layout).
func tarDir(t testing.TB, dir, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(data)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}
