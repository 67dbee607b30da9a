//go:build !unix

package auditlog

import (
	"fmt"
	"io"
	"os"
)

// readFile reads a whole file, at most MaxFileSize bytes; buf is unused.
func readFile(path string, _ []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err == nil && len(data) > MaxFileSize {
		err = fmt.Errorf("larger than %d bytes", MaxFileSize)
	}
	return data, err
}
