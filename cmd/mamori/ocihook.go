package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mamori-dev/mamori/runtimehook"
)

const ociHookHelp = `The creation controls of the runtime policies (limitContainerPrivileges,
preventDefaultOverride, volumesBlocklist, readOnlyRootFilesystem,
blockUnregisteredImages, blockNonCompliantImages, blockPrivilegeEscalation,
imageReferences, hostPathVolumes) are checked when a container is created,
before its entrypoint runs, by an OCI runtime hook that asks the node agent.

install writes the hook file (` + runtimehook.HookFileName + `) that podman and CRI-O read
from their hooks directory: every container created from then on is judged
by the agent listening on --hook-socket (mamori agent --hook-socket, same
default). Containerd does not read hooks directories; in Kubernetes use the
admission webhook (mamori admission serve).

The hook file names the mamori binary to run: the one running install, or
--binary. A runtime silently skips a hook whose binary is gone, and then
every container starts unjudged, so install refuses a binary in a
temporary directory or in Go's build cache (what go run builds): install
mamori first (go install ./cmd/mamori, or make install) and run that one.
--allow-temporary-binary installs it anyway, for tests.

uninstall removes the hook file from --dir (default: both directories
podman and CRI-O read); containers created from then on are not judged
at creation.

run is what the runtime executes (stage createRuntime): it reads the
container's state on stdin, asks the agent, and exits 0 to let the
container start or 1 to refuse it, printing why on stderr. If the agent
cannot be asked within --timeout, the container starts (with a message on
stderr), or, with --fail-closed, it is refused.

Exit status of run: 0 allowed, 1 refused or failed closed, 2 usage.
`

func newOCIHookCmd() *cobra.Command {
	return group("oci-hook", "judge containers at creation: install the OCI runtime hook, or run it", ociHookHelp,
		newOCIHookInstallCmd(), newOCIHookUninstallCmd(), newOCIHookRunCmd())
}

type hookFlags struct {
	socket     string
	failClosed bool
	timeout    time.Duration
}

func addHookFlags(cmd *cobra.Command, quiet bool) *hookFlags {
	h := &hookFlags{}
	fs := cmd.Flags()
	fs.StringVar(&h.socket, "hook-socket", runtimehook.DefaultSocket, "the agent's hook socket ("+agentCommand+" --hook-socket)")
	if quiet {
		// Hook files written by older versions name --socket: the runtime
		// runs them, and no one reads a note.
		fs.StringVar(&h.socket, "socket", runtimehook.DefaultSocket, "replaced by --hook-socket")
		fs.MarkHidden("socket")
	} else {
		renamed(fs, "socket", "hook-socket")
	}
	fs.BoolVar(&h.failClosed, "fail-closed", false, "refuse containers when the agent cannot be asked (default: let them start)")
	fs.DurationVar(&h.timeout, "timeout", 10*time.Second, "how long to wait for the agent")
	return h
}

func newOCIHookInstallCmd() *cobra.Command {
	var dir, binary string
	var allowTemp bool
	var hf *hookFlags
	cmd := &cobra.Command{
		Use:   "install [flags]",
		Short: "write the hook file podman and CRI-O read from their hooks directory",
		Long:  ociHookHelp,
		Example: `  sudo mamori oci-hook install
  sudo mamori oci-hook install --fail-closed --binary /usr/local/bin/mamori`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runOCIHookInstall(cmd.OutOrStdout(), dir, binary, allowTemp, hf)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&dir, "dir", runtimehook.DefaultHooksDir, "the runtime's hooks directory (podman and CRI-O also read "+runtimehook.OverrideHooksDir+")")
	fs.StringVar(&binary, "binary", "", "the mamori binary the hook runs (default: the one running install)")
	fs.BoolVar(&allowTemp, "allow-temporary-binary", false, "install even when the binary is in a temporary directory or Go's build cache (for tests)")
	hf = addHookFlags(cmd, false)
	return cmd
}

