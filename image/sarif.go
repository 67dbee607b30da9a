package image

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteSARIF writes the report as SARIF 2.1.0, the format code-scanning
// services (GitHub, GitLab) read from CI: one result per finding, a rule
// per finding rule, the file in the image as the location's URI, and the
// verdict's reasons as errors.
func WriteSARIF(w io.Writer, r *Report, version string) error {
	log := sarifLog{Version: "2.1.0", Schema: "https://json.schemastore.org/sarif-2.1.0.json"}
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: "mamori", Version: version, InformationURI: "https://mamori.dev/docs/images"}}}
	rules := map[string]int{}
	breaking := map[*Finding]bool{}
	if r.Verdict != nil {
		for i := range r.Verdict.Reasons {
			for j := range r.Findings {
				if sameFinding(&r.Verdict.Reasons[i].Finding, &r.Findings[j]) {
					breaking[&r.Findings[j]] = true
				}
			}
		}
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		id := string(f.Category) + "/" + f.Rule
		if _, ok := rules[id]; !ok {
			rules[id] = len(run.Tool.Driver.Rules)
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{ID: id, Name: f.Rule,
				ShortDescription: sarifText{Text: ruleDescription(f)},
				Properties:       map[string]any{"category": f.Category}})
		}
		level := sarifLevel(f.Severity)
		if breaking[f] {
			level = "error"
		}
		res := sarifResult{RuleID: id, RuleIndex: rules[id], Level: level, Message: sarifText{Text: findingText(f)},
			Properties: map[string]any{"severity": f.Severity.String()}}
		if f.Path != "" {
			loc := sarifLocation{Physical: sarifPhysical{Artifact: sarifArtifact{URI: strings.TrimPrefix(f.Path, "/"), URIBaseID: "IMAGE_ROOT"}}}
			if f.Line > 0 {
				loc.Physical.Region = &sarifRegion{StartLine: f.Line}
			}
			res.Locations = []sarifLocation{loc}
		}
		if f.Layer >= 0 {
			res.Properties["layer"] = f.Layer
		}
		run.Results = append(run.Results, res)
	}
	run.Properties = map[string]any{"image": r.Image.Ref, "digest": r.Image.Digest, "id": r.Image.ID}
	if r.Verdict != nil {
		run.Properties["compliant"] = r.Verdict.Compliant
	}
	if run.Results == nil {
		run.Results = []sarifResult{}
	}
	log.Runs = []sarifRun{run}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

func sameFinding(a, b *Finding) bool {
	return a.Category == b.Category && a.Rule == b.Rule && a.Path == b.Path && a.Line == b.Line && a.Layer == b.Layer && a.Package == b.Package
}

func ruleDescription(f *Finding) string {
	if f.Category == Misconfiguration {
		return "image misconfiguration: " + f.Rule
	}
	return fmt.Sprintf("%s: %s", f.Category, f.Rule)
}

func findingText(f *Finding) string {
	s := f.Title
	if f.Detail != "" {
		s += ". " + f.Detail
	}
	if f.Removed != nil {
		s += fmt.Sprintf(" (in layer %d; %s by layer %d, but still shipped in the image's layers)", f.Layer, f.Removed.How, f.Removed.Layer)
	}
	return s
}

// sarifLevel maps a severity to SARIF's levels.
func sarifLevel(s Severity) string {
	switch {
	case s >= High:
		return "error"
	case s >= Medium:
		return "warning"
	}
	return "note"
}

type sarifLog struct {
	Version string     `json:"version"`
	Schema  string     `json:"$schema"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool       sarifTool      `json:"tool"`
	Results    []sarifResult  `json:"results"`
	Properties map[string]any `json:"properties,omitempty"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	ShortDescription sarifText      `json:"shortDescription"`
	Properties       map[string]any `json:"properties,omitempty"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID     string          `json:"ruleId"`
	RuleIndex  int             `json:"ruleIndex"`
	Level      string          `json:"level"`
	Message    sarifText       `json:"message"`
	Locations  []sarifLocation `json:"locations,omitempty"`
	Properties map[string]any  `json:"properties,omitempty"`
}

type sarifLocation struct {
	Physical sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	Artifact sarifArtifact `json:"artifactLocation"`
	Region   *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}
