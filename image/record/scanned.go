package record

// Scanned is what the image store files of a scanned and judged image
// (image.Report.Scanned gives it).
type Scanned struct {
	// Ref is the reference it was scanned by, Transport how it was read.
	Ref, Transport string
	// ID is the config digest, Digest the manifest digest (if any).
	ID, Digest             string
	OS, Architecture, User string
	// Name, Tag and NamedDigest are the image as policy scopes see it
	// (policy.ImageFacts): what the reference names.
	Name, Tag, NamedDigest string
	// Verdict is the judgement against the assurance policies; the store
	// refuses an image without one.
	Verdict     *Verdict
	Findings    []Finding
	Executables int
	Baseline    *Baseline
}
