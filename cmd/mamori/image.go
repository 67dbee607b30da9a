//go:build !agentonly

package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mamori-dev/mamori/image"
	"github.com/mamori-dev/mamori/image/malware"
	"github.com/mamori-dev/mamori/image/sbom"
	"github.com/mamori-dev/mamori/image/secrets"
	"github.com/mamori-dev/mamori/image/vuln"
	"github.com/mamori-dev/mamori/internal/progress"
	"github.com/mamori-dev/mamori/policy"
)

const imageHelp = `scan reads an image without running it and reports what is in it: every
executable (the baseline Drift Prevention compares running containers
against, written with --baseline), misconfigurations (runs as root, latest
or undigested reference, setuid files, world-writable PATH directories,
package managers, secrets in ENV, no HEALTHCHECK), its packages (an SBOM,
--sbom), their vulnerabilities in an offline OSV database (--osv-db),
secrets in files, and malware (--blocklist, --clamd, --yara). Files that a
later layer deletes are scanned too: they still ship in the image. The result is judged against image assurance policies
(--policy; the built-in default otherwise): compliant, or not with every
reason. The report is a table, or -o json or -o sarif, to stdout or
--report-output FILE.

REF is one of:
  podman:NAME       podman's local storage (a name, id, or digest), read from
                    /var/lib/containers/storage without running podman
  containerd:NAME   containerd's content store (/var/lib/containerd), in
                    --containerd-namespace
  oci:DIR[:TAG]     an OCI image layout directory; TAG picks among its images
  archive:FILE      an OCI archive (podman save --format oci-archive) or a
                    docker archive (docker save, podman save)
  registry:REF      a registry (credentials from ~/.docker/config.json;
                    localhost registries over plain HTTP)
  REF               podman's storage first, then the registry

Exit codes:
  0  compliant, and no finding at or above --fail-on
  1  not compliant, or a finding at or above --fail-on
  2  usage error
  3  the image could not be found or read

docs/images.md describes the findings, the baseline and the policy format.
`

func newImageCmd() *cobra.Command {
	return group("image", "scan container images, and register them for the image controls",
		`image scan reads an image and reports what is in it and its verdict against
the image assurance policies; image register records it in the image store
that the blockUnregisteredImages and blockNonCompliantImages controls read.
docs/images.md describes the findings, the baseline and the policy format.`,
		newImageScanCmd(), newImageRegisterCmd(), newImageListCmd(), newImageUnregisterCmd())
}

// Exit codes of mamori image scan, as imageHelp lists them.
const (
	exitNonCompliant = 1
	exitScanError    = 3
)

// imageScanCmdFlags are image scan's own flags.
type imageScanCmdFlags struct {
	out                      outputFlag
	report, baseline, failOn string
	sbomOut, sbomFormat      string
	scan                     *imageScanFlags
}

func newImageScanCmd() *cobra.Command {
	f := &imageScanCmdFlags{}
	cmd := &cobra.Command{
		Use:   "scan [flags] REF",
		Short: "scan an image: packages, vulnerabilities, secrets, malware, misconfigurations, verdict",
		Long:  imageHelp,
		Example: `  mamori image scan podman:localhost/shop:1.4
  mamori image scan --osv-db osv-all.zip -o sarif --report-output shop.sarif registry:ghcr.io/acme/shop:1.4
  mamori image scan --policy policies/ --fail-on high oci:./layout:v1`,
		Args: oneArg("name the image to scan, e.g. mamori image scan podman:localhost/app:1.2"),
		RunE: func(cmd *cobra.Command, args []string) error { return runImageScan(cmd, f, args[0]) },
	}
	fs := cmd.Flags()
	f.out.add(cmd, "table", "json", "sarif")
	f.out.addFormatAlias(cmd)
	fs.StringVar(&f.report, "report-output", "", "write the report to this file instead of stdout")
	f.out.addLegacyFile("--report-output", &f.report)
	fs.StringVar(&f.baseline, "baseline", "", "write the image's executables baseline (JSON) to this file")
	fs.StringVar(&f.failOn, "fail-on", "", "also exit 1 when a finding is at least this severe: low, medium, high or critical")
	f.scan = addImageScanFlags(fs)
	fs.StringVar(&f.sbomOut, "sbom", "", "write the image's packages as an SBOM to this file")
	fs.StringVar(&f.sbomFormat, "sbom-format", "cyclonedx", "SBOM format for --sbom: cyclonedx (1.6 JSON) or spdx (2.3 JSON)")
	return cmd
}

