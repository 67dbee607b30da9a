package image

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// refNameAnnotation is the OCI annotation that tags an image in a layout's
// index.json.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// openLayout reads an image from an OCI image layout directory. With
// several images in index.json, tag picks the one whose ref.name
// annotation is the tag (or ends in ":tag"); an index among them is
// resolved to platform.
func openLayout(dir, tag, platform string) (*source, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w (is it a directory with oci-layout and index.json?)", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	want, err := platformOf(platform)
	if err != nil {
		return nil, err
	}
	img, err := imageFromIndex(idx, tag, want, dir)
	if err != nil {
		return nil, err
	}
	return fromV1(OCI, "", img, false)
}

// imageFromIndex chooses an image in an index: by tag, else the only one,
// resolving nested indexes to the platform.
func imageFromIndex(idx v1.ImageIndex, tag string, want v1.Platform, where string) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%s: index: %w", where, err)
	}
	var pick *v1.Descriptor
	var tags []string
	for i, d := range im.Manifests {
		ref := d.Annotations[refNameAnnotation]
		if ref != "" {
			tags = append(tags, ref)
		}
		if tag != "" && (ref == tag || strings.HasSuffix(ref, ":"+tag)) {
			pick = &im.Manifests[i]
		}
	}
	switch {
	case tag != "" && pick == nil:
		return nil, fmt.Errorf("%s has no image tagged %q (it has %s)", where, tag, listOrNone(tags))
	case pick == nil && len(im.Manifests) == 1:
		pick = &im.Manifests[0]
	case pick == nil && len(im.Manifests) == 0:
		return nil, fmt.Errorf("%s holds no image", where)
	case pick == nil:
		// Several images: a multi-platform set written as one index
		// without tags is resolved by platform.
		d, err := pickManifest(im, want)
		if err != nil {
			return nil, fmt.Errorf("%s holds %d images; name one with :TAG (tags: %s)", where, len(im.Manifests), listOrNone(tags))
		}
		pick = &d
	}
	if pick.MediaType.IsIndex() {
		child, err := idx.ImageIndex(pick.Digest)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		cm, err := child.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		d, err := pickManifest(cm, want)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		return child.Image(d.Digest)
	}
	return idx.Image(pick.Digest)
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
