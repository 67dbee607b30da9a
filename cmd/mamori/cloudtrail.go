//go:build !agentonly

package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/audit/cloudtrail"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/internal/progress"
	"github.com/mamori-dev/mamori/output"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/defaults"
	"github.com/mamori-dev/mamori/rules/sigma"
)

const cloudtrailScanHelp = `scan reads AWS CloudTrail logs and evaluates every record against rules of
source aws_cloudtrail. mamori's own CloudTrail rules are built in and run
by default: one for each technique of Stratus Red Team's AWS catalogue
(keys, passwords and trust given away, admin rights, logs and security
services turned off, logs set to expire, snapshots and images shared,
secrets and passwords read in bulk, commands run on instances, Lambda
backdoors, Bedrock abuse...), and a lower-priority alert when a critical
call is refused (docs/rules.md lists them with their fields).

Some rules are stateful (mamori's extension of the rule language: N
records by one identity within a window, the first time something is
seen), as are Sigma's count(), near, timeframe and correlation rules
once translated. They count in the records' own time, over the records of
one scan; mamori agent --cloudtrail and mamori console --cloudtrail keep
what they counted in their checkpoint across restarts.

--rules adds Falco rules files, such as Falco's aws_cloudtrail_rules.yaml,
loaded after the built-in rules: they may override or extend them (append
to a list, replace a mamori_ct_*_allowed macro). --no-builtin runs the
--rules files alone. A rules file with no rule of source aws_cloudtrail
(Falco's syscall rules, Sigma rules for Kubernetes) is refused.

A PATH is a file, - for standard input, or a directory, read recursively
for *.json, *.jsonl and *.ndjson files, gzipped or not. A file holds the S3
delivery object {"Records":[...]}, a JSON array of records, or one record
per line; a file with no records at all is an error. Records are
evaluated in the order read, which matters to the rules that remember
earlier records (an ECR tag's previous digest, a burst of reads): name
the files oldest first; CloudTrail's own file names sort by time.

A PATH s3://BUCKET/PREFIX reads every log object under the prefix once,
oldest first, after the local paths (credentials from the AWS environment;
--region, or --endpoint for an S3-compatible store). To follow a bucket as
logs arrive, use mamori agent --cloudtrail.

Alerts are written as JSON lines (-o text: Falco's text lines) to stdout
or, appended, to --alerts-output. On a terminal, a progress bar counts the
bytes read. A summary by rule and priority goes to stderr at the end. A
file or record that cannot be read is reported on stderr and skipped; the
scan goes on, and exits 1 at the end. Input that holds no CloudTrail
record (a Kubernetes audit log, an empty directory) is an error that says
so. Ctrl-C (or SIGTERM) stops the scan: the alerts found so far are
written, the summary printed, and the exit status is 130.`

const cloudtrailScanExamples = `  mamori cloudtrail scan AWSLogs/ --alerts-output alerts.json
  mamori cloudtrail scan --rules aws_cloudtrail_rules.yaml trail.json.gz
  zcat trail.json.gz | mamori cloudtrail scan -`

func newCloudtrailCmd() *cobra.Command {
	return group("cloudtrail", "scan AWS CloudTrail logs (files or S3) with mamori's, Falco's or Sigma rules",
		"cloudtrail scans AWS CloudTrail logs; mamori agent --cloudtrail follows a bucket.", newCloudtrailScanCmd())
}

// cloudtrailScanFlags are cloudtrail scan's flags.
type cloudtrailScanFlags struct {
	rules     listFlag
	noBuiltin bool
	alerts    string
	out       outputFlag
	all       bool
	s3        s3Flags
}

func newCloudtrailScanCmd() *cobra.Command {
	f := &cloudtrailScanFlags{}
	cmd := &cobra.Command{
		Use:     "scan [flags] PATH...",
		Short:   "evaluate CloudTrail logs (files, -, s3://) against aws_cloudtrail rules",
		Long:    cloudtrailScanHelp,
		Example: cloudtrailScanExamples,
		Args:    needArgs("name at least one CloudTrail file or directory (or - for standard input)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCloudtrailScan(cmd, f, args)
		},
	}
	fs := cmd.Flags()
	fs.Var(&f.rules, "rules", "a Falco rules file of source aws_cloudtrail (e.g. aws_cloudtrail_rules.yaml), or Sigma rules for\n"+
		"aws/cloudtrail (a file or a directory; - for standard input), loaded after the built-in rules (repeatable; later files override earlier ones)")
	fs.BoolVar(&f.noBuiltin, "no-builtin", false, "do not load mamori's built-in CloudTrail rules: run only the --rules files")
	renamed(fs, "no-default-rules", "no-builtin")
	fs.StringVar(&f.alerts, "alerts-output", "", "append alerts to this file instead of writing them to stdout")
	f.out.add(cmd, "json", "text")
	f.out.addLegacyFile("--alerts-output", &f.alerts)
	fs.BoolVar(&f.all, "match-all", false, "raise an alert for every matching rule, not only the first (Falco's rule_matching: all)")
	renamed(fs, "all", "match-all")
	fs.StringVar(&f.s3.region, "region", "", "AWS region of the s3:// buckets; default AWS_REGION or the shared config")
	fs.StringVar(&f.s3.endpoint, "endpoint", "", "URL of an S3-compatible store holding the s3:// buckets, instead of AWS")
	return cmd
}

