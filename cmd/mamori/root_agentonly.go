//go:build agentonly

package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// agentCommand and statusCommand are how messages name the agent and its
// status command in this binary.
const (
	agentCommand  = "mamori-agent"
	statusCommand = "mamori-agent status"
)

// newRootCmd is the lean node agent's command tree, built with
// `go build -tags agentonly -o mamori-agent ./cmd/mamori` (make
// mamori-agent): `mamori agent` is its root, with the status, oci-hook and
// version commands a node needs beside it. The console, the scanners, the
// admission webhook and the web assets are left out, and with them most
// of the full binary's pages (docs/benchmarks.md, "lean agent").
func newRootCmd() *cobra.Command {
	root := newAgentCmd()
	root.Use = "mamori-agent [flags]"
	root.Short = "mamori's node agent: the eBPF sensor, rules, runtime policies and their enforcement"
	root.Version = versionString()
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.SetVersionTemplate("mamori-agent {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })
	root.AddCommand(newStatusCmd(), newOCIHookCmd(), newVersionCmd())
	var rename func(*cobra.Command)
	rename = func(c *cobra.Command) {
		c.Example, c.Long = leanNames.Replace(c.Example), leanNames.Replace(c.Long)
		for _, sub := range c.Commands() {
			rename(sub)
		}
	}
	rename(root)
	root.Long = "mamori-agent is mamori's lean node agent: the full binary's agent command, with the same flags,\n" +
		"without the console, the scanners and the web assets.\n\nIt " + strings.TrimPrefix(root.Long, "agent ")
	return root
}

// leanNames rewrites the full binary's command lines in help texts.
var leanNames = strings.NewReplacer("mamori agent", "mamori-agent", "mamori status", "mamori-agent status",
	"mamori oci-hook", "mamori-agent oci-hook", "mamori version", "mamori-agent version")
