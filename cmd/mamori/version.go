package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildInfo is what `mamori version` prints: the version (-ldflags, or the
// module's when installed with go install module@version), and the commit
// and its time that go build stamps into a binary built from a git
// checkout.
type buildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Date     string `json:"date,omitempty"`
	Modified bool   `json:"modified,omitempty"` // built from a checkout with uncommitted changes
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// commit and date may be set at build time too (-ldflags "-X
// main.commit=... -X main.date=..."), as make install does: go build
// stamps a git worktree's commit only from a checkout's own .git
// directory, and not at all under -buildvcs=false.
var commit, date string

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: date, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok || commit != "" {
		return b
	}
	if b.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.Date = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// versionString is the one line --version and version print.
func versionString() string {
	b := readBuildInfo()
	s := b.Version
	if b.Commit != "" {
		c := b.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		s += " (commit " + c
		if b.Modified {
			s += ", modified"
		}
		if b.Date != "" {
			s += ", built from a commit of " + b.Date
		}
		s += ")"
	}
	return s + ", " + b.Go + " " + b.Platform
}

func newVersionCmd() *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "version",
		Short: "print the version, commit and build date",
		Long: `version prints mamori's version, the commit it was built from and that
commit's date (from the build information go build stamps into a binary
built from a git checkout), the Go release and the platform. mamori
--version prints the same line.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := out.format("text")
			if f == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(readBuildInfo())
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), cmd.Root().Name(), versionString())
			return err
		},
	}
	out.add(cmd, "text", "json")
	return cmd
}
