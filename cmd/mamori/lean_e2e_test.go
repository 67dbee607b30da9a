package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLeanAgentLeavesTheConsoleOut: the lean node agent (-tags agentonly)
// links none of the console's engines, the web console, the admission
// webhook, the CLI's other commands or the AWS SDK (CloudTrail in S3),
// and says so when asked for one. An
// import that pulls one of them into the agent's path fails here; the
// agent itself runs in TestConsoleSeesAContainerAction and, as the
// DaemonSet's, in TestKubernetesAgentPod.
func TestLeanAgentLeavesTheConsoleOut(t *testing.T) {
	out, err := exec.Command("go", "list", "-tags", "agentonly", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -tags agentonly: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list gave %d packages: %q", len(deps), out)
	}
	for _, heavy := range []string{
		"github.com/nats-io/nats-server/v2/server", "github.com/jackc/pgx/v5",
		"github.com/mamori-dev/mamori/console", "github.com/mamori-dev/mamori/console/store",
		"github.com/mamori-dev/mamori/console/web", "github.com/mamori-dev/mamori/admission",
		"github.com/mamori-dev/mamori/hostlogin", "github.com/aws/aws-sdk-go-v2/service/s3",
		// The image store's types are in image/record; the scanners
		// stay out (29 package inits, 470 KB at start-up).
		"github.com/mamori-dev/mamori/image", "github.com/mamori-dev/mamori/image/secrets",
		"github.com/google/go-containerregistry/pkg/v1/remote",
	} {
		for _, d := range deps {
			if d == heavy {
				t.Errorf("the lean agent links %s", heavy)
			}
		}
	}

	run := func(args ...string) (string, int) { return runBinary(t, leanBin, args...) }
	if out, code := run("version"); code != 0 || !strings.HasPrefix(out, "mamori-agent ") {
		t.Errorf("mamori-agent version: exit %d, %q", code, out)
	}
	if out, code := run("--help"); code != 0 || !strings.Contains(out, "mamori-agent [flags]") ||
		!strings.Contains(out, "--policy") || strings.Contains(out, "console  ") || strings.Contains(out, "mamori agent") {
		t.Errorf("mamori-agent --help: exit %d\n%s", code, out)
	}
	if out, code := run("--console", "embedded"); code != 2 || !strings.Contains(out, "--console nats://HOST:4222") {
		t.Errorf("mamori-agent --console embedded: exit %d, %q; want 2 and how to join a console", code, out)
	}
	if out, code := run("--cloudtrail", "s3://trail/AWSLogs/"); code != 2 || !strings.Contains(out, "mamori console --cloudtrail s3://trail/AWSLogs/") {
		t.Errorf("mamori-agent --cloudtrail s3://...: exit %d, %q; want 2 and where to follow the trail", code, out)
	}
	if out, code := run("console"); code != 2 || !strings.Contains(out, `unexpected argument "console"`) {
		t.Errorf("mamori-agent console: exit %d, %q", code, out)
	}
}
