package vuln

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mamori-dev/mamori/image/sbom"
)

// writeSyntheticExport writes a zip export of n generated OSV entries
// shaped like osv.dev's (details text, aliases, a CVSS vector, one or two
// ranges) spread over five ecosystems and n/4 package names.
func writeSyntheticExport(b *testing.B, path string, n int) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	zw := zip.NewWriter(f)
	ecos := []string{"Debian:12", "Alpine:v3.20", "npm", "PyPI", "Go"}
	details := strings.Repeat("A synthetic description of the flaw, long as real advisories are. ", 12)
	for i := range n {
		eco := ecos[i%len(ecos)]
		e := map[string]any{
			"schema_version": "1.6.0",
			"id":             fmt.Sprintf("SYN-%07d", i),
			"modified":       "2026-01-01T00:00:00Z",
			"published":      "2025-01-01T00:00:00Z",
			"aliases":        []string{fmt.Sprintf("CVE-2025-%05d", i)},
			"summary":        "synthetic advisory for the load benchmark",
			"details":        details,
			"severity":       []map[string]string{{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}},
			"affected": []map[string]any{{
				"package": map[string]string{"ecosystem": eco, "name": fmt.Sprintf("pkg-%d", i%(n/4))},
				"ranges": []map[string]any{{
					"type":   "ECOSYSTEM",
					"events": []map[string]string{{"introduced": "0"}, {"fixed": fmt.Sprintf("1.%d.0", i%50)}},
				}},
			}},
			"references": []map[string]string{{"type": "ADVISORY", "url": "https://example.invalid/" + fmt.Sprint(i)}},
		}
		w, err := zw.Create(fmt.Sprintf("SYN-%07d.json", i))
		if err != nil {
			b.Fatal(err)
		}
		if err := json.NewEncoder(w).Encode(e); err != nil {
			b.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLoad100k loads a synthetic 100,000-entry zip export and
// reports the heap the loaded index keeps.
func BenchmarkLoad100k(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "all.zip")
	writeSyntheticExport(b, path, n)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	var db *DB
	var before, after runtime.MemStats
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		db = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		var err error
		db, err = Load(context.Background(), path, LoadConfig{})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	runtime.GC()
	runtime.ReadMemStats(&after)
	if db.Entries() != n {
		b.Fatalf("loaded %d entries", db.Entries())
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MB-heap")
	b.ReportMetric(float64(st.Size())/(1<<20), "MB-zip")
	b.ReportMetric(float64(n)/(b.Elapsed().Seconds()/float64(b.N)), "entries/s")
	// On a shared machine wall time varies with the neighbours' load;
	// the process's CPU time per load does not.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	// Keep db reachable until the heap is measured.
	runtime.KeepAlive(db)
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMatch matches the packages of this machine's dpkg database
// against the fixture database.
func BenchmarkMatch(b *testing.B) {
	db := loadFixture(b)
	dir := b.TempDir()
	for rel, target := range map[string]string{"var/lib/dpkg/status": "/var/lib/dpkg/status", "etc/os-release": "/etc/os-release"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755)
		if err := os.Symlink(target, filepath.Join(dir, rel)); err != nil {
			b.Fatal(err)
		}
	}
	pkgs, err := sbom.Extract(context.Background(), os.DirFS(dir))
	if err != nil || len(pkgs) == 0 {
		b.Skipf("no dpkg packages here (%v)", err)
	}
	for b.Loop() {
		db.Match(pkgs)
	}
	b.ReportMetric(float64(len(pkgs)), "packages")
}
