//go:build !agentonly

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/admission"
	"github.com/mamori-dev/mamori/policy"
	"github.com/mamori-dev/mamori/workload"
)

const checkHelp = `check runs the admission webhook's checks on Kubernetes manifests before
they reach a cluster, e.g. in CI. A PATH is a file, a directory (read
recursively for *.yaml, *.yml and *.json) or - for standard input, so
rendered Helm charts can be piped in:

  helm template shop ./chart | mamori check -

A file may hold several documents separated by ---, and List kinds. Pods,
Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers,
Jobs and CronJobs are checked; other kinds are skipped. Every finding names
file:line:col of the offending field (or of where the missing setting
belongs), the control and the policy. Manifests are decoded strictly, as
kubectl's strict field validation does: a misspelt field (imagee,
securityContxt) is a manifest problem at its key, with the field meant,
and the object is not checked on what was not meant.

Policies are RuntimePolicy documents (--policy, repeatable); scopes match
the object's namespace (--namespace for objects that name none), its pod
labels and each container's image. Without --policy the built-in admission
default applies: every check in enforce mode (docs/admission.md). A
--policy path with no RuntimePolicy document is an error.

-o json writes one report to stdout instead of text.

Exit status: 0 when no enforcing policy refuses anything (audit findings
are printed as warnings), 1 when one does or a manifest cannot be read,
2 on a usage error.
`

// checkReport is the --json output.
type checkReport struct {
	Files    int              `json:"files"`
	Objects  int              `json:"objects"`
	Skipped  int              `json:"skipped"`
	Findings []checkFinding   `json:"findings"`
	Errors   []checkFileError `json:"errors"`
}

