//go:build !agentonly

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/console/api"
	"github.com/mamori-dev/mamori/console/profile"
	"github.com/mamori-dev/mamori/console/store"
)

func newProfileCmd() *cobra.Command {
	return group("profile", "behaviour profiles: what each workload does, learnt by the agents, as a policy",
		`Agents started with --learn tell the console what each workload does: the
programs it runs, how many processes it has at once, whom it connects to and
who connects to it, its listening ports and the directories it writes. The
console merges every node's into one profile per workload (a pod's owner and
image digest in Kubernetes; a plain container's image digest). A profile
learns until nothing new has come for mamori console --profile-stable-after
(24h); then it is stable, and whatever is new is alerted as a deviation.
export writes it as a RuntimePolicy with each entry's evidence, ready for
mamori policy apply; enforce does that through the console at once.
docs/profiles.md describes it.`,
		newProfileListCmd(), newProfileShowCmd(), newProfileExportCmd(), newProfileDryRunCmd(),
		newProfileEnforceCmd(), newProfileRelearnCmd(), newProfileDeleteCmd())
}

func newProfileListCmd() *cobra.Command {
	var out outputFlag
	var ns, state string
	cmd := &cobra.Command{
		Use:   "list [flags]",
		Short: "the workloads' profiles: state, since when, what each learnt",
		Args:  noArgs,
	}
	c := addConsoleClientFlags(cmd.Flags())
	cmd.Flags().StringVar(&ns, "namespace", "", "only this Kubernetes namespace's workloads")
	cmd.Flags().StringVar(&state, "state", "", "only profiles in this state: learning, stable or enforced")
	out.add(cmd, "table", "json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		q := url.Values{}
		if ns != "" {
			q.Set("namespace", ns)
		}
		if state != "" {
			q.Set("state", state)
		}
		var resp struct {
			Profiles    []store.Profile `json:"profiles"`
			StableAfter string          `json:"stable_after"`
		}
		if err := c.do("GET", "/api/v1/profiles?"+q.Encode(), nil, &resp); err != nil {
			return err
		}
		if out.format("table") == "json" {
			return printJSON(cmd.OutOrStdout(), resp)
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tWORKLOAD\tIMAGE\tSTATE\tSINCE\tLAST NEW\tPROGRAMS\tDESTINATIONS\tLISTENING\tNEW\tNODES")
		for _, p := range resp.Profiles {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", p.ID, workloadLabel(p), p.Workload.Image, p.State,
				ago(p.StateSince), ago(p.LastNew), p.Counts["exec/learned"], p.Counts["egress/learned"], p.Counts["listen/learned"],
				newItems(p.Counts), strings.Join(p.Nodes, ","))
		}
		tw.Flush()
		if len(resp.Profiles) == 0 {
			fmt.Fprintln(cmd.ErrOrStderr(), "no profile yet: agents learn with mamori agent --console ... --learn")
		}
		return nil
	}
	return cmd
}

func newItems(counts map[string]int) int {
	n := 0
	for k, v := range counts {
		if strings.HasSuffix(k, "/"+store.ItemNew) {
			n += v
		}
	}
	return n
}

func workloadLabel(p store.Profile) string {
	if p.Workload.Namespace != "" {
		return p.Workload.Namespace + "/" + p.Workload.Name
	}
	return p.Workload.Name
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newProfileShowCmd() *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "show [flags] ID",
		Short: "one profile with every item and its evidence (first and last seen, count, nodes)",
		Args:  oneArg("name the profile by its id (or a unique prefix), as mamori profile list shows it"),
	}
	c := addConsoleClientFlags(cmd.Flags())
	out.add(cmd, "text", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var p store.Profile
		if err := c.do("GET", "/api/v1/profiles/"+url.PathEscape(args[0]), nil, &p); err != nil {
			return err
		}
		if out.format("text") == "json" {
			return printJSON(cmd.OutOrStdout(), p)
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "profile %s: %s (image %s, %s)\n", p.ID, workloadLabel(p), p.Workload.Image, p.Workload.ImageDigest)
		fmt.Fprintf(w, "state %s since %s (by %s); learning since %s, last new item %s, on %s\n", p.State,
			p.StateSince.Format(time.RFC3339), p.StateBy, p.Created.Format(time.RFC3339), p.LastNew.Format(time.RFC3339), strings.Join(p.Nodes, ", "))
		fmt.Fprintf(w, "most processes at once: %d\n", p.MaxProcesses)
		sort.SliceStable(p.Items, func(i, j int) bool { return p.Items[i].Kind < p.Items[j].Kind })
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tITEM\tSTATUS\tFIRST SEEN\tLAST SEEN\tCOUNT\tNODES\tDETAIL")
		for _, it := range p.Items {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", it.Kind, it.Key, it.Status, it.First.Format(time.RFC3339),
				it.Last.Format(time.RFC3339), it.Count, strings.Join(it.Nodes, ","), itemDetail(it))
		}
		return tw.Flush()
	}
	return cmd
}