func runOCIHookInstall(stdout io.Writer, dir, binary string, allowTemp bool, hf *hookFlags) error {
	self := binary
	if self == "" {
		var err error
		if self, err = os.Executable(); err != nil {
			return fmt.Errorf("find the mamori binary to register: %w", err)
		}
	}
	self, err := filepath.Abs(self)
	if err == nil {
		self, err = filepath.EvalSymlinks(self)
	}
	if err != nil {
		return fmt.Errorf("the mamori binary to register: %w", err)
	}
	if fi, err := os.Stat(self); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file: name the installed mamori binary with --binary", self)
	}
	if why := runtimehook.Transient(self); why != "" && !allowTemp {
		return fmt.Errorf("the hook would run %s, but %s; podman then skips the hook without a word and containers start unjudged. "+
			"Install mamori first (go install ./cmd/mamori, or make install into /usr/local/bin) and run that one, or name it with --binary", self, why)
	}
	p, err := runtimehook.Install(dir, runtimehook.HookConfig{Binary: self, Socket: hf.socket, FailClosed: hf.failClosed, Timeout: hf.timeout})
	if err != nil {
		return fmt.Errorf("install the hook: %w", err)
	}
	fmt.Fprintf(stdout, "installed %s: containers created from now on are judged by the agent on %s\n", p, hf.socket)
	if hf.socket != runtimehook.DefaultSocket {
		fmt.Fprintf(stdout, "run the agent with: %s --hook-socket %s\n", agentCommand, hf.socket)
	}
	return nil
}

func newOCIHookUninstallCmd() *cobra.Command {
	var dirs listFlag
	cmd := &cobra.Command{
		Use:   "uninstall [flags]",
		Short: "remove the hook file: containers are no longer judged at creation",
		Long:  ociHookHelp,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runOCIHookUninstall(cmd.OutOrStdout(), dirs)
		},
	}
	cmd.Flags().Var(&dirs, "dir", "a hooks directory to remove the hook from (repeatable); default "+runtimehook.DefaultHooksDir+" and "+runtimehook.OverrideHooksDir)
	return cmd
}

func runOCIHookUninstall(stdout io.Writer, dirs listFlag) error {
	if len(dirs) == 0 {
		dirs = listFlag{runtimehook.DefaultHooksDir, runtimehook.OverrideHooksDir}
	}
	removed := 0
	for _, d := range dirs {
		p, ok, err := runtimehook.Uninstall(d)
		if err != nil {
			return fmt.Errorf("remove the hook: %w", err)
		}
		if ok {
			removed++
			fmt.Fprintf(stdout, "removed %s: containers created from now on are not judged at creation\n", p)
		}
	}
	if removed == 0 {
		return fmt.Errorf("no mamori hook (%s) in %s: nothing to remove", runtimehook.HookFileName, strings.Join(dirs, " or "))
	}
	return nil
}

func newOCIHookRunCmd() *cobra.Command {
	var hf *hookFlags
	cmd := &cobra.Command{
		Use:   "run [flags]",
		Short: "what the runtime runs at createRuntime: ask the agent about the container on stdin",
		Long:  ociHookHelp,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runOCIHookRun(cmd.InOrStdin(), cmd.ErrOrStderr(), hf)
		},
	}
	hf = addHookFlags(cmd, true)
	return cmd
}

// errRefused makes run exit 1 after it has said why.
var errRefused = errors.New("container refused")

func runOCIHookRun(stdin io.Reader, stderr io.Writer, hf *hookFlags) error {
	st, err := runtimehook.ReadState(stdin)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), hf.timeout)
	defer cancel()
	a, err := runtimehook.Ask(ctx, hf.socket, st)
	if err != nil {
		if hf.failClosed {
			return fmt.Errorf("container %.12s refused: %w (--fail-closed)", st.ID, err)
		}
		fmt.Fprintf(stderr, "mamori oci-hook: container %.12s not judged, it starts: %v\n", st.ID, err)
		return nil
	}
	for _, w := range a.Warnings {
		fmt.Fprintf(stderr, "mamori: warning (audit): %s\n", w)
	}
	if !a.Allow {
		fmt.Fprintf(stderr, "mamori: container %.12s refused by policy:\n  %s\n", st.ID, strings.Join(a.Reasons, "\n  "))
		return errRefused
	}
	return nil
}
