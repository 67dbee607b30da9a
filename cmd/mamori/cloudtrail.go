package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"

	"github.com/mamori-dev/mamori/audit/cloudtrail"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/output"
	"github.com/mamori-dev/mamori/rules"
)

const cloudtrailHelp = `Usage:
  mamori cloudtrail scan --rules FILE [--rules FILE]... [--output FILE] [--all] PATH...

scan reads AWS CloudTrail logs and evaluates every record against Falco
rules of source aws_cloudtrail, such as Falco's aws_cloudtrail_rules.yaml
(no rules are built in: name the files with --rules). A PATH is a file or a
directory, read recursively for *.json, *.jsonl and *.ndjson files,
gzipped or not. A file holds the S3 delivery object {"Records":[...]}, a
JSON array of records, or one record per line.

Alerts are written as JSON lines to stdout or, appended, to --output. A
summary by rule and priority goes to stderr at the end. A file or record
that cannot be read is reported on stderr and skipped; the scan goes on,
and exits 1 at the end.
`

func runCloudtrail(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, cloudtrailHelp)
		if len(args) == 0 {
			return usageError{"a subcommand is needed: scan"}
		}
		return nil
	}
	if args[0] != "scan" {
		return usageError{fmt.Sprintf("unknown subcommand %q: use scan", args[0])}
	}
	return runCloudtrailScan(args[1:], stdout, stderr)
}

func runCloudtrailScan(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cloudtrail scan")
	var ruleFiles listFlag
	fs.Var(&ruleFiles, "rules", "a Falco rules file, e.g. aws_cloudtrail_rules.yaml (repeatable; later files override earlier ones)")
	outPath := fs.String("output", "", "append alerts to this file instead of writing them to stdout")
	all := fs.Bool("all", false, "raise an alert for every matching rule, not only the first (Falco's rule_matching: all)")
	if err := fs.Parse(args); err != nil {
		return flagError(fs, err, cloudtrailHelp)
	}
	if len(ruleFiles) == 0 {
		return usageError{"name the rules with --rules, e.g. --rules aws_cloudtrail_rules.yaml from falcosecurity/plugins"}
	}
	if fs.NArg() == 0 {
		return usageError{"name at least one CloudTrail file or directory"}
	}
	files, err := rules.ReadFiles(ruleFiles...)
	if err != nil {
		return err
	}
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{cloudtrail.NewCatalog()}}, files...)
	if err != nil {
		return loadError(err)
	}
	if err := reportCloudtrailRules(stderr, rs); err != nil {
		return err
	}

	var out *output.Writer
	if *outPath == "" {
		out = output.New(stdout, output.JSON)
	} else if out, err = output.Open(*outPath, output.JSON); err != nil {
		return err
	}
	host, _ := os.Hostname()
	det := cloudtrail.NewDetector(rs, cloudtrail.DetectorConfig{All: *all, Hostname: host})
	var sum scanSummary
	var writeErr error
	var rd cloudtrail.Reader
	rd.ReadPaths(fs.Args(), func(r *cloudtrail.Record) {
		sum.record(r)
		det.Detect(r, func(a *event.Alert) {
			sum.alert(a)
			if err := out.WriteAlert(a); err != nil && writeErr == nil {
				writeErr = fmt.Errorf("write alert: %w", err)
			}
		})
	}, func(e *cloudtrail.Error) {
		sum.errors++
		fmt.Fprintf(stderr, "skipped: %v\n", e)
	})
	if err := out.Close(); err != nil && writeErr == nil {
		writeErr = fmt.Errorf("write alerts: %w", err)
	}
	sum.print(stderr)
	if writeErr != nil {
		return writeErr
	}
	if sum.errors > 0 {
		return fmt.Errorf("%d files or records could not be read and were skipped (listed above)", sum.errors)
	}
	return nil
}

// reportCloudtrailRules says how many aws_cloudtrail rules run, and why
// those that cannot do not; with none to run a scan is pointless.
func reportCloudtrailRules(w io.Writer, rs *rules.Ruleset) error {
	active, disabled, inactive := 0, 0, 0
	for _, r := range rs.Rules() {
		if r.Source != cloudtrail.Source {
			continue
		}
		switch {
		case !r.Active():
			inactive++
			fmt.Fprintf(w, "inactive rule %q: %s\n", r.Name, r.Inactive)
		case !r.Enabled:
			disabled++
		default:
			active++
		}
	}
	fmt.Fprintf(w, "aws_cloudtrail rules: %d active, %d disabled, %d inactive\n", active, disabled, inactive)
	if active == 0 {
		return fmt.Errorf("no enabled aws_cloudtrail rule can run: check the --rules files")
	}
	return nil
}

// scanSummary counts what a scan read and raised.
type scanSummary struct {
	files   map[string]bool
	records int
	errors  int
	byRule  map[[2]string]int // rule, priority
	alerts  int
}

func (s *scanSummary) record(r *cloudtrail.Record) {
	if s.files == nil {
		s.files = map[string]bool{}
	}
	s.files[r.File] = true
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
	fmt.Fprintf(w, "%d records from %d files, %d alerts, %d unreadable files or records\n",
		s.records, len(s.files), s.alerts, s.errors)
}