func itemDetail(it store.ProfileItem) string {
	var d []string
	if it.Drifted {
		d = append(d, "not in the image")
	}
	if len(it.Parents) > 0 {
		d = append(d, "parent "+strings.Join(it.Parents, ","))
	}
	for _, s := range it.Digests {
		d = append(d, "sha256 "+s[:min(12, len(s))])
	}
	if len(it.Names) > 0 {
		d = append(d, "name "+strings.Join(it.Names, ","))
	}
	if it.Peer != "" {
		d = append(d, "workload "+it.Peer)
	}
	return strings.Join(d, "; ")
}

func newProfileExportCmd() *cobra.Command {
	var mode, outPath string
	var force bool
	cmd := &cobra.Command{
		Use:   "export [flags] ID",
		Short: "write the profile as a RuntimePolicy with each entry's evidence, ready for mamori policy apply",
		Long: `export writes the profile as a RuntimePolicy scoped to the workload's image
(and namespace): Drift Prevention allowing the programs it ran from outside
its image, a Network Egress allow list of the addresses it connected to, a
Fork Guard limit above the most processes it had. Each entry says when it
was first and last seen, how often and on which nodes; what no control
refuses yet (listening ports, inbound connections, written directories) is
listed in comments. Items deleted (mamori profile delete) and deviations
are left out. A profile still learning is refused unless --force: a policy
made before the workload has shown everything it does breaks it.`,
		Example: "  mamori profile export 3f2a9c > worker.yaml && mamori policy apply worker.yaml",
		Args:    oneArg("name the profile by its id (or a unique prefix), as mamori profile list shows it"),
	}
	c := addConsoleClientFlags(cmd.Flags())
	cmd.Flags().StringVar(&mode, "mode", "enforce", "the policy's mode: enforce or audit")
	cmd.Flags().BoolVar(&force, "force", false, "export a profile that is still learning")
	cmd.Flags().StringVarP(&outPath, "file", "f", "", "write the policy to this file instead of standard output")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var resp api.ExportResponse
		q := url.Values{"mode": {mode}}
		if force {
			q.Set("force", "true")
		}
		if err := c.do("GET", "/api/v1/profiles/"+url.PathEscape(args[0])+"/export?"+q.Encode(), nil, &resp); err != nil {
			return err
		}
		if outPath != "" {
			return os.WriteFile(outPath, []byte(resp.Content), 0o644)
		}
		_, err := io.WriteString(cmd.OutOrStdout(), resp.Content)
		return err
	}
	return cmd
}

