package auditlog

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// cloudtrailFiles reads the Stratus Red Team CloudTrail files of the
// corpora beside the repository, for the scanner's benchmarks.
func cloudtrailFiles(b *testing.B) ([][]byte, int64) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "corpora", "cloudtrail", "stratus-red-team")
	paths, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(paths) == 0 {
		b.Skipf("no CloudTrail files in %s: the corpora live in ../shared/corpora beside the repository", dir)
	}
	var out [][]byte
	var size int64
	for _, p := range paths {
		d, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, d)
		size += int64(len(d))
	}
	return out, size
}

// BenchmarkValidate is the scanner's check of every byte.
func BenchmarkValidate(b *testing.B) {
	files, size := cloudtrailFiles(b)
	b.SetBytes(size)
	for b.Loop() {
		for _, d := range files {
			if !scanValid(d) {
				b.Fatal("invalid")
			}
		}
	}
}

// BenchmarkSplitIndex splits the files into their records and lists each
// record's members, as a scan does before reading any field.
func BenchmarkSplitIndex(b *testing.B) {
	files, size := cloudtrailFiles(b)
	b.SetBytes(size)
	for b.Loop() {
		for _, d := range files {
			Split(d, func(v Value, _ int) {
				v.Elements(func(r Value) bool {
					o := r.Object()
					o.Raw("eventName")
					return true
				})
			}, nil)
		}
	}
}
