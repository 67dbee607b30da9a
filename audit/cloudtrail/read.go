package cloudtrail

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mamori-dev/mamori/audit/auditlog"
)

// Error is a file or a record that could not be read. Reading goes on
// after it with the next record or file.
type Error = auditlog.Error

// Reader reads CloudTrail records. It numbers them across every file it
// reads, for evt.num. It is not safe for concurrent use.
type Reader struct {
	// Transient makes a record valid only until fn returns: every file is
	// read into the same memory, and its records too. A scan that
	// evaluates each record and keeps none sets it to spare the copies.
	Transient bool
	// Stdin is what ReadFile reads for the path "-", naming its records
	// "<stdin>".
	Stdin io.Reader

	num   uint64
	mem   auditlog.Scratch
	batch []Record // the records of the last array, when Transient
}

// ReadPaths reads the records of each path in turn: a file, or a directory
// whose log files (see isLogName) are read in lexical order, recursively. fn receives
// each record; bad receives each file or record that cannot be read, and
// reading goes on. A record passed to fn may be kept.
func (rd *Reader) ReadPaths(paths []string, fn func(*Record), bad func(*Error)) {
	for _, f := range auditlog.Files(paths, isLogName, LogNames, bad) {
		rd.ReadFile(f, fn, bad)
	}
}

// LogNames says which files of a directory are read, for messages.
const LogNames = "*.json, *.jsonl and *.ndjson files, gzipped or not (CloudTrail delivers *.json.gz)"

// IsLogName reports whether a file or object of this name holds records
// (see isLogName), for callers that list logs elsewhere, such as in S3.
func IsLogName(name string) bool { return isLogName(name) }

