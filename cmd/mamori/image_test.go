package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/mamori-dev/mamori/image"
)

// imageLayout writes a one-layer image with a world-writable directory on
// PATH and an AWS secret in ENV (both refused by the built-in policy)
// into an OCI layout directory.
func imageLayout(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "bin/app", Typeflag: tar.TypeReg, Mode: 0o755, Size: 10},
		{Name: "opt/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "opt/tools/", Typeflag: tar.TypeDir, Mode: 0o777},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			io.WriteString(tw, "#!/bin/sh\n")
		}
	}
	tw.Close()
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Config.Env = []string{"PATH=/bin:/opt/tools", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	return dir
}

func exitCode(err error) int {
	var e exitError
	var u usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return e.ExitCode()
	case errors.As(err, &u):
		return 2
	}
	return 1
}

func TestImageScanCommand(t *testing.T) {
	dir := imageLayout(t)
	tmp := t.TempDir()
	baseline := filepath.Join(tmp, "baseline.json")
	var out, errOut bytes.Buffer

	// The built-in policy refuses the PATH directory and the ENV secret.
	err := execute([]string{"image", "scan", "oci:" + dir, "-o", "json", "--baseline", baseline}, &out, &errOut)
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "not compliant with builtin-image-assurance (2 reasons)") {
		t.Fatalf("exit %d: %v", exitCode(err), err)
	}
	var rep image.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, out.String())
	}
	if rep.Verdict == nil || rep.Verdict.Compliant || len(rep.Verdict.Reasons) != 2 || rep.Executables != 1 {
		t.Errorf("report: verdict %+v, %d executables", rep.Verdict, rep.Executables)
	}
	f, err := os.Open(baseline)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := image.ReadBaseline(f)
	if err != nil || len(b.Files) != 1 || b.Files[0].Path != "/bin/app" || b.Files[0].Kind != image.KindScript || b.Image.ID != rep.Image.ID {
		t.Errorf("baseline %+v, %v", b, err)
	}

	// A policy that asks only for no malware: compliant, unless --fail-on
	// reaches the high findings.
	pol := filepath.Join(tmp, "policy.yaml")
	os.WriteFile(pol, []byte("apiVersion: mamori.dev/v1\nkind: ImageAssurancePolicy\nmetadata: {name: lenient}\nspec:\n  scope: {image: {}}\n  rules: {blockMalware: true}\n"), 0o644)
	out.Reset()
	if err := execute([]string{"image", "scan", "--policy", pol, "oci:" + dir, "--no-secrets"}, &out, &errOut); err != nil {
		t.Fatalf("lenient: %v", err)
	}
	for _, want := range []string{"world-writable-path", "/opt/tools [layer 0]", "env-secret", "VERDICT   compliant with lenient"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "wJalrXUtnFEMI") {
		t.Errorf("the table shows the secret")
	}
	err = execute([]string{"image", "scan", "--policy", pol, "--fail-on", "high", "oci:" + dir}, io.Discard, io.Discard)
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "2 findings at or above --fail-on high") {
		t.Errorf("--fail-on high: exit %d: %v", exitCode(err), err)
	}

	// SARIF, to a file.
	sarif := filepath.Join(tmp, "report.sarif")
	execute([]string{"image", "scan", "oci:" + dir, "-o", "sarif", "--report-output", sarif}, io.Discard, io.Discard)
	var log struct {
		Version string
		Runs    []struct {
			Results []struct {
				RuleID string
				Level  string
			}
		}
	}
	data, _ := os.ReadFile(sarif)
	if err := json.Unmarshal(data, &log); err != nil || log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) != len(rep.Findings) {
		t.Errorf("SARIF: %v\n%s", err, data)
	}

	// An SBOM export and an OSV database (the vuln package's fixture).
	sbomFile := filepath.Join(tmp, "sbom.json")
	err = execute([]string{"image", "scan", "--policy", pol, "--osv-db", "../../image/vuln/testdata/osv", "--sbom", sbomFile, "--sbom-format", "spdx", "oci:" + dir}, io.Discard, io.Discard)
	data, _ = os.ReadFile(sbomFile)
	if err != nil || !strings.Contains(string(data), `"spdxVersion"`) {
		t.Errorf("--sbom: %v\n%s", err, data)
	}
	if err := execute([]string{"image", "scan", "--osv-db", filepath.Join(tmp, "none"), "oci:" + dir}, io.Discard, io.Discard); exitCode(err) != 3 {
		t.Errorf("missing OSV database: exit %d: %v", exitCode(err), err)
	}

	// Usage errors exit 2, an image that cannot be read 3.
	for _, args := range [][]string{{"scan"}, {"scan", "-o", "xml", "oci:" + dir}, {"scan", "--fail-on", "severe", "oci:" + dir},
		{"scan", "oci:" + dir, "oci:" + dir}, {"scan", "--policy", filepath.Join(tmp, "none.yaml"), "oci:" + dir}, {"inspect"}} {
		if err := execute(append([]string{"image"}, args...), io.Discard, io.Discard); exitCode(err) != 2 {
			t.Errorf("%v: exit %d: %v", args, exitCode(err), err)
		}
	}
	err = execute([]string{"image", "scan", "oci:" + filepath.Join(tmp, "missing")}, io.Discard, io.Discard)
	if exitCode(err) != 3 {
		t.Errorf("missing layout: exit %d: %v", exitCode(err), err)
	}
}
