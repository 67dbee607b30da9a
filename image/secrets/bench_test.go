package secrets

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// BenchmarkScanTree scans the Go distribution's own source tree (text,
// always present where mamori builds), loaded into memory first so that
// the figure is the scanner's and not the disk's. MB/s is over every byte
// handed to Scan, binaries included (they cost a sniff).
func BenchmarkScanTree(b *testing.B) {
	root := filepath.Join(runtime.GOROOT(), "src")
	type file struct {
		path string
		data []byte
	}
	var files []file
	var total int64
	const budget = 64 << 20
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || total > budget {
			return nil
		}
		data, err := os.ReadFile(p)
		if err == nil {
			files = append(files, file{p, data})
			total += int64(len(data))
		}
		return nil
	})
	if total == 0 {
		b.Skipf("no files under %s", root)
	}
	s := New(Config{})
	b.SetBytes(total)
	b.ResetTimer()
	cpu0 := cpuTime()
	var findings, skipped int
	for b.Loop() {
		findings, skipped = 0, 0
		for _, f := range files {
			res := s.ScanBytes(f.path, f.data)
			findings += len(res.Findings)
			if res.Skipped != "" {
				skipped++
			}
		}
	}
	// On a shared machine wall time includes waiting for a core; the
	// process's own CPU time does not.
	b.ReportMetric(float64(total)*float64(b.N)/1e6/(cpuTime()-cpu0).Seconds(), "cpu-MB/s")
	b.ReportMetric(float64(len(files)), "files")
	b.ReportMetric(float64(findings), "findings")
	b.ReportMetric(float64(skipped), "skipped")
}

// cpuTime is the process's user plus system time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
