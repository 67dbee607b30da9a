// Command mamori is the runtime-security platform's single binary. This file
// holds the subcommand table; each subcommand's flags and wiring live in a
// file of its own. Nothing here does work that a package could do.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"agent", "run the node agent: the eBPF sensor, enrichment and outputs", runAgent},
		{"rules", "check Falco rules files against the sensor, list fields, replay events", runRules},
		{"policy", "validate runtime policies, explain what applies to a container", runPolicy},
		{"admission", "serve the Kubernetes admission webhook that refuses what breaks policy", runAdmission},
		{"check", "check Kubernetes manifests against the policies before they are applied", runCheck},
		{"image", "scan a container image: executables baseline, misconfigurations, policy verdict", runImage},
		{"oci-hook", "judge containers at creation: install the OCI runtime hook, or run it", runOCIHook},
		{"hostlogin", "judge logins to the host by the policies' hostLogins control (PAM, pam_exec)", runHostLogin},
		{"cloudtrail", "scan AWS CloudTrail logs (files or S3) with mamori's, Falco's or Sigma rules", runCloudtrail},
		{"k8saudit", "scan Kubernetes audit logs, or serve as the audit webhook, with k8s_audit rules", runK8saudit},
		{"console", "run the console: every node's alerts, heartbeats and containers in one place, with an API", runConsole},
		{"status", "show a running agent's health, or what this kernel supports", runStatus},
		{"version", "print the version", func([]string, io.Writer, io.Writer) error { fmt.Println("mamori", version); return nil }},
	}
}

// usageError is a mistake on the command line: it is printed with a hint to
// --help and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usage(w io.Writer) {
	fmt.Fprintf(w, `mamori: runtime security for containers and the cloud

Usage:
  mamori <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'mamori <command> --help' for a command's flags.\n")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		var uerr usageError
		var coded interface{ ExitCode() int } // a command's own exit codes (image scan)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &uerr):
			fmt.Fprintf(stderr, "mamori %s: %v\nRun 'mamori %s --help' for usage.\n", c.name, err, c.name)
			return 2
		case errors.As(err, &coded):
			fmt.Fprintf(stderr, "mamori %s: %v\n", c.name, err)
			return coded.ExitCode()
		default:
			fmt.Fprintf(stderr, "mamori %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "mamori: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// subcommand is one verb of a command that has several (mamori rules
// validate): its name and what runs it with the arguments after the name.
type subcommand struct {
	name string
	run  func(args []string) error
}

// dispatch runs the subcommand that args name. With no arguments, or -h,
// --help or help, it prints help; with none it is also a usage error.
func dispatch(args []string, stdout io.Writer, help string, subs ...subcommand) error {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	list := strings.Join(names[:len(names)-1], ", ")
	if list != "" {
		list += " or "
	}
	list += names[len(names)-1]
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, help)
		if len(args) == 0 {
			return usageError{"a subcommand is needed: " + list}
		}
		return nil
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(args[1:])
		}
	}
	return usageError{fmt.Sprintf("unknown subcommand %q: use %s", args[0], list)}
}

// parseFlags parses a subcommand's flags, turning flag errors into usage
// errors and refusing stray arguments.
func parseFlags(fs *flag.FlagSet, args []string, help string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(os.Stdout, help)
			fmt.Fprintln(os.Stdout, "\nFlags:")
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