func runImageScan(cmd *cobra.Command, f *imageScanCmdFlags, ref string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	f.out.sayNote(stderr)
	format := f.out.format("table")
	sf := f.scan
	if f.sbomFormat != "cyclonedx" && f.sbomFormat != "spdx" {
		return usageError{fmt.Sprintf("unknown --sbom-format %q: use cyclonedx or spdx", f.sbomFormat)}
	}
	var threshold image.Severity
	if f.failOn != "" {
		var err error
		if threshold, err = image.ParseSeverity(f.failOn); err != nil || threshold == image.Unknown {
			return usageError{fmt.Sprintf("--fail-on %q: use low, medium, high or critical", f.failOn)}
		}
	}
	aps, err := sf.assurancePolicies(cmd.InOrStdin())
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts, err := sf.options(ctx, stderr)
	if err != nil {
		return err
	}
	rep, err := image.Scan(ctx, ref, opts)
	if err != nil {
		return exitError{exitScanError, err}
	}
	verdict := image.Judge(rep, aps)

	if f.baseline != "" {
		if err := imageWriteFile(f.baseline, rep.Baseline.Write); err != nil {
			return exitError{exitScanError, fmt.Errorf("write baseline: %w", err)}
		}
	}
	if f.sbomOut != "" {
		subject := sbom.Subject{Name: cmp.Or(rep.Image.Name, rep.Image.Ref), Version: cmp.Or(rep.Image.Digest, rep.Image.ID)}
		err := imageWriteFile(f.sbomOut, func(w io.Writer) error {
			if f.sbomFormat == "spdx" {
				return sbom.WriteSPDX(w, subject, rep.Packages)
			}
			return sbom.WriteCycloneDX(w, subject, rep.Packages)
		})
		if err != nil {
			return exitError{exitScanError, fmt.Errorf("write SBOM: %w", err)}
		}
	}
	if sf.an.osvDB == "" {
		rep.Warnings = append(rep.Warnings, "no vulnerability matching: give an OSV database with --osv-db")
	}
	write := func(w io.Writer) error {
		switch format {
		case "json":
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			return enc.Encode(rep)
		case "sarif":
			return image.WriteSARIF(w, rep, version)
		}
		printImageReport(w, rep)
		return nil
	}
	if f.report != "" && f.report != "-" {
		err = imageWriteFile(f.report, write)
	} else {
		err = write(stdout)
	}
	if err != nil {
		return exitError{exitScanError, fmt.Errorf("write report: %w", err)}
	}

	var problems []string
	if !verdict.Compliant {
		problems = append(problems, fmt.Sprintf("not compliant with %s (%s)", strings.Join(verdict.Policies, ", "), imagePlural(len(verdict.Reasons), "reason")))
	}
	if f.failOn != "" {
		n := 0
		for _, f := range rep.Findings {
			if f.Severity >= threshold {
				n++
			}
		}
		if n > 0 {
			problems = append(problems, fmt.Sprintf("%s at or above --fail-on %s", imagePlural(n, "finding"), threshold))
		}
	}
	if len(problems) > 0 {
		return exitError{exitNonCompliant, fmt.Errorf("%s: %s", ref, strings.Join(problems, "; "))}
	}
	return nil
}

// imageAnalyzerFlags choose the analyzers a scan runs besides the
// built-in checks.
// imageScanFlags are the flags that say how an image is found and what is
// looked for in it, shared by scan and register.
type imageScanFlags struct {
	policies                                 listFlag
	platform, ns, podmanRoot, containerdRoot string
	insecure                                 bool
	an                                       imageAnalyzerFlags
}