// isLogName reports whether a file found in a directory holds records by
// its name: CloudTrail delivers *.json.gz; exports are *.json, *.jsonl or
// *.ndjson, possibly gzipped. Other files (READMEs, digests' signatures)
// are left alone, and so are the digest files CloudTrail delivers beside
// the logs (ACCOUNT_CloudTrail-Digest_REGION_..., under CloudTrail-Digest/):
// they hold hashes of log files, not records.
func isLogName(name string) bool {
	if strings.Contains(name, "_CloudTrail-Digest_") {
		return false
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".gz")
	for _, ext := range []string{".json", ".jsonl", ".ndjson"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// ReadFile reads the records of one file, decompressing it if it is gzip.
func (rd *Reader) ReadFile(path string, fn func(*Record), bad func(*Error)) {
	if path == "-" {
		data, err := auditlog.ReadStdin(rd.Stdin)
		if err != nil {
			bad(&Error{File: auditlog.StdinName, Record: -1, Err: err})
			return
		}
		rd.Parse(auditlog.StdinName, data, fn, bad)
		return
	}
	rd.mem.Transient = rd.Transient
	data, err := rd.mem.ReadFile(path)
	if err != nil {
		bad(&Error{File: path, Record: -1, Err: err})
		return
	}
	rd.Parse(path, data, fn, bad)
}

// Parse reads the records in data, named name in records and errors.
//
// data may be gzip-compressed; it holds one delivery object
// {"Records":[...]}, a JSON array of records, or a sequence of records or
// delivery objects, one per line. A value that is not a JSON object is a bad
// record. A syntax error makes the whole file bad, except in a file with one
// value per line, where it makes only that line bad.
func (rd *Reader) Parse(name string, data []byte, fn func(*Record), bad func(*Error)) {
	data, err := auditlog.Gunzip(data)
	if err != nil {
		bad(&Error{File: name, Record: -1, Err: err})
		return
	}
	p := parser{name: name, rd: rd, fn: fn, bad: bad}
	rd.mem.Transient = rd.Transient
	line, err := rd.mem.Split(data, p.value, func(line int, err error) {
		p.bad(&Error{File: p.name, Record: p.index, Line: line, Err: err})
		p.index++
	})
	if err != nil {
		bad(&Error{File: name, Record: -1, Line: line, Err: err})
		return
	}
	if p.index == 0 {
		bad(&Error{File: name, Record: -1, Err: ErrNoRecords})
		return
	}
	p.foreignRecords()
}

// ErrNoRecords is the error of a file that holds no record at all: empty,
// an empty array or {"Records":[]}. A scan that counted it as read would
// report "0 alerts" for input it never saw.
var ErrNoRecords = errors.New("holds no CloudTrail records (it is empty, [] or {\"Records\":[]}): name files that hold CloudTrail logs")

// A JSON object with none of the keys every CloudTrail record has is not
// a record: a Kubernetes audit event, or any other log, would otherwise be
// "read" as records no rule matches, and a scan of the wrong folder would
// report nothing wrong.
var recordKeys = []string{"eventVersion", "eventSource", "eventName"}

// isRecord reports whether obj has one of recordKeys.
func isRecord(obj auditlog.Object) bool {
	for _, k := range recordKeys {
		if _, ok := obj.Raw(k); ok {
			return true
		}
	}
	return false
}

// ErrNotCloudTrail is the error of a file none of whose JSON objects is a
// CloudTrail record, and of each such object in a file that has records.
var ErrNotCloudTrail = errors.New("not a CloudTrail record: it has none of eventVersion, eventSource, eventName")

// foreign is an object of a file that is not a record.
type foreign struct{ index, line int }

// foreignRecords reports the file's objects that are not records: one
// error for the whole file when none is (what it looks like instead, and
// what reads it), else one per object.
func (p *parser) foreignRecords() {
	if len(p.foreign) == 0 {
		return
	}
	switch {
	case p.taken == 0 && len(p.foreign) == 1:
		f := p.foreign[0]
		p.bad(&Error{File: p.name, Record: f.index, Line: f.line, Err: fmt.Errorf("%w%s", ErrNotCloudTrail, strings.Replace(p.looksLike, "the first has", "it has", 1))})
		return
	case p.taken == 0:
		p.bad(&Error{File: p.name, Record: -1, Err: fmt.Errorf("not a CloudTrail log: none of its %d JSON objects is a CloudTrail record (one has eventVersion, eventSource and eventName)%s",
			len(p.foreign), p.looksLike)})
		return
	}
	for _, f := range p.foreign {
		p.bad(&Error{File: p.name, Record: f.index, Line: f.line, Err: ErrNotCloudTrail})
	}
}

// looksLike says what a non-record object seems to be, and what reads it.
func looksLike(obj auditlog.Object) string {
	kind, _ := obj.String("kind")
	api, _ := obj.String("apiVersion")
	if _, audit := obj.Raw("auditID"); audit || kind == "Event" || kind == "EventList" || strings.HasPrefix(api, "audit.k8s.io/") {
		return "; it holds Kubernetes audit events: scan them with mamori k8saudit scan"
	}
	keys := obj.Keys()
	if len(keys) == 0 {
		return ""
	}
	if len(keys) > 5 {
		keys = append(keys[:5:5], "...")
	}
	return "; the first has keys " + strings.Join(keys, ", ")
}

// parser hands the records of one file to the caller.
type parser struct {
	name  string
	rd    *Reader
	fn    func(*Record)
	bad   func(*Error)
	index int

	taken     int       // records handed over
	foreign   []foreign // objects that are not records, reported at the end
	looksLike string    // what the first of them seems to be
}

// value takes one top-level value: a delivery object, an array of
// records or a record.
func (p *parser) value(v auditlog.Value, line int) {
	obj := v.Object()
	switch v.Text()[0] {
	case '[':
		p.records(v)
		return
	case '{':
		// A delivery object has a Records array and nothing a record has.
		recs, _ := obj.Member("Records")
		_, name := obj.Raw("eventName")
		_, src := obj.Raw("eventSource")
		if t := recs.Text(); len(t) > 0 && t[0] == '[' && !name && !src {
			p.records(recs)
			return
		}
	}
	p.record(obj, line, new(Record))
}

// records takes the records of an array.
func (p *parser) records(arr auditlog.Value) {
	// One allocation for the records of an array, when its length is known.
	var batch []Record
	if n := arr.Len(); n > 0 {
		if p.rd.Transient && cap(p.rd.batch) >= n {
			batch = p.rd.batch[:n]
		} else {
			batch = make([]Record, n)
		}
		if p.rd.Transient {
			p.rd.batch = batch
		}
	}
	arr.Elements(func(r auditlog.Value) bool {
		var rec *Record
		if len(batch) > 0 {
			rec, batch = &batch[0], batch[1:]
		} else {
			rec = new(Record)
		}
		p.record(r.Object(), 0, rec)
		return true
	})
}

// record hands over one record, filling in rec.
func (p *parser) record(obj auditlog.Object, line int, rec *Record) {
	i := p.index
	p.index++
	if obj.Text()[0] != '{' {
		p.bad(&Error{File: p.name, Record: i, Line: line, Err: errors.New("not a JSON object")})
		return
	}
	if !isRecord(obj) {
		if len(p.foreign) == 0 {
			p.looksLike = looksLike(obj)
		}
		p.foreign = append(p.foreign, foreign{i, line})
		return
	}
	p.taken++
	p.rd.num++
	*rec = Record{File: p.name, Index: i, Line: line, Num: p.rd.num, obj: obj}
	p.fn(rec)
}
