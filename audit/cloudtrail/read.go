package cloudtrail

import (
	"errors"
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

	num   uint64
	mem   auditlog.Scratch
	batch []Record // the records of the last array, when Transient
}

// ReadPaths reads the records of each path in turn: a file, or a directory
// whose log files (see isLogName) are read in lexical order, recursively. fn receives
// each record; bad receives each file or record that cannot be read, and
// reading goes on. A record passed to fn may be kept.
func (rd *Reader) ReadPaths(paths []string, fn func(*Record), bad func(*Error)) {
	for _, f := range auditlog.Files(paths, isLogName, bad) {
		rd.ReadFile(f, fn, bad)
	}
}

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
	}
}

// parser hands the records of one file to the caller.
type parser struct {
	name  string
	rd    *Reader
	fn    func(*Record)
	bad   func(*Error)
	index int
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
	p.rd.num++
	*rec = Record{File: p.name, Index: i, Line: line, Num: p.rd.num, obj: obj}
	p.fn(rec)
}
