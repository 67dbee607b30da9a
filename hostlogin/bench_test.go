package hostlogin

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mamori-dev/mamori/policy"
)

// BenchmarkJudge is the in-process part of `mamori hostlogin check`:
// load a policy directory, read the host's facts and a user's groups from
// the user database, merge and decide. bench/hostlogin.sh times the whole
// process under PAM.
func BenchmarkJudge(b *testing.B) {
	dir := b.TempDir()
	body := "apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata: {name: host-logins}\nspec:\n  mode: enforce\n" +
		"  scope: {not: {container: {}}}\n  controls:\n    hostLogins: {allowGroups: [root, ops], blockUsers: [guest, \"test*\"]}\n"
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(body), 0o644); err != nil {
		b.Fatal(err)
	}
	cpu := func() int64 {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return ru.Utime.Nano() + ru.Stime.Nano()
	}
	start := cpu()
	for b.Loop() {
		h, err := Host("", nil)
		if err != nil {
			b.Fatal(err)
		}
		set, err := policy.Load(dir)
		if err != nil {
			b.Fatal(err)
		}
		groups, err := Groups("root")
		if err != nil {
			b.Fatal(err)
		}
		if v := Decide(Effective(set, h), "root", groups); v.Action != "" {
			b.Fatalf("root refused: %+v", v)
		}
	}
	b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op")
}
