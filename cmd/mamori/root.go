//go:build !agentonly

package main

import "github.com/spf13/cobra"

// agentCommand and statusCommand are how messages name the agent and its
// status command in this binary.
const (
	agentCommand  = "mamori agent"
	statusCommand = "mamori status"
)

// newRootCmd is the whole platform's command tree. Built with -tags
// agentonly, the binary is the lean node agent instead (root_agentonly.go).
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "mamori",
		Short: "runtime security for containers and the cloud",
		Long: `mamori: runtime security for containers and the cloud

One binary: the node agent (eBPF sensor, Falco-compatible rules, runtime
policies that block), CloudTrail and Kubernetes audit detection, image
assurance, the OCI hook and the Kubernetes admission webhook.

Flags go before or after arguments; -o/--output names the format of what
a command prints (json, text, table, sarif, where it applies); - names
standard input wherever a file is read. docs/ describes every part.`,
		Version:           versionString(),
		SilenceErrors:     true,
		SilenceUsage:      true,
		Args:              cobra.ArbitraryArgs,
		RunE:              groupRunE,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
	}
	root.SetVersionTemplate("mamori {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })
	root.AddCommand(
		newAgentCmd(),
		newStatusCmd(),
		newRulesCmd(),
		newPolicyCmd(),
		newProfileCmd(),
		newCloudtrailCmd(),
		newK8sauditCmd(),
		newImageCmd(),
		newCheckCmd(),
		newAdmissionCmd(),
		newOCIHookCmd(),
		newHostLoginCmd(),
		newConsoleCmd(),
		newVersionCmd(),
	)
	return root
}
