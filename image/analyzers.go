package image

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"

	"github.com/mamori-dev/mamori/image/malware"
	"github.com/mamori-dev/mamori/image/sbom"
	"github.com/mamori-dev/mamori/image/secrets"
	"github.com/mamori-dev/mamori/image/vuln"
)

// The analyzers below adapt the packages under image/ to the plug-in
// points of analyzer.go; those packages work over io/fs.FS and io.Reader
// and know nothing of this one. A caller lists the ones it wants in
// Options.Analyzers, SBOMAnalyzer before VulnerabilityAnalyzer.
// MalwareAnalyzer keeps state for one scan: build a new one for each scan.

// SBOMAnalyzer lists the image's OS and language packages into Report.Packages.
type SBOMAnalyzer struct{}

// Name implements Analyzer.
func (SBOMAnalyzer) Name() string { return "sbom" }

// AnalyzeFS implements FSAnalyzer. Files the extractor could not read
// become warnings; the packages it did read stay.
func (SBOMAnalyzer) AnalyzeFS(ctx context.Context, fsys fs.FS, r *Report) error {
	pkgs, err := sbom.Extract(ctx, fsys)
	var xerr *sbom.ExtractError
	if errors.As(err, &xerr) {
		for _, f := range xerr.Files {
			r.Warnings = append(r.Warnings, "sbom: "+f.Error())
		}
		err = nil
	}
	if err != nil {
		return err
	}
	r.Packages = append(r.Packages, pkgs...)
	return nil
}

// VulnerabilityAnalyzer matches Report.Packages against an OSV database.
type VulnerabilityAnalyzer struct{ DB *vuln.DB }

// Name implements Analyzer.
func (VulnerabilityAnalyzer) Name() string { return "vuln" }

// AnalyzeFS implements FSAnalyzer.
func (v VulnerabilityAnalyzer) AnalyzeFS(_ context.Context, _ fs.FS, r *Report) error {
	for _, m := range v.DB.Match(r.Packages) {
		title := m.Advisory.Summary
		if title == "" {
			title = m.Advisory.ID
		}
		r.Findings = append(r.Findings, Finding{
			Category: Vulnerability, Rule: m.Advisory.ID, Severity: vulnSeverity(m.Severity),
			Title: title, Path: m.Package.Location, Layer: -1,
			Package: m.Package.Name, Version: m.Package.Version, FixedIn: m.FixedVersion, Aliases: m.Advisory.Aliases,
		})
	}
	return nil
}

// vulnSeverity maps vuln's scale, which has the same steps, onto ours.
func vulnSeverity(s vuln.Severity) Severity {
	switch s {
	case vuln.Low:
		return Low
	case vuln.Medium:
		return Medium
	case vuln.High:
		return High
	case vuln.Critical:
		return Critical
	}
	return Unknown
}

// SecretAnalyzer finds credentials in every file of every layer: a key a later
// layer deletes still ships in the layer that added it.
type SecretAnalyzer struct{ Scanner *secrets.Scanner }

// Name implements Analyzer.
func (SecretAnalyzer) Name() string { return "secrets" }

// AnalyzeFile implements FileAnalyzer.
func (s SecretAnalyzer) AnalyzeFile(_ context.Context, f File, r io.Reader) ([]Finding, error) {
	res, err := s.Scanner.Scan(f.Path, f.Size, r)
	if err != nil {
		return nil, err
	}
	var out []Finding
	for _, x := range res.Findings {
		sev, _ := ParseSeverity(string(x.Severity))
		detail := fmt.Sprintf("%s at column %d (fingerprint %s); remove it from the image, rebuild, and rotate the credential", x.Match, x.Column, x.Fingerprint)
		if x.Example {
			detail = fmt.Sprintf("%s at column %d is a published example key: it works nowhere, but shows a template was copied", x.Match, x.Column)
		}
		out = append(out, Finding{Category: Secret, Rule: x.Rule, Severity: sev, Title: x.Title, Detail: detail, Path: f.Path, Line: x.Line})
	}
	return out, nil
}

// MalwareAnalyzer runs the malware engines (block lists, clamd, YARA) over every
// file of every layer. It holds one scan's state: build one per scan.
type MalwareAnalyzer struct {
	Scanner *malware.Scanner

	mu     sync.Mutex
	scan   *malware.Scan
	layers map[[2]string]int // path and sha256 -> layer, to place YARA's findings
}

// Name implements Analyzer.
func (*MalwareAnalyzer) Name() string { return "malware" }

// AnalyzeFile implements FileAnalyzer. Findings are collected at the end
// (AnalyzeFS), when YARA's batches are done.
func (m *MalwareAnalyzer) AnalyzeFile(ctx context.Context, f File, r io.Reader) ([]Finding, error) {
	m.mu.Lock()
	if m.scan == nil {
		sc, err := m.Scanner.NewScan()
		if err != nil {
			m.mu.Unlock()
			return nil, err
		}
		m.scan, m.layers = sc, map[[2]string]int{}
	}
	m.layers[[2]string{f.Path, f.SHA256}] = f.Layer
	sc := m.scan
	m.mu.Unlock()
	sum, _ := hex.DecodeString(f.SHA256)
	_, err := sc.File(ctx, f.Path, f.Size, r, sum)
	return nil, err
}

// AnalyzeFS implements FSAnalyzer: it ends the scan and reports every
// finding; files an engine could not judge become warnings, never clean.
func (m *MalwareAnalyzer) AnalyzeFS(ctx context.Context, _ fs.FS, r *Report) error {
	m.mu.Lock()
	sc := m.scan
	m.scan = nil
	m.mu.Unlock()
	if sc == nil {
		return nil
	}
	rep, err := sc.Finish(ctx)
	if err != nil {
		return err
	}
	for _, x := range rep.Findings {
		layer, ok := m.layers[[2]string{x.Path, x.SHA256}]
		if !ok {
			layer = -1
		}
		detail := fmt.Sprintf("found by %s (sha256 %s)", x.Engine, x.SHA256)
		if x.Detail != "" {
			detail += ": " + x.Detail
		}
		r.Findings = append(r.Findings, Finding{Category: Malware, Rule: x.Signature, Severity: Critical,
			Title: fmt.Sprintf("%s in %s", x.Signature, x.Path), Detail: detail, Path: x.Path, Layer: layer})
	}
	for i, n := range rep.NotScanned {
		if i == 20 {
			r.Warnings = append(r.Warnings, fmt.Sprintf("malware: %d more files not scanned", len(rep.NotScanned)-i))
			break
		}
		r.Warnings = append(r.Warnings, fmt.Sprintf("malware: %s not scanned by %s: %s", n.Path, n.Engine, n.Reason))
	}
	return nil
}
