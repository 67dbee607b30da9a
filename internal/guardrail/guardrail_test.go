// Package guardrail holds tests that keep the code base's shape: every
// package says what it owns, and the node agent's hot path stays free of
// heavy dependencies. It has no code of its own.
package guardrail

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
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

// TestPolicySyncStaysLean: package k8s watches two kinds of custom
// resources with the dynamic client. client-go's typed clientset and its
// dynamicinformer link every built-in API group (k8s.io/api/...), some
// 20 MB of the one mamori binary, for nothing these objects need.
func TestPolicySyncStaysLean(t *testing.T) {
	for _, p := range list(t, "./k8s") {
		for _, d := range p.Deps {
			if strings.HasPrefix(d, "k8s.io/api/") || strings.HasPrefix(d, "k8s.io/client-go/kubernetes") ||
				strings.HasPrefix(d, "k8s.io/client-go/informers") || d == "k8s.io/client-go/dynamic/dynamicinformer" {
				t.Errorf("%s depends on %s", p.ImportPath, d)
			}
		}
	}
}

// TestUntrustedInputsHaveFuzzers: every reader of input mamori does not
// control has a testing.F fuzzer (STYLE.md, habit 8); plain `go test`
// replays each one's seed corpus, and scripts/fuzz.sh runs them for a
// while. This list is the inventory: a reader added without a fuzzer, or
// a fuzzer removed, fails here.
func TestUntrustedInputsHaveFuzzers(t *testing.T) {
	want := map[string][]string{
		"./rules":                   {"FuzzLoad"},
		"./rules/condition":         {"FuzzLex", "FuzzParse"},
		"./rules/sigma":             {"FuzzTranslate", "FuzzSelection"},
		"./policy":                  {"FuzzParse", "FuzzParseIPList", "FuzzParseAssurance"},
		"./internal/yamlsyntax":     {"FuzzCheck"},
		"./sensor":                  {"FuzzDecode"},
		"./audit/auditlog":          {"FuzzSplit"},
		"./audit/cloudtrail":        {"FuzzParse", "FuzzMamoriFields"},
		"./audit/cloudtrail/s3live": {"FuzzCheckpoint"},
		"./audit/k8saudit":          {"FuzzParse", "FuzzWebhook"},
		"./admission":               {"FuzzParseManifests", "FuzzReview"},
		"./runtimehook":             {"FuzzHookProtocol", "FuzzConfig"},
		"./container":               {"FuzzParseCgroupPath", "FuzzPodmanMetadata", "FuzzContainerdMetadata"},
		"./image":                   {"FuzzParseConfig", "FuzzLayers", "FuzzLayerBlob", "FuzzOCILayout", "FuzzArchive", "FuzzRegistryManifest"},
		"./image/sbom":              {"FuzzControlParagraphs", "FuzzExtract", "FuzzGoBinary"},
		"./image/vuln":              {"FuzzEntry", "FuzzVersionOrder", "FuzzLoadZip"},
		"./image/secrets":           {"FuzzScan"},
		"./image/malware":           {"FuzzReadBlockList", "FuzzParseReplies"},
		"./hostlogin":               {"FuzzFromEnv"},
		"./proctree":                {"FuzzParseStat"},
		"./enforce":                 {"FuzzParseMountinfo", "FuzzDecodeVerdict", "FuzzScriptArg"},
	}
	decl := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(\w+ \*testing\.F\)`)
	for pkg, fuzzers := range want {
		files, _ := filepath.Glob(filepath.Join("../..", pkg, "*_test.go"))
		var have []string
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range decl.FindAllSubmatch(src, -1) {
				have = append(have, string(m[1]))
			}
		}
		for _, f := range fuzzers {
			if !slices.Contains(have, f) {
				t.Errorf("%s has no %s", pkg, f)
			}
		}
	}
}
