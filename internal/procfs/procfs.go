// Package procfs holds small helpers for reading the kernel's /proc files
// that several parts of mamori parse. It reads nothing itself.
package procfs

import (
	"strconv"
	"strings"
)

// Unescape undoes the kernel's \ooo octal escapes (\040 for a space) in
// /proc mount files such as mountinfo.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
