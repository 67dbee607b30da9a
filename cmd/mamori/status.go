package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/agent"
	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/probe"
)

func newStatusCmd() *cobra.Command {
	var addr string
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "status [flags]",
		Short: "show a running agent's health, or what this kernel supports",
		Long:  statusHelp,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := out.format("text")
			return runStatus(cmd.OutOrStdout(), addr, f == "json")
		},
	}
	healthAddrFlag(cmd, &addr)
	out.add(cmd, "text", "json")
	out.addJSONAlias(cmd)
	return cmd
}

func runStatus(stdout io.Writer, addr string, asJSON bool) error {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + addr + "/status")
	if err != nil {
		// Like systemctl status, exit 3 when nothing runs; the kernel
		// probe still says what an agent could do here.
		notRunning := exitError{exitNotRunning, fmt.Errorf("no agent is running at %s: start one with %s (--addr names another --health-addr)", addr, agentCommand)}
		if !asJSON {
			fmt.Fprintf(stdout, "agent: not running at %s (%v)\n\n", addr, err)
		}
		if os.Geteuid() != 0 {
			return exitError{exitNotRunning, fmt.Errorf("no agent is running at %s, and probing the kernel needs root (sudo %s)", addr, statusCommand)}
		}
		rep := probe.Run()
		if asJSON {
			if err := json.NewEncoder(stdout).Encode(struct {
				Agent        string             `json:"agent"`
				Kernel       probe.Report       `json:"kernel"`
				Capabilities []probe.Capability `json:"capabilities"`
			}{"not running", rep, rep.Capabilities()}); err != nil {
				return err
			}
			return notRunning
		}
		printKernel(stdout, rep)
		return notRunning
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("agent at %s answered %s", addr, resp.Status)
	}
	var st agent.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return fmt.Errorf("read status from %s: %w", addr, err)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fmt.Fprintf(stdout, "agent:    running on %s, pid %d, version %s, up %s (ready in %s)\n", st.Node, st.PID, st.Version, st.Uptime, st.ReadyIn)
	if st.Ready {
		fmt.Fprintln(stdout, "ready:    yes: every known container has its enforcement in place or declared not enforceable")
	} else {
		fmt.Fprintf(stdout, "ready:    NO: %s\n", st.NotReady)
	}
	fmt.Fprintf(stdout, "events:   %d handled, %d dropped in the ring buffer, %d lost to decode errors, %d paths truncated\n",
		st.Handled, st.Dropped, st.DecodeErrors, st.Truncated)
	fmt.Fprintf(stdout, "ring:     %d of %d bytes pending, %d kept for exec, fork, exit and cgroup_move\n", st.RingPending, st.RingBytes, st.ReserveBytes)
	if !st.LastDrop.IsZero() {
		fmt.Fprintf(stdout, "blind:    the kernel last lost events at %s\n", st.LastDrop.Local().Format(time.RFC3339Nano))
	}
	if st.SyscallHook != "" {
		fmt.Fprintf(stdout, "calls:    captured by %s\n", st.SyscallHook)
	}
	if len(st.CallsNotCaptured) > 0 {
		fmt.Fprintf(stdout, "          not captured: %s (this kernel was built without them; --capture-absent-calls)\n", strings.Join(st.CallsNotCaptured, ", "))
	}
	fmt.Fprintf(stdout, "tracking: %d processes (%d exited kept), %d cgroups attributed, agent RSS %.1f MiB\n",
		st.Processes.Live, st.Processes.Exited, st.Containers, float64(st.RSSBytes)/(1<<20))
	if d := st.Drift; d != nil {
		fmt.Fprintf(stdout, "drift:    refused by %v; %d containers protected, %d late decisions, %d verdicts dropped\n",
			d.Mechanisms, d.Protected, d.LateDecisions, d.VerdictsDropped)
	}
	if st.PolicyError != "" {
		fmt.Fprintf(stdout, "policies: the last reload failed, the previous policies stay in force: %s\n", st.PolicyError)
	}
	if st.WriteErrors > 0 {
		fmt.Fprintf(stdout, "output:   %d events could not be written\n", st.WriteErrors)
	}
	if len(st.Enforcement) > 0 {
		fmt.Fprintln(stdout)
		printEnforcement(stdout, st.Enforcement)
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tCOUNT\tDROPPED")
	types := make([]string, 0, len(st.Events))
	for t := range st.Events {
		types = append(types, string(t))
	}
	sort.Strings(types)
	for _, t := range types {
		n, lost := st.Events[event.Type(t)], st.DroppedByType[event.Type(t)].Total()
		if n > 0 || lost > 0 {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", t, n, lost)
		}
	}
	tw.Flush()
	fmt.Fprintln(stdout)
	printKernel(stdout, st.Kernel)
	return nil
}

// printEnforcement prints one line per container and control: how each
// runtime control applies (enforced by what, audited, or not enforced and
// why).
// exitNotRunning is status's exit code when no agent answers, as
// systemctl status and LSB init scripts say "not running".
const exitNotRunning = 3

func printEnforcement(w io.Writer, cs []agent.ContainerProtection) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER\tSTATE\tCONTROL\tMODE\tENFORCEMENT")
	for _, c := range cs {
		name := c.Name
		if name == "" {
			name = c.ID[:min(12, len(c.ID))]
		}
		state := strings.ToUpper(c.State)
		if c.State == agent.Protected || c.State == agent.AuditOnly {
			state = c.State
		}
		if len(c.Controls) == 0 {
			why := "no runtime control applies"
			if c.Reason != "" {
				why = c.Reason
			}
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t%s\n", name, state, why)
			continue
		}
		for i, ctl := range c.Controls {
			how := ctl.State
			switch ctl.State {
			case agent.ControlEnforced, agent.ControlAudited:
				how += " by " + ctl.Mechanism
			case agent.ControlNotEnforced:
				how = "NOT ENFORCED: " + ctl.Reason
			}
			if i > 0 {
				name, state = "", ""
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, state, ctl.Control, ctl.Mode, how)
		}
		if c.Reason != "" {
			fmt.Fprintf(tw, "\t\t\t\t(pending: %s)\n", c.Reason)
		}
	}
	tw.Flush()
}

func printKernel(w io.Writer, rep probe.Report) {
	fmt.Fprintf(w, "kernel %s\n", rep.Kernel)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MECHANISM\tLOADS\tDETAIL")
	for _, r := range rep.Results {
		yes := "yes"
		if !r.Available {
			yes = "no"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Mechanism, yes, r.Detail)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CAPABILITY\tMECHANISM\tEFFECT")
	for _, c := range rep.Capabilities() {
		m := c.Mechanism
		if m == "" {
			m = "-"
		}
		eff := c.Effect
		if c.Degraded {
			eff = "DEGRADED: " + eff
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, m, eff)
	}
	tw.Flush()
}

const statusHelp = `status shows the running agent's health: whether it is ready (every container it
knows has its enforcement in place), each container with each runtime
control (enforced and by which mechanism, audited, or NOT enforced and
why), events per type, ring-buffer drops, lost events, and which kernel
mechanisms load here and what that means for each capability. With no agent
running it probes the kernel itself (as root), says so, and exits 3.
`

// healthAddrFlag is the agent's --health-addr, as the commands that ask a
// running agent name it (--addr before).
func healthAddrFlag(cmd *cobra.Command, addr *string) {
	cmd.Flags().StringVar(addr, "health-addr", agent.DefaultHealthAddr, "the running agent's --health-addr")
	renamed(cmd.Flags(), "addr", "health-addr")
}
