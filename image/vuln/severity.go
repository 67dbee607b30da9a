package vuln

import (
	"fmt"
	"strings"

	cvss20 "github.com/pandatix/go-cvss/20"
	cvss30 "github.com/pandatix/go-cvss/30"
	cvss31 "github.com/pandatix/go-cvss/31"
	cvss40 "github.com/pandatix/go-cvss/40"
)

// Severity ranks a vulnerability. The zero value is Unknown: the
// advisory gave no severity that could be read.
type Severity int

// The severities, lowest first.
const (
	Unknown Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{"UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("Severity(%d)", int(s))
	}
	return severityNames[s]
}

// MarshalText writes the name, so that JSON says "HIGH".
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// severityFromLabel reads the words advisories use: GitHub's MODERATE is
// MEDIUM, Ubuntu's negligible is LOW.
func severityFromLabel(label string) Severity {
	switch strings.ToUpper(strings.TrimSpace(label)) {
	case "CRITICAL":
		return Critical
	case "HIGH", "IMPORTANT":
		return High
	case "MEDIUM", "MODERATE":
		return Medium
	case "LOW", "NEGLIGIBLE", "NONE":
		return Low
	}
	return Unknown
}

// cvssScore computes the base score of a CVSS vector and its rating on
// the scale of its version (FIRST's qualitative scale for 3.x and 4.0;
// NVD's for 2.0, which has no CRITICAL).
func cvssScore(typ, vector string) (float64, Severity, error) {
	var score float64
	switch {
	case typ == "CVSS_V4" || strings.HasPrefix(vector, "CVSS:4.0/"):
		v, err := cvss40.ParseVector(vector)
		if err != nil {
			return 0, Unknown, err
		}
		score = v.Score()
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		v, err := cvss31.ParseVector(vector)
		if err != nil {
			return 0, Unknown, err
		}
		score = v.BaseScore()
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		v, err := cvss30.ParseVector(vector)
		if err != nil {
			return 0, Unknown, err
		}
		score = v.BaseScore()
	case typ == "CVSS_V2":
		v, err := cvss20.ParseVector(vector)
		if err != nil {
			return 0, Unknown, err
		}
		score = v.BaseScore()
		switch {
		case score >= 7:
			return score, High, nil
		case score >= 4:
			return score, Medium, nil
		}
		return score, Low, nil
	default:
		return 0, Unknown, fmt.Errorf("not a CVSS vector: %q", vector)
	}
	switch {
	case score >= 9:
		return score, Critical, nil
	case score >= 7:
		return score, High, nil
	case score >= 4:
		return score, Medium, nil
	}
	return score, Low, nil
}

// rating is a vulnerability's severity with where it came from.
type rating struct {
	Severity Severity
	Score    float64 // CVSS base score; 0 without a vector
	Vector   string
}

// rate picks the severity of an advisory: the newest CVSS vector among
// sevs (4.0, then 3.x, then 2.0), whose base score is computed; else a
// severity word (Ubuntu's severity type, or database_specific.severity as
// GitHub writes it); else Unknown. A vector gives a score and is exact,
// so it wins over a word.
func rate(sevs []osvSeverity, labels ...string) rating {
	best := rating{}
	bestRank := 0
	for _, s := range sevs {
		rank := map[string]int{"CVSS_V4": 3, "CVSS_V3": 2, "CVSS_V2": 1}[s.Type]
		if rank <= bestRank {
			continue
		}
		score, sev, err := cvssScore(s.Type, s.Score)
		if err != nil {
			continue
		}
		best, bestRank = rating{Severity: sev, Score: score, Vector: s.Score}, rank
	}
	if bestRank > 0 {
		return best
	}
	for _, s := range sevs {
		if s.Type == "Ubuntu" {
			labels = append([]string{s.Score}, labels...)
		}
	}
	for _, l := range labels {
		if sev := severityFromLabel(l); sev != Unknown {
			return rating{Severity: sev}
		}
	}
	return rating{}
}
