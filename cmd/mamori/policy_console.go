//go:build !agentonly

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/console/api"
	"github.com/mamori-dev/mamori/policy"
)

func newPolicyApplyCmd() *cobra.Command {
	var remove listFlag
	var as string
	cmd := &cobra.Command{
		Use:   "apply [flags] PATH... [--remove NAME]...",
		Short: "store policy files in the console: every agent joined to it applies them",
		Long: `apply validates policy files as policy validate does and stores them in the
console (--console, its API), which validates them again with the rest of
its set and versions them; every agent joined to it (mamori agent
--console) applies them within seconds. The console keeps files by name:
a PATH of - reads standard input, kept under the name --as gives.
--remove NAME removes a file from the central policies.`,
		Example: "  mamori policy apply policies/web.yaml\n  mamori policy apply --remove web.yaml",
		Args:    cobra.ArbitraryArgs,
	}
	c := addConsoleClientFlags(cmd.Flags())
	cmd.Flags().Var(&remove, "remove", "remove this file (its name in the console) from the central policies (repeatable)")
	cmd.Flags().StringVar(&as, "as", "", "with the PATH -: the name the console keeps standard input's policies under (web.yaml)")
	cmd.RunE = func(cmd *cobra.Command, paths []string) error {
		return policyApply(cmd.OutOrStdout(), cmd.InOrStdin(), c, paths, remove, as)
	}
	return cmd
}

// policyApply validates policy files as `policy validate` does, then
// stores them in the console, which validates them again with the rest of
// its set and versions them; agents apply them.
func policyApply(stdout io.Writer, stdin io.Reader, c *consoleClient, paths []string, remove []string, as string) error {
	if len(paths) == 0 && len(remove) == 0 {
		return usageError{"policy apply needs files or directories, or --remove NAME"}
	}
	var stdinData []byte
	if slices.Contains(paths, "-") {
		if as == "" || strings.ContainsAny(as, "/\\") {
			return usageError{"the console keeps policy files by name: give standard input's with --as NAME.yaml"}
		}
		b, err := io.ReadAll(io.LimitReader(stdin, 16<<20))
		if err != nil {
			return fmt.Errorf("read standard input: %w", err)
		}
		stdinData = b
	}
	var req api.ApplyRequest
	req.Remove = remove
	if len(paths) > 0 {
		set, err := policy.LoadFrom(bytes.NewReader(stdinData), paths...)
		if err == nil {
			err = set.RequireDocuments(paths...)
		}
		if err != nil {
			return err
		}
		add := func(name string, b []byte) error {
			if slices.ContainsFunc(req.Files, func(x api.PolicyFile) bool { return x.Name == name }) {
				return usageError{fmt.Sprintf("two files are named %s: the console keeps files by name", name)}
			}
			req.Files = append(req.Files, api.PolicyFile{Name: name, Content: string(b)})
			return nil
		}
		for _, p := range paths {
			if p == "-" {
				if err := add(as, stdinData); err != nil {
					return err
				}
				continue
			}
			files, err := yamlFiles(p)
			if err != nil {
				return err
			}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				if err := add(filepath.Base(f), b); err != nil {
					return err
				}
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
	fmt.Fprintln(stdout, "agents apply them within seconds: see mamori policy status")
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

func newPolicyStatusCmd() *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "status [flags]",
		Short: "which node enforces which revision of each central policy file",
		Long: `status asks the console (--console, its API) which revision of each central
policy file every node enforces: current, STALE (an older revision) or
RELOAD FAILED (with why).`,
		Args: noArgs,
	}
	c := addConsoleClientFlags(cmd.Flags())
	out.add(cmd, "table", "json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return policyStatus(cmd.OutOrStdout(), c, out.format("table"))
	}
	return cmd
}

// policyStatus shows which node enforces which revision of each central
// policy file.
func policyStatus(stdout io.Writer, c *consoleClient, format string) error {
	var st struct {
		Latest map[string]uint64
		Nodes  []api.NodePolicies
	}
	if err := c.do("GET", "/api/v1/policies/status", nil, &st); err != nil {
		return err
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
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
