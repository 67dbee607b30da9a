package k8saudit

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mamori-dev/mamori/audit/auditlog"
)

// Error is a file or an event that could not be read. Reading goes on
// after it with the next event or file.
type Error = auditlog.Error

// Reader reads audit events from files. It numbers them across every file
// it reads, for evt.num. It is not safe for concurrent use.
type Reader struct {
	// Now gives the time of events that carry none; nil means time.Now.
	Now func() time.Time
	// Stdin is what ReadFile reads for the path "-", naming its events
	// "<stdin>".
	Stdin io.Reader
	num   uint64
}

// ReadPaths reads the events of each path in turn: a file, or a directory
// whose log files (see IsLogName) are read in lexical order, recursively.
// fn receives each event; bad receives each file or event that cannot be
// read, and reading goes on. An event passed to fn may be kept.
func (rd *Reader) ReadPaths(paths []string, fn func(*Event), bad func(*Error)) {
	for _, f := range auditlog.Files(paths, IsLogName, LogNames, bad) {
		rd.ReadFile(f, fn, bad)
	}
}

// LogNames says which files of a directory are read, for messages.
const LogNames = "*.log, *.json, *.jsonl and *.ndjson files, gzipped or not"

// IsLogName reports whether a file found in a directory holds events by
// its name: the API server's log backend writes audit.log and rotates it
// to audit-<time>.log, possibly gzipped; exports are *.json, *.jsonl or
// *.ndjson. Other files are left alone.
func IsLogName(name string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".gz")
	for _, ext := range []string{".log", ".json", ".jsonl", ".ndjson"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// ReadFile reads the events of one file, decompressing it if it is gzip.
func (rd *Reader) ReadFile(path string, fn func(*Event), bad func(*Error)) {
	if path == "-" {
		data, err := auditlog.ReadStdin(rd.Stdin)
		if err != nil {
			bad(&Error{File: auditlog.StdinName, Record: -1, Err: err})
			return
		}
		rd.Parse(auditlog.StdinName, data, fn, bad)
		return
	}
	data, err := auditlog.ReadFile(path)
	if err != nil {
		bad(&Error{File: path, Record: -1, Err: err})
		return
	}
	rd.Parse(path, data, fn, bad)
}

// Parse reads the events in data, named name in events and errors.
//
// data may be gzip-compressed; it holds one event per line (the API
// server's log backend), an EventList, a JSON array of events, or a
// sequence of events or EventLists. A value that is not an audit event is
// a bad event. A syntax error makes the whole file bad, except in a file
// with one value per line, where it makes only that line bad.
func (rd *Reader) Parse(name string, data []byte, fn func(*Event), bad func(*Error)) {
	data, err := auditlog.Gunzip(data)
	if err != nil {
		bad(&Error{File: name, Record: -1, Err: err})
		return
	}
	now := time.Now
	if rd.Now != nil {
		now = rd.Now
	}
	p := parser{name: name, num: &rd.num, now: now(), fn: fn, bad: bad}
	line, err := auditlog.Decode(data, p.value, func(line int, err error) {
		p.bad(&Error{File: p.name, Record: p.index, Line: line, Err: err})
		p.index++
	})
	if err != nil {
		bad(&Error{File: name, Record: -1, Line: line, Err: err})
		return
	}
	p.foreignEvents()
}

// foreignEvents reports the objects of a file that are not audit events:
// one error for the whole file when none is (a CloudTrail log, any other
// JSON), saying what it looks like; else one per object.
func (p *parser) foreignEvents() {
	if len(p.foreign) == 0 {
		return
	}
	switch {
	case p.taken == 0 && len(p.foreign) == 1:
		f := p.foreign[0]
		p.bad(&Error{File: f.File, Record: f.Record, Line: f.Line, Err: fmt.Errorf("%w%s", f.Err, strings.Replace(p.looksLike, "the first has", "it has", 1))})
		return
	case p.taken == 0:
		p.bad(&Error{File: p.name, Record: -1, Err: fmt.Errorf("not a Kubernetes audit log: none of its %d JSON objects is an audit event (one has kind \"Event\" or an auditID)%s",
			len(p.foreign), p.looksLike)})
		return
	}
	for _, f := range p.foreign {
		p.bad(f)
	}
}

// looksLike says what an object that is not an audit event seems to be,
// and what reads it.
func looksLike(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	for _, k := range []string{"eventVersion", "eventSource", "eventName"} {
		if _, ok := m[k]; ok {
			return "; it holds CloudTrail records: scan them with mamori cloudtrail scan"
		}
	}
	if recs, ok := m["Records"].([]any); ok && len(recs) > 0 {
		return "; it holds CloudTrail records: scan them with mamori cloudtrail scan"
	}
	keys := slices.Sorted(maps.Keys(m))
	if len(keys) == 0 {
		return ""
	}
	if len(keys) > 5 {
		keys = append(keys[:5:5], "...")
	}
	return "; the first has keys " + strings.Join(keys, ", ")
}

// parser hands the events of one file or request to the caller.
type parser struct {
	name  string
	num   *uint64
	now   time.Time
	fn    func(*Event)
	bad   func(*Error)
	index int

	taken     int      // events handed over
	foreign   []*Error // objects that are not events, reported at the end
	looksLike string   // what the first of them seems to be
}

// value takes one top-level value: an EventList, an array of events or
// an event.
func (p *parser) value(v any, line int) {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			p.event(e, 0)
		}
		return
	case map[string]any:
		if v["kind"] == "EventList" {
			p.list(v, line)
			return
		}
	}
	p.event(v, line)
}

// list takes the items of an EventList.
func (p *parser) list(v map[string]any, line int) {
	items, ok := v["items"].([]any)
	if !ok && v["items"] != nil {
		p.bad(&Error{File: p.name, Record: p.index, Line: line, Err: errors.New("EventList whose items are not an array")})
		p.index++
		return
	}
	for _, e := range items {
		p.event(e, 0)
	}
}

// event hands over one event.
func (p *parser) event(v any, line int) {
	i := p.index
	p.index++
	e, err := newEvent(v, p.now)
	if errors.Is(err, ErrNotEvent) {
		if len(p.foreign) == 0 {
			p.looksLike = looksLike(v)
		}
		p.foreign = append(p.foreign, &Error{File: p.name, Record: i, Line: line, Err: err})
		return
	}
	if err != nil {
		p.bad(&Error{File: p.name, Record: i, Line: line, Err: err})
		return
	}
	p.taken++
	*p.num++
	e.File, e.Index, e.Line, e.Num = p.name, i, line, *p.num
	p.fn(e)
}