func addImageScanFlags(fs *pflag.FlagSet) *imageScanFlags {
	f := &imageScanFlags{}
	fs.Var(&f.policies, "policy", "an ImageAssurancePolicy file or directory (repeatable; - for standard input); default: the built-in policy")
	fs.StringVar(&f.platform, "platform", "", "the platform to pick from a multi-platform image, e.g. linux/arm64 (default: linux and this machine's)")
	fs.StringVar(&f.ns, "containerd-namespace", "default", "containerd namespace of containerd: images (Kubernetes uses k8s.io)")
	fs.StringVar(&f.podmanRoot, "podman-root", "/var/lib/containers/storage", "containers/storage graph root for podman: images")
	fs.StringVar(&f.containerdRoot, "containerd-root", "/var/lib/containerd", "containerd root for containerd: images")
	fs.BoolVar(&f.insecure, "insecure", false, "allow plain HTTP to any registry (localhost registries always may)")
	fs.StringVar(&f.an.osvDB, "osv-db", "", "match packages against this OSV database: a directory of OSV JSON files or osv.dev zip exports (offline; no vulnerability matching without it)")
	fs.StringVar(&f.an.clamd, "clamd", "", "scan every file with ClamAV through clamd's socket: unix:///run/clamav/clamd.ctl or tcp://host:3310")
	fs.Var(&f.an.yara, "yara", "scan every file with these YARA rules (a .yar file or a directory of them; repeatable; needs the yara tool)")
	fs.Var(&f.an.blocklists, "blocklist", "a SHA-256 block list file: files whose hash is on it are malware (repeatable)")
	fs.BoolVar(&f.an.noSecrets, "no-secrets", false, "do not look for secrets in files")
	return f
}

// assurancePolicies loads --policy; none means the built-in policy.
func (f *imageScanFlags) assurancePolicies(stdin io.Reader) ([]*policy.AssurancePolicy, error) {
	if len(f.policies) == 0 {
		return nil, nil
	}
	aps, err := policy.LoadAssuranceFrom(stdin, f.policies...)
	if err != nil {
		return nil, usageError{"image assurance policies do not load:\n" + err.Error()}
	}
	return aps, nil
}

// options starts the analyzers and says where images are read from.
func (f *imageScanFlags) options(ctx context.Context, stderr io.Writer) (image.Options, error) {
	analyzers, err := f.an.analyzers(ctx, stderr)
	if err != nil {
		return image.Options{}, exitError{exitScanError, err}
	}
	return image.Options{
		Platform: f.platform, PodmanRoot: f.podmanRoot, ContainerdRoot: f.containerdRoot, ContainerdNamespace: f.ns,
		Insecure: f.insecure, Analyzers: analyzers, Progress: stderr,
	}, nil
}

type imageAnalyzerFlags struct {
	osvDB      string
	clamd      string
	yara       listFlag
	blocklists listFlag
	noSecrets  bool
}

