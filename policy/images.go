package policy

import (
	"bufio"
	"bytes"
	"path/filepath"
	"strings"
)

// BlockUnregisteredImages refuses containers whose image is not
// registered in mamori's image store (`mamori image register`) and, when
// the control names registered-images lists (files with one image pattern
// per line), not on every one of them too. Where no store is given (e.g.
// `mamori check`), the lists alone decide.
type BlockUnregisteredImages struct {
	Switch `yaml:",inline"`
	// RegisteredImages are optional list files; a relative path is
	// relative to the policy file. An image must be on every one of them,
	// which is also how lists from several policies combine (allow lists
	// intersect).
	RegisteredImages []string `yaml:"registeredImages" json:"registeredImages"`

	lists []*ImageList
}

// Registered reports whether the image is on every registered-images
// list the control names.
func (b *BlockUnregisteredImages) Registered(img ImageFacts) bool {
	for _, l := range b.lists {
		if !l.Contains(img) {
			return false
		}
	}
	return true
}

func (b *BlockUnregisteredImages) validate(v *validator, path string) {
	for i, f := range b.RegisteredImages {
		switch {
		case strings.TrimSpace(f) == "":
			v.errorf(path+".registeredImages["+itoa(i)+"]", "empty file name; give the path of a registered-images list")
		case !filepath.IsAbs(f):
			b.RegisteredImages[i] = filepath.Join(filepath.Dir(v.p.Source.File), f)
		}
	}
}

// merge: the lists intersect, so the effective control keeps every file
// and requires an image to be on all of them.
func (b *BlockUnregisteredImages) merge(m *merger, src control, path string) {
	s := src.(*BlockUnregisteredImages)
	m.union(path+".registeredImages", &b.RegisteredImages, s.RegisteredImages)
	for _, l := range s.lists {
		if !containsImageList(b.lists, l) {
			b.lists = append(b.lists, l)
		}
	}
}

func containsImageList(ls []*ImageList, l *ImageList) bool {
	for _, x := range ls {
		if x == l {
			return true
		}
	}
	return false
}

// BlockNonCompliantImages refuses containers whose image is not
// registered as compliant in mamori's image store: the verdict of its
// last scan against the image assurance policies (`mamori image
// register`). An image without a verdict is refused too.
type BlockNonCompliantImages struct {
	Switch `yaml:",inline"`
}

func (*BlockNonCompliantImages) validate(*validator, string)    {}
func (*BlockNonCompliantImages) merge(*merger, control, string) {}

// ImageList is a registered-images file: one image per line, '#' starts a
// comment. A line is a glob (see Pattern) matched against an image's
// name (registry/repository), name:tag and name@digest; a line without
// glob characters is normalised first, so "nginx:1.27" means
// "docker.io/library/nginx:1.27".
type ImageList struct {
	Name     string
	patterns []Pattern
}

// ParseImageList reads a registered-images file.
func ParseImageList(name string, data []byte) (*ImageList, error) {
	l := &ImageList{Name: name}
	var errs errorList
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		s := strings.TrimSpace(text)
		if s == "" {
			continue
		}
		col := strings.Index(text, s) + 1
		if _, lit := literalText(s); lit {
			if f := ParseImageRef(s); f.Name != "" {
				s = f.Name
				if f.Digest != "" {
					s += "@" + f.Digest
				} else if f.Tag != "" {
					s += ":" + f.Tag
				}
			}
		}
		p, err := CompilePattern(s)
		if err != nil {
			errs.addf(Position{File: name, Line: line, Col: col}, "%v", err)
			continue
		}
		l.patterns = append(l.patterns, p)
	}
	if err := sc.Err(); err != nil {
		errs.addf(Position{File: name}, "read: %v", err)
	}
	return l, errs.err()
}

// Contains reports whether the image is on the list.
func (l *ImageList) Contains(img ImageFacts) bool {
	if img.Name == "" {
		return false
	}
	forms := []string{img.Name}
	if img.Tag != "" {
		forms = append(forms, img.Name+":"+img.Tag)
	}
	if img.Digest != "" {
		forms = append(forms, img.Name+"@"+img.Digest)
	}
	for _, p := range l.patterns {
		for _, f := range forms {
			if p.Match(f) {
				return true
			}
		}
	}
	return false
}

// On reports whether the control is set and on; it is safe on nil.
func (c *BlockUnregisteredImages) On() bool { return c != nil && c.Switch.On() }

// On reports whether the control is set and on; it is safe on nil.
func (c *BlockNonCompliantImages) On() bool { return c != nil && c.Switch.On() }
