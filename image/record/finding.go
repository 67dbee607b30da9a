package record

// Category says which kind of check raised a finding; policies judge each
// category with their own rules.
type Category string

// The categories of findings.
const (
	Misconfiguration Category = "misconfiguration"
	Vulnerability    Category = "vulnerability"
	Malware          Category = "malware"
	Secret           Category = "secret"
)

// Finding is one thing the scan found. Rule names the check (for
// misconfigurations one of the rule ids in config.go, for vulnerabilities
// the advisory id, for malware the signature, for secrets the detector);
// Path and Line place it in the image when it is about a file.
type Finding struct {
	Category Category `json:"category"`
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// Title is one line a person reads in the table.
	Title string `json:"title"`
	// Detail says more: why it matters and what to do.
	Detail string `json:"detail,omitempty"`

	// Path is the file, absolute in the image ("/usr/bin/su").
	Path string `json:"path,omitempty"`
	Line int    `json:"line,omitempty"`
	// Layer is the index (from 0, the base) of the layer holding the file
	// the finding is about; -1 when it is not about a file.
	Layer int `json:"layer"`
	// Removed is set when a later layer modified or deleted that file: it
	// is not in the final filesystem but still ships in the image's layers.
	Removed *Change `json:"removed,omitempty"`

	// Package, Version and FixedIn describe a vulnerable package.
	Package string `json:"package,omitempty"`
	Version string `json:"version,omitempty"`
	FixedIn string `json:"fixedIn,omitempty"`
	// Aliases are other ids of the same advisory (CVE for a GHSA, ...).
	Aliases []string `json:"aliases,omitempty"`

	// Analyzer names what raised it: "config" (the image config),
	// "reference" (the name it was scanned by), "files" (the final
	// filesystem), or a plugged-in analyzer's Name.
	Analyzer string `json:"analyzer"`
}

// Change says which later layer replaced or removed a file.
type Change struct {
	Layer int    `json:"layer"`
	How   string `json:"how"` // "modified" or "deleted"
}
