package detect

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mamori-dev/mamori/event"
)

// ReadEvents reads events recorded by `mamori agent --events --format json`
// (gzip-compressed when the name ends in .gz), skipping alert lines.
func ReadEvents(path string) ([]event.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("read events %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	var evs []event.Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var e event.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s:%d: not an event: %w", path, line, err)
		}
		if e.Kind != "event" {
			continue
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read events %s: %w", path, err)
	}
	return evs, nil
}
