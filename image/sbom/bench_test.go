package sbom

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time (user and system) this process has used: on a
// shared machine wall time varies with the neighbours' load, this does
// not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkExtractDpkg reads this machine's dpkg database in place.
func BenchmarkExtractDpkg(b *testing.B) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		b.Skipf("no dpkg database: %v", err)
	}
	dir := linkTree(b, map[string]string{
		"var/lib/dpkg/status": "/var/lib/dpkg/status",
		"etc/os-release":      "/etc/os-release",
	})
	fsys := os.DirFS(dir)
	st, _ := os.Stat("/var/lib/dpkg/status")
	var n int
	cpu0 := cpuTime()
	for b.Loop() {
		pkgs, err := Extract(context.Background(), fsys)
		if err != nil {
			b.Fatal(err)
		}
		n = len(pkgs)
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	b.SetBytes(st.Size())
	b.ReportMetric(float64(n), "packages")
}

// BenchmarkExtractUsr walks this machine's /usr: every executable's ELF
// header is read and Go binaries' build information decoded, Python
// distributions and npm packages parsed. It is the walk an image's
// filesystem gets.
func BenchmarkExtractUsr(b *testing.B) {
	fsys := os.DirFS("/usr")
	var n int
	cpu0 := cpuTime()
	for b.Loop() {
		pkgs, err := Extract(context.Background(), fsys)
		if err != nil {
			if _, ok := err.(*ExtractError); !ok {
				b.Fatal(err)
			}
		}
		n = len(pkgs)
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(n), "packages")
}
