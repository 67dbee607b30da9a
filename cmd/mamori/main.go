// Command mamori is the runtime-security platform's single binary. This file
// holds the command tree (github.com/spf13/cobra, as kubectl, falcoctl and
// trivy use it: flags anywhere, help CMD, shell completion, --version) and
// turns errors into exit codes; each command's flags and wiring live in a
// file of its own. Nothing here does work that a package could do.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=..."; without
// it the module version and the commit come from the build information.
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run runs args through the command tree and returns the exit status: 0,
// 1 for a failure, 2 for a usage error, or a command's own code (image
// scan's 3, status's 3, a scan's 130 after an interrupt).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(legacyFlags(root, args))
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	name := cmd.CommandPath()
	var uerr usageError
	var coded interface{ ExitCode() int }
	switch {
	case errors.As(err, &uerr) || isCobraUsage(err):
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", name, err, name)
		return 2
	case errors.As(err, &coded):
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return coded.ExitCode()
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return 1
}

// isCobraUsage recognises the errors cobra itself makes about the command
// line (an unknown command), which are usage errors too.
func isCobraUsage(err error) bool {
	return strings.HasPrefix(err.Error(), "unknown command ") || strings.HasPrefix(err.Error(), "unknown flag") ||
		strings.HasPrefix(err.Error(), "unknown shorthand flag")
}

// usageError is a mistake on the command line: it is printed with a hint to
// --help and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitError ends mamori with a code other than 1.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }
func (e exitError) ExitCode() int { return e.code }

// newRoot is the command tree reading stdin and writing stdout and
// stderr. A flag's notes (a renamed flag's "use --x") go to stderr, with
// the other messages, and never into what a command prints on stdout.
func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := newRootCmd()
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().SetOutput(stderr)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return root
}

// groupRunE is what a command that only groups others (mamori cloudtrail)
// does when run: with no subcommand it prints its help and is a usage
// error; with an unknown one it says which exist, and which was meant.
func groupRunE(cmd *cobra.Command, args []string) error {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() && c.Name() != "help" && c.Name() != "completion" {
			names = append(names, c.Name())
		}
	}
	if len(args) == 0 {
		cmd.Help()
		return usageError{"a command is needed: " + strings.Join(names, ", ")}
	}
	msg := fmt.Sprintf("unknown command %q: use %s", args[0], strings.Join(names, ", "))
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
	}
	return usageError{msg}
}

// groupAnnotation marks a command that only groups others.
const groupAnnotation = "mamori.group"

// group returns a command that only groups subs.
func group(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Long: long, Args: cobra.ArbitraryArgs, RunE: groupRunE,
		Annotations: map[string]string{groupAnnotation: "true"}}
	c.AddCommand(subs...)
	return c
}

// legacyFlags rewrites the single-dash long flags the standard flag
// package accepted (-output, -json) into the double-dash form, for the
// command args name, so that scripts written for older mamori keep
// working; "-" and shorthands (-o) are left alone.
func legacyFlags(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		return args
	}
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range args {
		if a == "--" {
			break
		}
		if len(a) < 3 || a[0] != '-' || a[1] == '-' {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if f := cmd.Flags().Lookup(name); f != nil && len(name) > 1 {
			out[i] = "-" + a
		} else if f := cmd.InheritedFlags().Lookup(name); f != nil && len(name) > 1 {
			out[i] = "-" + a
		}
	}
	return out
}
