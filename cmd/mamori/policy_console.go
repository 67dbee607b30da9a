package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mamori-dev/mamori/console/api"
	"github.com/mamori-dev/mamori/policy"
)

// policyApply validates policy files as `policy validate` does, then
// stores them in the console, which validates them again with the rest of
// its set and versions them; agents apply them.
func policyApply(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("policy apply", flag.ContinueOnError)
	c := addConsoleClientFlags(fs)
	var remove listFlag
	fs.Var(&remove, "remove", "remove this file (its name in the console) from the central policies (repeatable)")
	paths, err := parseWithArgs(fs, args, policyHelp)
	if err != nil {
		return err
	}
	if len(paths) == 0 && len(remove) == 0 {
		return usageError{"policy apply needs files or directories, or --remove NAME"}
	}
	var req api.ApplyRequest
	req.Remove = remove
	if len(paths) > 0 {
		if _, err := policy.Load(paths...); err != nil {
			return err
		}
		for _, p := range paths {
			files, err := yamlFiles(p)
			if err != nil {
				return err
			}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				name := filepath.Base(f)
				if slices.ContainsFunc(req.Files, func(x api.PolicyFile) bool { return x.Name == name }) {
					return usageError{fmt.Sprintf("two files are named %s: the console keeps files by name", name)}
				}
				req.Files = append(req.Files, api.PolicyFile{Name: name, Content: string(b)})
			}
		}
	}
	var resp struct {
		Applied []api.PolicyFile
		Removed []string
	}
	if err := c.do("POST", "/api/v1/policies", req, &resp); err != nil {
		return fmt.Errorf("the console refused the policies:\n%w", err)
	}
	for _, f := range resp.Applied {
		fmt.Fprintf(stdout, "applied %s revision %d\n", f.Name, f.Revision)
	}
	for _, f := range resp.Removed {
		fmt.Fprintf(stdout, "removed %s\n", f)
	}
	fmt.Fprintln(stdout, "agents apply them within seconds: see `mamori policy status`")
	return nil
}

// yamlFiles lists a path's policy files as the policy loader does.
func yamlFiles(p string) ([]string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() && !strings.HasPrefix(n, ".") && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
			out = append(out, filepath.Join(p, n))
		}
	}
	return out, nil
}

// policyStatus shows which node enforces which revision of each central
// policy file.
func policyStatus(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("policy status", flag.ContinueOnError)
	c := addConsoleClientFlags(fs)
	if err := parseFlags(fs, args, policyHelp); err != nil {
		return err
	}
	var st struct {
		Latest map[string]uint64
		Nodes  []api.NodePolicies
	}
	if err := c.do("GET", "/api/v1/policies/status", nil, &st); err != nil {
		return err
	}
	files := make([]string, 0, len(st.Latest))
	for f := range st.Latest {
		files = append(files, f)
	}
	slices.Sort(files)
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprint(tw, "NODE\tLAST SEEN\tSTATE")
	for _, f := range files {
		fmt.Fprintf(tw, "\t%s (r%d)", f, st.Latest[f])
	}
	fmt.Fprintln(tw)
	for _, n := range st.Nodes {
		state := "current"
		if !n.Current {
			state = "STALE"
		}
		if n.Error != "" {
			state = "RELOAD FAILED"
		}
		fmt.Fprintf(tw, "%s/%s\t%s ago\t%s", n.Cluster, n.Node, time.Since(n.LastSeen).Round(time.Second), state)
		for _, f := range files {
			rev, ok := n.Files[f]
			switch {
			case !ok:
				fmt.Fprint(tw, "\t-")
			default:
				fmt.Fprintf(tw, "\tr%d", rev)
			}
		}
		fmt.Fprintln(tw)
		if n.Error != "" {
			fmt.Fprintf(tw, "  %s\n", n.Error)
		}
	}
	return tw.Flush()
}

// parseWithArgs parses flags and returns the arguments after them
// (flags may also follow the arguments).
func parseWithArgs(fs *flag.FlagSet, args []string, help string) ([]string, error) {
	var rest []string
	for {
		if err := parseFlagsAllowingArgs(fs, args, help); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func parseFlagsAllowingArgs(fs *flag.FlagSet, args []string, help string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fmt.Fprint(os.Stdout, help)
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}
