package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The habits every command shares: how lists of values, the output format,
// arguments and renamed flags are read.

// listFlag collects a repeatable flag whose values may also be
// comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Type() string   { return "strings" }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// outputFlag is -o/--output: the format a command prints, with the same
// meaning everywhere: json, text, table, sarif, those the command has.
// "text" and "table" both name the form for people, whichever of them the
// command prints.
//
// Some commands used --output for a file (where alerts, events or a
// report go); there, a value that is no format is still taken as that
// file, with a note naming the flag that takes files now.
type outputFlag struct {
	formats []string
	value   string
	// fileFlag and file, when set, take a value that is no format.
	fileFlag string
	file     *string
	note     string
}

func (o *outputFlag) String() string { return o.value }
func (o *outputFlag) Type() string   { return "format" }
func (o *outputFlag) Set(v string) error {
	if o.known(v) {
		o.value = v
		return nil
	}
	if o.file != nil && strings.ContainsAny(v, "/.") {
		*o.file = v
		o.note = fmt.Sprintf("--output %s names a file: that is %s %s now (-o/--output names the format: %s)", v, o.fileFlag, v, strings.Join(o.formats, ", "))
		return nil
	}
	return o.unknown(v)
}

func (o *outputFlag) unknown(v string) error {
	msg := fmt.Sprintf("unknown format %q: use %s", v, strings.Join(o.formats, ", "))
	if o.file != nil {
		msg += " (a file to write to is " + o.fileFlag + " FILE)"
	}
	return errors.New(msg)
}

func (o *outputFlag) known(v string) bool {
	if slices.Contains(o.formats, v) {
		return true
	}
	// text and table are one idea: the form for people.
	return v == "text" && slices.Contains(o.formats, "table") || v == "table" && slices.Contains(o.formats, "text")
}

// add registers -o/--output on cmd with the formats it prints.
func (o *outputFlag) add(cmd *cobra.Command, formats ...string) {
	o.formats = formats
	cmd.Flags().VarP(o, "output", "o", "output format: "+strings.Join(formats, ", "))
	cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
}

// addLegacyFile makes a value of --output that is no format the file of
// fileFlag, as --output meant before -o named formats.
func (o *outputFlag) addLegacyFile(fileFlag string, file *string) {
	o.fileFlag, o.file = fileFlag, file
}

// format is the format chosen, or def, in the command's own word for the
// form for people (text or table).
func (o *outputFlag) format(def string) string {
	v := o.value
	if v == "" {
		v = def
	}
	switch {
	case v == "text" && !slices.Contains(o.formats, "text"):
		v = "table"
	case v == "table" && !slices.Contains(o.formats, "table"):
		v = "text"
	}
	return v
}

// sayNote prints the note of a legacy --output FILE, once.
func (o *outputFlag) sayNote(w io.Writer) {
	if o.note != "" {
		fmt.Fprintf(w, "mamori: %s\n", o.note)
		o.note = ""
	}
}

// jsonFlag is the old --json of a command, kept as -o json.
type jsonFlag struct{ o *outputFlag }

func (j jsonFlag) String() string { return "false" }
func (j jsonFlag) Type() string   { return "bool" }
func (j jsonFlag) Set(v string) error {
	if v == "true" {
		j.o.value = "json"
	}
	return nil
}

// addJSONAlias keeps --json working as -o json, saying so.
func (o *outputFlag) addJSONAlias(cmd *cobra.Command) {
	cmd.Flags().Var(jsonFlag{o}, "json", "same as -o json")
	cmd.Flags().Lookup("json").NoOptDefVal = "true"
	cmd.Flags().MarkDeprecated("json", "use -o json")
}

// formatFlag is the old --format of a command, kept as -o: formats only.
type formatFlag struct{ o *outputFlag }

func (f formatFlag) String() string { return f.o.value }
func (f formatFlag) Type() string   { return "format" }
func (f formatFlag) Set(v string) error {
	if !f.o.known(v) {
		return f.o.unknown(v)
	}
	f.o.value = v
	return nil
}

// addFormatAlias keeps --format working as -o.
func (o *outputFlag) addFormatAlias(cmd *cobra.Command) {
	cmd.Flags().Var(formatFlag{o}, "format", "same as -o")
	cmd.Flags().MarkDeprecated("format", "use -o/--output")
}

// renamed registers an old name of a flag that was renamed: it sets the
// same value and says, when used, what replaced it.
func renamed(fs *pflag.FlagSet, old, now string) {
	f := fs.Lookup(now)
	fs.AddFlag(&pflag.Flag{Name: old, Usage: "replaced by --" + now, Value: f.Value, DefValue: f.DefValue, NoOptDefVal: f.NoOptDefVal})
	fs.MarkDeprecated(old, "use --"+now)
}

// oneStdin refuses "-" (standard input) named for both the rules and the
// logs: standard input can be read once.
func oneStdin(rules, paths []string) error {
	if slices.Contains(rules, "-") && slices.Contains(paths, "-") {
		return usageError{"standard input can hold the rules or the logs, not both: give one of them as a file"}
	}
	return nil
}

// Argument checks that are usage errors (exit 2), saying what is wanted.

func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", args[0])}
	}
	return nil
}

func needArgs(what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usageError{what}
		}
		return nil
	}
}

func oneArg(what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return usageError{what}
		case len(args) > 1:
			return usageError{fmt.Sprintf("one at a time; unexpected %q", args[1])}
		}
		return nil
	}
}
