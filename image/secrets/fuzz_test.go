package secrets

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzScan: any content scans without a panic, and every finding points
// at a line and column that exist, with a masked match.
func FuzzScan(f *testing.F) {
	g := newGen(5)
	f.Add([]byte("aws_access_key_id = " + g.awsID() + "\r\naws_secret_access_key = " + g.awsSecret() + "\n"))
	f.Add([]byte(g.pkcs8PEM()))
	f.Add([]byte(g.opensshPEM("none")))
	f.Add([]byte(g.gcpJSON("service_account")))
	f.Add([]byte("AccountName=a;AccountKey=" + strings.Repeat("Ab1+", 21) + "Ab==\n"))
	f.Add([]byte("ghp_" + g.str(36, alnum) + "\nxoxb-1-2-" + g.str(24, alnum)))
	f.Add([]byte("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0." + g.str(30, alnum)))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\\nProc-Type: x\\n"))
	f.Add([]byte("\n\n\r\r\nAKIA"))
	s := New(Config{})
	f.Fuzz(func(t *testing.T, data []byte) {
		res := s.ScanBytes("fuzz", data)
		if res.Skipped != "" {
			return
		}
		lines := bytes.Split(data, []byte{'\n'})
		for _, fd := range res.Findings {
			if fd.Line < 1 || fd.Line > len(lines) {
				t.Fatalf("line %d of %d: %+v", fd.Line, len(lines), fd)
			}
			if fd.Column < 1 || fd.Column > len(lines[fd.Line-1]) {
				t.Fatalf("column %d of a %d-byte line: %+v", fd.Column, len(lines[fd.Line-1]), fd)
			}
			if !strings.Contains(fd.Match, "***") {
				t.Fatalf("unmasked match %q", fd.Match)
			}
		}
	})
}
