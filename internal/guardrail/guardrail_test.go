// Package guardrail holds tests that keep the code base's shape: every
// package says what it owns, and the node agent's hot path stays free of
// heavy dependencies. It has no code of its own.
package guardrail

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Name       string
	Doc        string
	Deps       []string
	GoFiles    []string
}

func list(t *testing.T, patterns ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, patterns...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestEveryPackageSaysWhatItOwns: a package without a doc comment leaves a
// newcomer to guess its boundaries.
func TestEveryPackageSaysWhatItOwns(t *testing.T) {
	for _, p := range list(t, "./...") {
		if len(p.GoFiles) == 0 {
			continue // test-only packages
		}
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package doc comment", p.ImportPath)
		}
	}
}

// TestAgentPathStaysLight: the per-event packages, and the policy checks
// the agent shares with admission, must not pull in cloud SDKs, Kubernetes
// libraries, image or vulnerability libraries or database drivers; those
// belong to the parts that need them. The agent's side of the console
// (console/link, console/wire) is held to the same: it needs the NATS
// client, never the console's server, store or drivers.
func TestAgentPathStaysLight(t *testing.T) {
	heavy := []string{"github.com/aws/", "k8s.io/", "github.com/jackc/pgx", "google.golang.org/grpc",
		"github.com/prometheus/client_golang", "go.uber.org/zap", "github.com/google/go-containerregistry",
		"github.com/google/osv-scalibr", "modernc.org/sqlite", "github.com/ncruces/",
		"github.com/nats-io/nats-server"}
	for _, p := range list(t, "./agent", "./sensor", "./event", "./proctree", "./container", "./output",
		"./guard", "./enforce", "./policy", "./workload", "./runtimehook", "./console/link", "./console/wire") {
		for _, d := range p.Deps {
			for _, h := range heavy {
				if strings.HasPrefix(d, h) {
					t.Errorf("%s depends on %s", p.ImportPath, d)
				}
			}
		}
	}
}
