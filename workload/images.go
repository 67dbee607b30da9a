package workload

// Images answers what mamori knows about an image: whether it is
// registered, and the verdict of its last scan. The registered-images
// store implements it; a nil Images means there is none, and the image
// controls rely on their list files alone.
type Images interface {
	// Lookup returns the status of the image a workload names by ref
	// (as written in the workload: "nginx:1.27", "reg/app@sha256:..."),
	// and false when the image is not registered.
	Lookup(ref string) (ImageStatus, bool)
}

// ImageStatus is a registered image's record.
type ImageStatus struct {
	Digest string `json:"digest,omitempty"`
	// Scanned is false until the image has a scan verdict.
	Scanned bool `json:"scanned"`
	// Compliant is the verdict of the last scan against the image
	// assurance policy; Reasons say why it is not.
	Compliant bool     `json:"compliant"`
	Reasons   []string `json:"reasons,omitempty"`
	// User is the image config's USER ("" means root); it decides who a
	// container runs as when the workload does not say.
	User string `json:"user,omitempty"`
}