// analyzers builds the analyzers for one scan, in order: the SBOM before
// the vulnerability match that reads its packages. Engines that cannot
// start (no clamd answering, YARA rules that do not compile, an OSV
// database that does not load) are errors now, not silent gaps later.
func (f *imageAnalyzerFlags) analyzers(ctx context.Context, stderr io.Writer) ([]image.Analyzer, error) {
	out := []image.Analyzer{image.SBOMAnalyzer{}}
	if f.osvDB != "" {
		var bar *progress.Bar
		db, err := vuln.Load(ctx, f.osvDB, vuln.LoadConfig{Progress: func(done, total int64) {
			if bar == nil {
				bar = progress.NewItems(stderr, "loading "+f.osvDB, "advisories", total)
			}
			bar.SetTotal(total)
			bar.Set(done)
		}})
		bar.Done()
		if err != nil {
			return nil, fmt.Errorf("--osv-db: %w", err)
		}
		fmt.Fprintf(stderr, "OSV database %s: %d advisories\n", f.osvDB, db.Entries())
		out = append(out, image.VulnerabilityAnalyzer{DB: db})
	}
	if !f.noSecrets {
		out = append(out, image.SecretAnalyzer{Scanner: secrets.New(secrets.Config{})})
	}
	var cfg malware.Config
	for _, p := range f.blocklists {
		bl, err := malware.LoadBlockList(p)
		if err != nil {
			return nil, fmt.Errorf("--blocklist: %w", err)
		}
		cfg.BlockLists = append(cfg.BlockLists, bl)
	}
	if f.clamd != "" {
		c, err := malware.NewClamd(malware.ClamdConfig{Address: f.clamd})
		if err != nil {
			return nil, fmt.Errorf("--clamd: %w", err)
		}
		if err := c.Ping(ctx); err != nil {
			return nil, fmt.Errorf("--clamd: clamd at %s does not answer: %w", c, err)
		}
		cfg.Clamd = c
	}
	if len(f.yara) > 0 {
		y, err := malware.NewYARA(ctx, malware.YARAConfig{Rules: f.yara})
		if err != nil {
			return nil, fmt.Errorf("--yara: %w", err)
		}
		cfg.YARA = y
	}
	if cfg.BlockLists != nil || cfg.Clamd != nil || cfg.YARA != nil {
		out = append(out, &image.MalwareAnalyzer{Scanner: malware.New(cfg)})
	}
	return out, nil
}

func imageWriteFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func imagePlural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// printImageReport writes the report for a person: what was scanned, the
// findings most severe first, and the verdict with every reason.
func printImageReport(w io.Writer, r *image.Report) {
	img := &r.Image
	fmt.Fprintf(w, "IMAGE     %s (%s)\n", img.Ref, img.Transport)
	if img.Name != "" && img.Name != img.Ref {
		fmt.Fprintf(w, "NAME      %s\n", img.Name)
	}
	if img.Digest != "" {
		fmt.Fprintf(w, "DIGEST    %s\n", img.Digest)
	}
	fmt.Fprintf(w, "ID        %s\n", img.ID)
	fmt.Fprintf(w, "PLATFORM  %s/%s, %d layers, %d files, %d executables, %s of layers in %.2fs\n",
		img.OS, img.Architecture, r.Stats.Layers, r.Stats.Files, r.Executables, imageBytes(r.Stats.StoredBytes), r.Stats.Seconds)
	if len(r.Packages) > 0 {
		fmt.Fprintf(w, "PACKAGES  %d\n", len(r.Packages))
	}
	for _, s := range r.Warnings {
		fmt.Fprintf(w, "WARNING   %s\n", s)
	}
	fmt.Fprintln(w)
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "No findings.")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEVERITY\tCATEGORY\tRULE\tWHERE\tFINDING")
		for _, f := range r.Findings {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Severity, f.Category, f.Rule, findingWhere(&f), f.Title)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	v := r.Verdict
	if v == nil {
		return
	}
	if v.Compliant {
		fmt.Fprintf(w, "VERDICT   compliant with %s\n", strings.Join(v.Policies, ", "))
		return
	}
	fmt.Fprintf(w, "VERDICT   NOT compliant with %s: %s\n", strings.Join(v.Policies, ", "), imagePlural(len(v.Reasons), "reason"))
	for _, reason := range v.Reasons {
		fmt.Fprintf(w, "  - %s: %s (%s, %s)\n", reason.Rule, reason.Message, reason.Policy, reason.Where)
	}
}

func findingWhere(f *image.Finding) string {
	if f.Path == "" {
		if f.Package != "" {
			return f.Package + " " + f.Version
		}
		return f.Analyzer
	}
	s := f.Path
	if f.Line > 0 {
		s += fmt.Sprintf(":%d", f.Line)
	}
	if f.Layer >= 0 {
		s += fmt.Sprintf(" [layer %d", f.Layer)
		if f.Removed != nil {
			s += fmt.Sprintf(", %s by %d", f.Removed.How, f.Removed.Layer)
		}
		s += "]"
	}
	return s
}

func imageBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}
