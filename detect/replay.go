package detect

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/mamori-dev/mamori/event"
)

// ReadEvents reads events recorded by `mamori agent --events -o json`
// (gzip-compressed when the name ends in .gz), skipping alert lines.
func ReadEvents(path string) ([]event.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer f.Close()
	return DecodeEvents(path, f)
}

// DecodeEvents reads recorded events from r, named name in errors; r may
// be gzip-compressed.
func DecodeEvents(name string, r io.Reader) ([]event.Event, error) {
	br := bufio.NewReader(r)
	r = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read events %s: %w", name, err)
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
			return nil, fmt.Errorf("%s:%d: not an event: %w", name, line, err)
		}
		if e.Kind != "event" {
			continue
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read events %s: %w", name, err)
	}
	return evs, nil
}