func newProfileDryRunCmd() *cobra.Command {
	var out outputFlag
	var since, policyFile string
	cmd := &cobra.Command{
		Use:   "dryrun [flags] ID",
		Short: "what the profile's policy (or --policy FILE) would have refused of the workload's recent behaviour",
		Long: `dryrun judges the workload's recent events (the stored exec and connect
events of its containers, from agents with --console-events), its items
last seen since --since and its connections on the network map, by the
profile's export or by the policies of --policy FILE (- for standard
input), and lists what they would have refused, with when, how often,
where, and from what it was found.`,
		Args: oneArg("name the profile by its id (or a unique prefix), as mamori profile list shows it"),
	}
	c := addConsoleClientFlags(cmd.Flags())
	cmd.Flags().StringVar(&since, "since", "24h", "how far back to look: a duration or an RFC 3339 time")
	cmd.Flags().StringVar(&policyFile, "policy", "", "judge by the policies of this file instead of the profile's export")
	out.add(cmd, "table", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		req := api.DryRunRequest{Since: since}
		if policyFile != "" {
			b, err := readFileOrStdin(cmd.InOrStdin(), policyFile)
			if err != nil {
				return err
			}
			req.Policy = string(b)
		}
		var r profile.DryRunResult
		if err := c.do("POST", "/api/v1/profiles/"+url.PathEscape(args[0])+"/dryrun", req, &r); err != nil {
			return err
		}
		if out.format("table") == "json" {
			return printJSON(cmd.OutOrStdout(), r)
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "%d items and connections since %s: %d would have been refused\n", r.Checked, r.Since.Format(time.RFC3339), len(r.Refused))
		if len(r.Refused) == 0 {
			return nil
		}
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "CONTROL\tWHAT\tWHY\tLAST\tCOUNT\tNODES\tFROM")
		for _, x := range r.Refused {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", x.Control, x.What, x.Reason, x.Last.Format(time.RFC3339), x.Count,
				strings.Join(x.Nodes, ","), x.Source)
		}
		return tw.Flush()
	}
	return cmd
}

func readFileOrStdin(stdin io.Reader, p string) ([]byte, error) {
	if p == "-" {
		return io.ReadAll(io.LimitReader(stdin, 4<<20))
	}
	return os.ReadFile(p)
}

func profileAction(action, short, long string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   action + " [flags] ID",
		Short: short,
		Long:  long,
		Args:  oneArg("name the profile by its id (or a unique prefix), as mamori profile list shows it"),
	}
	c := addConsoleClientFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var resp struct {
			Profile    store.Profile `json:"profile"`
			PolicyFile string        `json:"policy_file"`
		}
		if err := c.do("POST", "/api/v1/profiles/"+url.PathEscape(args[0]), api.ProfileAction{Action: action}, &resp); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "profile %s is %s\n", resp.Profile.ID, resp.Profile.State)
		if resp.PolicyFile != "" {
			fmt.Fprintf(cmd.OutOrStdout(), "applied %s centrally: agents enforce it within seconds (mamori policy status)\n", resp.PolicyFile)
		}
		return nil
	}
	return cmd
}

func newProfileEnforceCmd() *cobra.Command {
	return profileAction("enforce", "export a stable profile in enforce mode, apply it centrally and mark it enforced",
		`enforce exports the profile in enforce mode and applies it among the
console's central policies (as mamori policy apply does), so that every
agent enforces it within seconds, and marks the profile enforced. A profile
still learning is refused.`)
}

func newProfileRelearnCmd() *cobra.Command {
	return profileAction("relearn", "forget what the profile learnt and learn again (deleted items stay deleted)",
		`relearn puts the profile back to learning and forgets its items, except
those deleted, which stay deleted. A new image digest starts a profile of
its own without being told.`)
}

func newProfileDeleteCmd() *cobra.Command {
	var kind, key string
	cmd := &cobra.Command{
		Use:   "delete [flags] ID --kind KIND --key KEY",
		Short: "delete an item from a profile: it is never learnt again, nor exported",
		Long: `delete removes an item (as mamori profile show lists it: its kind and key)
from the profile and from the profiles of the workload's other images. It
stays deleted: seen again it is counted, never learnt, and exports leave it
out, so the policy refuses it.`,
		Example: "  mamori profile delete 3f2a9c --kind exec --key /usr/bin/curl",
		Args:    oneArg("name the profile by its id (or a unique prefix), as mamori profile list shows it"),
	}
	c := addConsoleClientFlags(cmd.Flags())
	cmd.Flags().StringVar(&kind, "kind", "", "the item's kind: exec, egress, ingress, listen or file")
	cmd.Flags().StringVar(&key, "key", "", "the item's key, as mamori profile show prints it")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if kind == "" || key == "" {
			return usageError{"--kind and --key name the item, as mamori profile show lists it"}
		}
		q := url.Values{"kind": {kind}, "key": {key}}
		if err := c.do("DELETE", "/api/v1/profiles/"+url.PathEscape(args[0])+"/items?"+q.Encode(), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "deleted %s %s: it will not be learnt again\n", kind, key)
		return nil
	}
	return cmd
}
