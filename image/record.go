package image

import (
	"io"

	"github.com/mamori-dev/mamori/image/record"
)

// What the image store keeps of a report, defined in package record
// (which the node agent links without the scanners), under their names
// here.
type (
	Category      = record.Category
	Finding       = record.Finding
	Change        = record.Change
	Severity      = record.Severity
	Verdict       = record.Verdict
	Reason        = record.Reason
	Baseline      = record.Baseline
	BaselineImage = record.BaselineImage
	BaselineFile  = record.BaselineFile
	LayerInfo     = record.LayerInfo
)

// The categories of findings.
const (
	Misconfiguration = record.Misconfiguration
	Vulnerability    = record.Vulnerability
	Malware          = record.Malware
	Secret           = record.Secret
)

// The severities, lowest first.
const (
	Unknown  = record.Unknown
	Low      = record.Low
	Medium   = record.Medium
	High     = record.High
	Critical = record.Critical
)

// BaselineSchema identifies the baseline format.
const BaselineSchema = record.BaselineSchema

// The states of a file version.
const (
	Present  = record.Present
	Modified = record.Modified
	Deleted  = record.Deleted
)

// The kinds of executable.
const (
	KindELF    = record.KindELF
	KindScript = record.KindScript
	KindOther  = record.KindOther
)

// ParseSeverity reads a severity name, case-insensitively.
func ParseSeverity(name string) (Severity, error) { return record.ParseSeverity(name) }

// ReadBaseline reads a baseline written by Baseline.Write.
func ReadBaseline(r io.Reader) (*Baseline, error) { return record.ReadBaseline(r) }
