//go:build unix

package auditlog

import (
	"fmt"
	"io/fs"
	"syscall"
)

// readFile reads a file with the system calls alone: a scan reads
// thousands of small files, and an os.File costs each of them a system
// call more (the poller's) and some allocations. It reads into buf, grown
// as needed; with no buf, into one of the file's size and a byte more,
// to see the end without growing. A file that grows meanwhile is read on.
func readFile(path string, buf []byte) ([]byte, error) {
	fd, err := retry(func() (int, error) { return syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0) })
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	if buf == nil {
		size := 512
		var st syscall.Stat_t
		if syscall.Fstat(fd, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFREG && st.Size < MaxFileSize {
			size = int(st.Size) + 1
		}
		buf = make([]byte, 0, size)
	}
	data := buf[:0]
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
		n, err := retry(func() (int, error) { return syscall.Read(fd, data[len(data):cap(data)]) })
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return data, nil
		}
		data = data[:len(data)+n]
		if len(data) > MaxFileSize {
			return nil, fmt.Errorf("larger than %d bytes", MaxFileSize)
		}
	}
}

// retry calls fn again while a signal interrupts it.
func retry(fn func() (int, error)) (int, error) {
	for {
		n, err := fn()
		if err != syscall.EINTR {
			return n, err
		}
	}
}
