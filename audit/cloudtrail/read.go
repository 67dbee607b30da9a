package cloudtrail

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Error is a file or a record that could not be read. Reading goes on
// after it with the next record or file.
type Error struct {
	File   string
	Record int // the record's index in the file; -1 when the whole file is bad
	Line   int // the line of the record or of the syntax error, when known
	Err    error
}

func (e *Error) Error() string {
	where := e.File
	if e.Line > 0 {
		where += ":" + fmt.Sprint(e.Line)
	}
	if e.Record >= 0 {
		return fmt.Sprintf("%s: record %d: %v", where, e.Record, e.Err)
	}
	return fmt.Sprintf("%s: %v", where, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// maxFileSize bounds a file, after decompression, so that a gzip bomb or a
// stray disk image does not exhaust memory. CloudTrail delivers files of at
// most a few tens of megabytes.
const maxFileSize = 1 << 30

// Reader reads CloudTrail records. It numbers them across every file it
// reads, for evt.num. It is not safe for concurrent use.
type Reader struct {
	num uint64
}

// ReadPaths reads the records of each path in turn: a file, or a directory
// whose log files (see isLogName) are read in lexical order, recursively. fn receives
// each record; bad receives each file or record that cannot be read, and
// reading goes on. A record passed to fn may be kept.
func (rd *Reader) ReadPaths(paths []string, fn func(*Record), bad func(*Error)) {
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			bad(&Error{File: p, Record: -1, Err: err})
			continue
		}
		if !st.IsDir() {
			rd.ReadFile(p, fn, bad)
			continue
		}
		var files []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				bad(&Error{File: path, Record: -1, Err: err})
				return nil
			}
			if d.Type().IsRegular() && isLogName(d.Name()) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			bad(&Error{File: p, Record: -1, Err: err})
		}
		sort.Strings(files)
		for _, f := range files {
			rd.ReadFile(f, fn, bad)
		}
	}
}

// isLogName reports whether a file found in a directory holds records by
// its name: CloudTrail delivers *.json.gz; exports are *.json, *.jsonl or
// *.ndjson, possibly gzipped. Other files (READMEs, digests' signatures)
// are left alone.
func isLogName(name string) bool {
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
	f, err := os.Open(path)
	if err != nil {
		bad(&Error{File: path, Record: -1, Err: err})
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err == nil && len(data) > maxFileSize {
		err = fmt.Errorf("larger than %d bytes", maxFileSize)
	}
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
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			bad(&Error{File: name, Record: -1, Err: fmt.Errorf("gzip: %w", err)})
			return
		}
		data, err = io.ReadAll(io.LimitReader(zr, maxFileSize+1))
		if err == nil && len(data) > maxFileSize {
			err = fmt.Errorf("larger than %d bytes uncompressed", maxFileSize)
		}
		if err != nil {
			bad(&Error{File: name, Record: -1, Err: fmt.Errorf("gzip: %w", err)})
			return
		}
	}
	p := parser{name: name, rd: rd, fn: fn, bad: bad}
	if vals, lines, err := values(data); err == nil {
		for i, v := range vals {
			line := 0
			if len(vals) > 1 {
				line = lines[i]
			}
			p.value(v, line)
		}
	} else if isLineOriented(data) {
		p.lines(data)
	} else {
		bad(&Error{File: name, Record: -1, Line: lineOf(data, err), Err: err})
	}
}

// values decodes the top-level JSON values of data, with the line each
// starts on. It decodes all of them before returning, so that a syntax
// error anywhere leaves nothing half-read.
func values(data []byte) ([]any, []int, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var vals []any
	var lines []int
	line, off := 1, 0
	for {
		var v any
		start := dec.InputOffset()
		err := dec.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		// The value starts after the whitespace that precedes it.
		s := int(start) + len(data[start:]) - len(bytes.TrimLeft(data[start:], " \t\r\n"))
		line += bytes.Count(data[off:s], []byte{'\n'})
		off = s
		vals = append(vals, v)
		lines = append(lines, line)
	}
	if len(vals) == 0 {
		return nil, nil, errors.New("no JSON value")
	}
	return vals, lines, nil
}

// isLineOriented reports whether the first value of data fits on its first
// line, as in a file of one record per line.
func isLineOriented(data []byte) bool {
	data = bytes.TrimLeft(data, " \t\r\n")
	first, _, _ := bytes.Cut(data, []byte{'\n'})
	return len(first) > 0 && json.Valid(first)
}

// lineOf returns the line of a syntax error's offset, or 0.
func lineOf(data []byte, err error) int {
	var se *json.SyntaxError
	if !errors.As(err, &se) || se.Offset > int64(len(data)) {
		return 0
	}
	return 1 + bytes.Count(data[:se.Offset], []byte{'\n'})
}

// parser hands the records of one file to the caller.
type parser struct {
	name  string
	rd    *Reader
	fn    func(*Record)
	bad   func(*Error)
	index int
}

// lines reads data one value per line.
func (p *parser) lines(data []byte) {
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var v any
		err := dec.Decode(&v)
		if rest := line[min(int(dec.InputOffset()), len(line)):]; err == nil && len(bytes.TrimSpace(rest)) > 0 {
			col := len(line) - len(bytes.TrimLeft(rest, " \t")) + 1
			err = fmt.Errorf("text after the JSON value at column %d", col)
		}
		if err != nil {
			p.bad(&Error{File: p.name, Record: p.index, Line: n, Err: err})
			p.index++
			continue
		}
		p.value(v, n)
	}
}

// value takes one top-level value: a delivery object, an array of records
// or a record.
func (p *parser) value(v any, line int) {
	switch v := v.(type) {
	case []any:
		for _, r := range v {
			p.record(r, 0)
		}
		return
	case map[string]any:
		// A delivery object has a Records array and nothing a record has.
		recs, ok := v["Records"].([]any)
		_, name := v["eventName"]
		_, src := v["eventSource"]
		if ok && !name && !src {
			for _, r := range recs {
				p.record(r, 0)
			}
			return
		}
	}
	p.record(v, line)
}

// record hands over one record.
func (p *parser) record(v any, line int) {
	i := p.index
	p.index++
	m, ok := v.(map[string]any)
	if !ok {
		p.bad(&Error{File: p.name, Record: i, Line: line, Err: errors.New("not a JSON object")})
		return
	}
	p.rd.num++
	p.fn(&Record{File: p.name, Index: i, Line: line, Num: p.rd.num, Fields: m})
}
