//go:build !agentonly

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/policy"
)

func newPolicyCmd() *cobra.Command {
	return group("policy", "validate policies, explain what applies to a container, apply them through the console",
		`Policies are YAML documents of kind RuntimePolicy (what containers may do,
judged by the agent, the OCI hook and admission) and ImageAssurancePolicy
(what images must satisfy, judged by mamori image); docs/policies.md and
docs/images.md describe the formats, scopes, modes and how overlapping
policies merge. apply stores policy files in the console, which every
agent joined to it applies, and status says which node runs which
revision.`,
		newPolicyValidateCmd(), newPolicyExplainCmd(), newPolicyApplyCmd(), newPolicyStatusCmd())
}

func newPolicyValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate PATH...",
		Short: "check policy files or directories (- for standard input)",
		Long: `validate checks the RuntimePolicy and ImageAssurancePolicy documents of
each PATH (a file, a directory's *.yaml and *.yml files, or - for standard
input) as the commands that read them would: every problem at once, each at
its file:line:col, a misspelt key with the one meant. A path that holds
neither kind of document is an error. It exits 1 on any problem.`,
		Example: "  mamori policy validate /etc/mamori/policies/\n  helm template ./chart --show-only templates/policies.yaml | mamori policy validate -",
		Args:    needArgs("name at least one policy file or directory (or - for standard input)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return policyValidate(cmd.OutOrStdout(), cmd.InOrStdin(), args)
		},
	}
}

func policyValidate(stdout io.Writer, stdin io.Reader, paths []string) error {
	set, aps, err := policy.LoadAny(stdin, paths...)
	if err != nil {
		return err
	}
	builtin := len(policy.Builtin())
	fmt.Fprintf(stdout, "%s, %s (plus %d built-in), %s: valid\n", countOf(len(set.Files()), "file"),
		policyPlural(len(set.Policies())-builtin, "runtime"), builtin, policyPlural(len(aps), "image assurance"))
	for _, p := range set.Policies()[builtin:] {
		fmt.Fprintf(stdout, "  %-30s %-7s %s\n", p.Metadata.Name, p.Spec.Mode, p.Source)
	}
	for _, p := range aps {
		fmt.Fprintf(stdout, "  %-30s %-7s %s\n", p.Metadata.Name, "image", p.Source)
	}
	return nil
}

// policyPlural says "1 runtime policy" or "2 runtime policies".
func policyPlural(n int, kind string) string {
	if n == 1 {
		return "1 " + kind + " policy"
	}
	return fmt.Sprintf("%d %s policies", n, kind)
}

func newPolicyExplainCmd() *cobra.Command {
	var addr string
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "explain [flags] CONTAINER",
		Short: "show the controls in force for a running container, and where each setting came from",
		Long: `explain asks the running agent (at --health-addr) which policies cover a
container (its id, id prefix or name), what each control is and which
policy set it, and the facts the scopes were matched against.`,
		Args: oneArg("name one container, by id or name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := out.format("text")
			return policyExplain(cmd.OutOrStdout(), addr, f, args[0])
		},
	}
	healthAddrFlag(cmd, &addr)
	out.add(cmd, "text", "json")
	out.addJSONAlias(cmd)
	return cmd
}

func policyExplain(stdout io.Writer, addr, format, container string) error {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + addr + "/policy/explain?container=" + url.QueryEscape(container))
	if err != nil {
		return fmt.Errorf("ask the agent at %s: %w (is mamori agent running? --health-addr names its --health-addr)", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("agent at %s: %s", addr, body)
	}
	if format == "json" {
		_, err := stdout.Write(body)
		return err
	}
	var ex struct {
		Container struct{ ID, Name, Image string }
		Target    *policy.Target
		Text      string
	}
	if err := json.Unmarshal(body, &ex); err != nil {
		return fmt.Errorf("read the agent's answer: %w", err)
	}
	fmt.Fprintf(stdout, "container %s (%.12s), image %s\n\n", ex.Container.Name, ex.Container.ID, ex.Container.Image)
	if ex.Target != nil {
		writeFacts(stdout, ex.Target)
	}
	fmt.Fprint(stdout, ex.Text)
	return nil
}

// writeFacts prints what the policies' scopes were matched against, the
// facts that are known; a scope on an absent fact does not match.
func writeFacts(w io.Writer, t *policy.Target) {
	fmt.Fprintln(w, "facts scopes are matched against:")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	row := func(part, field, v string) {
		if v != "" {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", part, field, v)
		}
	}
	pairs := func(m map[string]string) string {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			kv = append(kv, k+"="+m[k])
		}
		return strings.Join(kv, ", ")
	}
	if c := t.Container; c != nil {
		row("container", "name", c.Name)
		row("container", "labels", pairs(c.Labels))
		row("container", "env", strings.Join(c.Env, ", "))
	}
	i, k, h := t.Image, t.Kubernetes, t.Host
	row("image", "name", i.Name)
	row("image", "tag", i.Tag)
	row("image", "digest", i.Digest)
	row("image", "labels", pairs(i.Labels))
	row("image", "os", i.OS)
	row("image", "architecture", i.Architecture)
	row("kubernetes", "namespace", k.Namespace)
	row("kubernetes", "pod", k.Pod)
	row("kubernetes", "deployment", k.Deployment)
	row("kubernetes", "labels", pairs(k.Labels))
	row("host", "hostname", h.Hostname)
	ips := make([]string, len(h.IPs))
	for n, a := range h.IPs {
		ips[n] = a.String()
	}
	row("host", "ip", strings.Join(ips, ", "))
	row("host", "group", strings.Join(h.Groups, ", "))
	tw.Flush()
	fmt.Fprintln(w)
}