type checkFinding struct {
	File      string `json:"file"`
	Line      int    `json:"line"`
	Column    int    `json:"column"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	workload.Result
}

type checkFileError struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

// manifestCheckFlags are check's flags.
type manifestCheckFlags struct {
	policies  listFlag
	namespace string
	out       outputFlag
	imageDB   string
}

func newCheckCmd() *cobra.Command {
	f := &manifestCheckFlags{}
	cmd := &cobra.Command{
		Use:   "check [flags] PATH...",
		Short: "check Kubernetes manifests against the policies before they are applied",
		Long:  checkHelp,
		Example: `  mamori check deploy/
  helm template shop ./chart | mamori check -
  mamori check --policy policies/ -o json k8s/`,
		Args: needArgs("name at least one manifest file or directory (or - for standard input)"),
		RunE: func(cmd *cobra.Command, args []string) error { return runCheck(cmd, f, args) },
	}
	fs := cmd.Flags()
	fs.Var(&f.policies, "policy", "a RuntimePolicy file or directory (repeatable; - for standard input); default: the built-in admission policy")
	fs.StringVar(&f.namespace, "namespace", "default", "the namespace of objects that name none, as kubectl apply -n would")
	f.out.add(cmd, "text", "json")
	f.out.addJSONAlias(cmd)
	fs.StringVar(&f.imageDB, "image-db", "", "a registered-images store (mamori image register) for policies with blockUnregisteredImages\n"+
		"or blockNonCompliantImages; without one those controls cannot tell and refuse")
	return cmd
}

func runCheck(cmd *cobra.Command, f *manifestCheckFlags, args []string) error {
	stdout, stderr, stdin := cmd.OutOrStdout(), cmd.ErrOrStderr(), cmd.InOrStdin()
	format := f.out.format("text")
	if slices.Contains(f.policies, "-") && slices.Contains(args, "-") {
		return usageError{"standard input can hold the manifests or the policies, not both: give one of them as a file"}
	}
	paths := f.policies
	var set workload.Policies
	if len(paths) == 0 {
		set = admission.DefaultPolicies()
	} else {
		s, err := policy.LoadFrom(stdin, paths...)
		if err == nil {
			err = s.RequireDocuments(paths...)
		}
		if err != nil {
			return fmt.Errorf("policies do not load:\n%w", err)
		}
		set = s
	}
	files, err := manifestFiles(args)
	if err != nil {
		return usageError{err.Error()}
	}

	rep := checkReport{Findings: []checkFinding{}, Errors: []checkFileError{}}
	var checker workload.Checker
	if f.imageDB != "" {
		images, err := openImageStore(f.imageDB, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			return err
		}
		if images != nil {
			defer images.Close()
			checker.Images = images
		}
	}
	for _, file := range files {
		data, err := readManifest(file, stdin)
		if err != nil {
			rep.Errors = append(rep.Errors, checkFileError{File: file, Message: err.Error()})
			continue
		}
		rep.Files++
		if file == "-" {
			file = "<stdin>"
		}
		ms := admission.ParseManifests(file, data)
		rep.Skipped += ms.Skipped
		for _, e := range ms.Errors {
			rep.Errors = append(rep.Errors, checkFileError{File: e.File, Line: e.Line, Column: e.Col, Message: e.Msg})
		}
		for _, m := range ms.Objects {
			rep.Objects++
			spec := m.Object.Spec(f.namespace)
			for _, r := range checker.Evaluate(spec, set).Results {
				line, col := m.Position(r.Field)
				rep.Findings = append(rep.Findings, checkFinding{File: file, Line: line, Column: col,
					Kind: spec.Kind, Namespace: spec.Namespace, Name: spec.Name, Result: r})
			}
		}
	}

	enforced := 0
	for _, f := range rep.Findings {
		if f.Mode == policy.Enforce {
			enforced++
		}
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printCheck(stdout, stderr, &rep, enforced)
	}
	var problems []string
	if enforced > 0 {
		problems = append(problems, countOf(enforced, "finding")+" under enforcing policies")
	}
	if len(rep.Errors) > 0 {
		problems = append(problems, countOf(len(rep.Errors), "manifest problem"))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, " and "))
	}
	return nil
}

func printCheck(stdout, stderr io.Writer, rep *checkReport, enforced int) {
	for _, e := range rep.Errors {
		fmt.Fprintf(stderr, "%s\n", (&admission.ManifestError{File: e.File, Line: e.Line, Col: e.Column, Msg: e.Message}).Error())
	}
	for _, f := range rep.Findings {
		label := "refused"
		if f.Mode == policy.Audit {
			label = "warning"
		}
		fmt.Fprintf(stdout, "%s:%d:%d: %s: %s %s: %s [%s/%s, policy %s]\n", f.File, f.Line, f.Column, label,
			f.Kind, objectName(f.Namespace, f.Name), f.Reason, f.Control, f.Check, strings.Join(f.Policies, ", "))
	}
	fmt.Fprintf(stderr, "%s in %s (%s skipped): %d refused by enforcing policies, %s, %s\n",
		countOf(rep.Objects, "workload"), countOf(rep.Files, "file"), countOf(rep.Skipped, "other object"), enforced,
		countOf(len(rep.Findings)-enforced, "warning"), countOf(len(rep.Errors), "manifest problem"))
}

func objectName(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// manifestFiles expands the PATH arguments: files as given, directories
// walked for *.yaml, *.yml and *.json (hidden entries skipped), sorted.
func manifestFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if a == "-" {
			out = append(out, a)
			continue
		}
		fi, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("cannot open %s: %v", a, unwrapPathError(err))
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p != a && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			switch strings.ToLower(filepath.Ext(p)) {
			case ".yaml", ".yml", ".json":
				if !d.IsDir() {
					found = append(found, p)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("cannot read the directory %s: %v", a, err)
		}
		sort.Strings(found)
		if len(found) == 0 {
			return nil, fmt.Errorf("%s holds no *.yaml, *.yml or *.json files", a)
		}
		out = append(out, found...)
	}
	return out, nil
}

func readManifest(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(stdin)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %v", unwrapPathError(err))
	}
	return b, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
