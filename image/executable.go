package image

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// headSize is how much of a file's start is kept to tell what it is: an
// ELF header (64 bytes) or a shebang line.
const headSize = 256

// fileClass is what a regular file's first bytes say it is.
type fileClass struct {
	kind   string // KindELF, KindScript or KindOther
	elf    string // "DYN x86-64"
	interp string // the shebang's program
}

// classify reads a file's first bytes.
func classify(head []byte) fileClass {
	if bytes.HasPrefix(head, []byte(elf.ELFMAG)) {
		return fileClass{kind: KindELF, elf: elfSummary(head)}
	}
	if rest, ok := bytes.CutPrefix(head, []byte("#!")); ok {
		line, _, _ := bytes.Cut(rest, []byte("\n"))
		fields := strings.Fields(string(line))
		c := fileClass{kind: KindScript}
		if len(fields) > 0 {
			c.interp = fields[0]
		}
		return c
	}
	return fileClass{kind: KindOther}
}

// elfSummary reads an ELF header's type and machine. debug/elf needs the
// whole file (it reads the section headers); the identification and the
// first fields of the header are enough here and sit in the first bytes.
func elfSummary(h []byte) string {
	if len(h) < 20 {
		return "truncated"
	}
	var bo binary.ByteOrder
	switch elf.Data(h[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		bo = binary.LittleEndian
	case elf.ELFDATA2MSB:
		bo = binary.BigEndian
	default:
		return "unknown byte order"
	}
	typ := elf.Type(bo.Uint16(h[16:]))
	mach := elf.Machine(bo.Uint16(h[18:]))
	return strings.TrimPrefix(typ.String(), "ET_") + " " + machineName(mach)
}

func machineName(m elf.Machine) string {
	switch m {
	case elf.EM_X86_64:
		return "x86-64"
	case elf.EM_AARCH64:
		return "aarch64"
	case elf.EM_386:
		return "i386"
	case elf.EM_ARM:
		return "arm"
	}
	return strings.ToLower(strings.TrimPrefix(m.String(), "EM_"))
}

// entry is one item of a layer in tar's vocabulary, with a regular file's
// content already read: its hash, what it is, and where it was kept.
type entry struct {
	name  string // as in the layer
	typ   byte   // tar type flag; TypeRegA is folded into TypeReg
	mode  fs.FileMode
	size  int64
	link  string // symlink target or hard link name
	uid   int
	gid   int
	mtime time.Time

	sum     string
	class   fileClass
	content content
}

// execRecord makes the baseline record of an executable node, written
// by layer L.
func (n *node) execRecord(layer int, change string) *BaselineFile {
	return &BaselineFile{
		Path:        n.pathOf(),
		SHA256:      n.sum,
		Size:        n.size,
		Mode:        octalMode(n.mode),
		Setuid:      n.mode&fs.ModeSetuid != 0,
		Setgid:      n.mode&fs.ModeSetgid != 0,
		UID:         n.uid,
		GID:         n.gid,
		Kind:        n.class.kind,
		ELF:         n.class.elf,
		Interpreter: n.class.interp,
		Link:        n.linked,
		Layer:       layer,
		Change:      change,
		State:       Present,
	}
}

// octalMode writes permissions the way chmod takes them.
func octalMode(m fs.FileMode) string {
	v := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return fmt.Sprintf("%04o", v)
}

// tarMode converts a tar header's mode (Unix bits) to an fs.FileMode's
// permission and special bits.
func tarMode(mode int64) fs.FileMode {
	m := fs.FileMode(mode & 0o777)
	if mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}