func runCloudtrailScan(cmd *cobra.Command, f *cloudtrailScanFlags, paths []string) error {
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	f.out.sayNote(stderr)
	if f.noBuiltin && len(f.rules) == 0 {
		return usageError{"--no-builtin leaves no rules: name rules files with --rules, e.g. --rules aws_cloudtrail_rules.yaml from falcosecurity/plugins"}
	}
	if err := oneStdin(f.rules, paths); err != nil {
		return err
	}
	format := f.out.format("json")
	rs, err := cloudtrailRuleset(f.rules, !f.noBuiltin, cmd.InOrStdin(), stderr)
	if err != nil {
		return err
	}
	if err := reportCloudtrailRules(stderr, rs); err != nil {
		return err
	}
	out, err := openAlerts(f.alerts, output.Format(format), stdout)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	det := cloudtrail.NewDetector(rs, cloudtrail.DetectorConfig{All: f.all, Hostname: host})
	scan := newAuditScan("CloudTrail records", out, stderr)
	locals, buckets := splitS3(paths)
	files := cloudtrail.LogFiles(locals, scan.bad)
	bar, sizes := progress.Files(stderr, "cloudtrail scan", files)
	scan.bar = bar
	rd := cloudtrail.Reader{Transient: true, Stdin: cmd.InOrStdin()} // the scan keeps no record past its evaluation
	handle := func(r *cloudtrail.Record) {
		scan.record(r.File, func(emit func(*event.Alert)) { det.Detect(r, emit) })
	}
	for i, file := range files {
		if scan.interrupted() {
			break
		}
		rd.ReadFile(file, handle, scan.bad)
		bar.Add(sizes[i])
	}
	bar.Done()
	for _, u := range buckets {
		scanS3(scan.ctx, u, f.s3, handle, scan.bad)
	}
	return scan.finish(paths)
}

// cloudtrailRuleset loads mamori's built-in CloudTrail rules, when
// builtin, then the named files, which may override and extend them.
// Sigma rules among them are translated; those that cannot be are listed
// on stderr.
func cloudtrailRuleset(ruleFiles []string, builtin bool, stdin io.Reader, stderr io.Writer) (*rules.Ruleset, error) {
	var files []rules.File
	if builtin {
		files = append(files, defaults.CloudTrailFile())
	}
	named, untranslated, err := sigma.ReadFiles(sigma.Config{Catalogs: []rules.Catalog{cloudtrail.NewCatalog()}, Stdin: stdin}, ruleFiles...)
	if err != nil {
		return nil, err
	}
	for _, u := range untranslated {
		fmt.Fprintln(stderr, u)
	}
	files = append(files, named...)
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{cloudtrail.NewCatalog()}}, files...)
	if err != nil {
		return nil, loadError(err)
	}
	if err := checkRuleSources(ruleFiles, named, untranslated, rs, cloudtrail.Source, "Falco's aws_cloudtrail_rules.yaml"); err != nil {
		return nil, err
	}
	return rs, nil
}

// scanSummary counts what a scan read and raised.
type scanSummary struct {
	files   map[string]bool
	records int
	errors  int
	byRule  map[[2]string]int // rule, priority
	alerts  int
}

func (s *scanSummary) record(file string) {
	if s.files == nil {
		s.files = map[string]bool{}
	}
	s.files[file] = true
	s.records++
}

func (s *scanSummary) alert(a *event.Alert) {
	if s.byRule == nil {
		s.byRule = map[[2]string]int{}
	}
	s.byRule[[2]string{a.Rule, a.Priority}]++
	s.alerts++
}

// print writes the table of alerts by rule and priority, most first.
func (s *scanSummary) print(w io.Writer) {
	keys := make([][2]string, 0, len(s.byRule))
	for k := range s.byRule {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if a, b := s.byRule[keys[i]], s.byRule[keys[j]]; a != b {
			return a > b
		}
		return keys[i][0] < keys[j][0]
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tPRIORITY\tALERTS")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", k[0], k[1], s.byRule[k])
	}
	tw.Flush()
	fmt.Fprintf(w, "%s from %s, %s, %s\n", countOf(s.records, "record"), countOf(len(s.files), "file"),
		countOf(s.alerts, "alert"), countOf(s.errors, "unreadable file or record"))
}
