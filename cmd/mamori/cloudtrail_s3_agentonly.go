//go:build agentonly

package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
)

// The lean node agent does not follow CloudTrail in S3: the AWS SDK it
// needs is a fifth of the agent's code and 3.4 MiB of its resident set
// (docs/benchmarks.md), and a trail is followed in one place, not on
// every node a DaemonSet runs on (each would raise every alert again).
// The flags stay, as every flag of mamori agent does, and --cloudtrail
// says where to follow it instead.

type s3Config struct{}

const (
	cloudtrailLeanNote = "\n(not in this lean node agent: follow a trail in the console, or with the full mamori binary's agent)"
	auditExample       = "\n  sudo mamori agent --k8s-audit-listen :9443"
)

type cloudtrailFollower struct{}

func (f *cloudtrailFlags) check(*rules.Ruleset, io.Writer) error {
	if f.url == "" {
		return nil
	}
	return usageError{"--cloudtrail: following CloudTrail in S3 is not in " + agentCommand + ", the lean node agent; follow the trail in one place: " +
		"the console (mamori console --cloudtrail " + f.url + ") or the full binary's mamori agent"}
}

func (f *cloudtrailFlags) open(*rules.Ruleset, func(*event.Alert) error, func() error, bool, string, *slog.Logger) (*cloudtrailFollower, error) {
	return nil, nil // check refused --cloudtrail
}

func (c *cloudtrailFollower) start(context.Context) (stop func()) { return func() {} }
