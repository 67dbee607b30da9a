package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mamori-dev/mamori/agent"
	"github.com/mamori-dev/mamori/policy"
)

func runPolicy(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"policy needs a subcommand: validate, explain, apply or status"}
	}
	switch args[0] {
	case "validate":
		return policyValidate(args[1:], stdout)
	case "explain":
		return policyExplain(args[1:], stdout)
	case "apply":
		return policyApply(args[1:], stdout)
	case "status":
		return policyStatus(args[1:], stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, policyHelp)
		return nil
	}
	return usageError{fmt.Sprintf("unknown policy subcommand %q: use validate, explain, apply or status", args[0])}
}

const policyHelp = `Usage:
  mamori policy validate PATH...          check policy files or directories
  mamori policy explain [--addr A] [--json] CONTAINER
                                          show the controls in force for a running
                                          container, and where each setting came from
  mamori policy apply [--console URL] [--token T] PATH... [--remove NAME]...
                                          validate policy files as validate does and store
                                          them in the console; every agent joined to it
                                          (mamori agent --console) applies them
  mamori policy status [--console URL] [--token T]
                                          which node enforces which revision of each
                                          central policy file

Policies are YAML documents of kind RuntimePolicy; docs/policies.md describes
the format, scopes, modes and how overlapping policies merge.
`

func policyValidate(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{"policy validate needs at least one file or directory"}
	}
	set, err := policy.Load(args...)
	if err != nil {
		return err
	}
	builtin := len(policy.Builtin())
	fmt.Fprintf(stdout, "%d files, %d policies (plus %d built-in): valid\n", len(set.Files()), len(set.Policies())-builtin, builtin)
	for _, p := range set.Policies()[builtin:] {
		fmt.Fprintf(stdout, "  %-30s %-7s %s\n", p.Metadata.Name, p.Spec.Mode, p.Source)
	}
	return nil
}

func policyExplain(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("policy explain", flag.ContinueOnError)
	addr := fs.String("addr", agent.DefaultHealthAddr, "the agent's --health-addr")
	asJSON := fs.Bool("json", false, "print JSON")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, policyHelp)
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() != 1 {
		return usageError{"policy explain needs one container id or name"}
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + *addr + "/policy/explain?container=" + url.QueryEscape(fs.Arg(0)))
	if err != nil {
		return fmt.Errorf("ask the agent at %s: %w (is `mamori agent` running? --addr names its --health-addr)", *addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("agent at %s: %s", *addr, body)
	}
	if *asJSON {
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
