package auditlog

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

// ErrNoLogFiles is the error of a directory that holds no log file.
var ErrNoLogFiles = errors.New("no log files in this directory")

// MaxFileSize bounds a file, after decompression, so that a gzip bomb or
// a stray disk image does not exhaust memory.
const MaxFileSize = 1 << 30

// Files lists the files to read for paths, in order: a path that is a
// file stands for itself; a directory for the files below it, recursively
// and in lexical order, whose names isLog accepts. A path that cannot be
// read goes to bad, and so does a directory with no such file, with
// names, which says what isLog accepts ("*.json or *.jsonl files"): a
// scan of the wrong folder is a mistake, not an empty log.
func Files(paths []string, isLog func(name string) bool, names string, bad func(*Error)) []string {
	var out []string
	for _, p := range paths {
		if p == "-" {
			out = append(out, p) // standard input, read by the caller
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			bad(&Error{File: p, Record: -1, Err: err})
			continue
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		var files []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				bad(&Error{File: path, Record: -1, Err: err})
				return nil
			}
			if d.Type().IsRegular() && isLog(d.Name()) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			bad(&Error{File: p, Record: -1, Err: err})
		} else if len(files) == 0 {
			bad(&Error{File: p, Record: -1, Err: fmt.Errorf("%w: a directory is read for %s", ErrNoLogFiles, names)})
		}
		sort.Strings(files)
		out = append(out, files...)
	}
	return out
}

// StdinName names the records read from standard input ("-").
const StdinName = "<stdin>"

// ReadStdin reads a log given as "-", at most MaxFileSize bytes.
func ReadStdin(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, errors.New("no standard input here")
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err == nil && len(data) > MaxFileSize {
		err = fmt.Errorf("larger than %d bytes", MaxFileSize)
	}
	return data, err
}

// ReadFile reads a whole file, at most MaxFileSize bytes.
func ReadFile(path string) ([]byte, error) { return readFile(path, nil) }

// Gunzip returns data decompressed if it starts with the gzip magic
// number, else data itself.
func Gunzip(data []byte) ([]byte, error) {
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		return data, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	data, err = io.ReadAll(io.LimitReader(zr, MaxFileSize+1))
	if err == nil && len(data) > MaxFileSize {
		err = fmt.Errorf("larger than %d bytes uncompressed", MaxFileSize)
	}
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return data, nil
}

// Decode calls value with each top-level JSON value of data (numbers as
// json.Number) and the line it starts on; the line is 0 when data holds a
// single value. A syntax error makes the whole of data bad and is
// returned with its line, before any value is passed on, unless data
// holds one value per line: then only that line is bad, and badLine gets
// it.
func Decode(data []byte, value func(v any, line int), badLine func(line int, err error)) (line int, err error) {
	if vals, lines, err := values(data); err == nil {
		for i, v := range vals {
			line := 0
			if len(vals) > 1 {
				line = lines[i]
			}
			value(v, line)
		}
		return 0, nil
	} else if !isLineOriented(data) {
		return lineOf(data, err), err
	}
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		v, err := decodeLine(line)
		if err != nil {
			badLine(n, err)
			continue
		}
		value(v, n)
	}
	return 0, nil
}

// Split is Decode without the decoding: it calls value with each
// top-level JSON value of data as a Value, its text and structure,
// under the same contract, with the same errors. The text is data's own,
// found valid by a scanner that decodes nothing; where that scanner
// refuses data (invalid text, or text encoding/json splits its own way),
// Decode decides, and value gets the values it decoded, encoded again.
func Split(data []byte, value func(v Value, line int), badLine func(line int, err error)) (line int, err error) {
	var s Scratch
	return s.Split(data, value, badLine)
}

// Scratch is the memory a reader of many logs keeps from one to the
// next: the buffer a file is read into before it is copied out at its
// size (reading into memory still in the cache and handing over exactly
// what the file holds beats a fresh buffer per file), and the scan's
// list of members. The zero Scratch is ready to use; it is not safe for
// concurrent use.
type Scratch struct {
	// Transient hands out the scratch memory itself: ReadFile's data and
	// Split's values are valid only until the next call, so that a reader
	// whose caller keeps nothing (a scan that evaluates each record and
	// moves on) allocates and collects no copy of every file.
	Transient bool

	read []byte
	sc   scanner
}

// maxScratch bounds the read buffer a Scratch keeps: a larger file gets
// one of its own.
const maxScratch = 1 << 20

// ReadFile is the package's ReadFile, through the scratch buffer.
func (s *Scratch) ReadFile(path string) ([]byte, error) {
	if s.read == nil {
		s.read = make([]byte, 0, 64<<10)
	}
	data, err := readFile(path, s.read)
	if err != nil {
		return nil, err
	}
	if cap(data) > maxScratch {
		return data, nil // it is the caller's: the scratch stays as it was
	}
	s.read = data[:0]
	if s.Transient {
		return data, nil
	}
	return append([]byte(nil), data...), nil
}

// Split is the package's Split.
func (s *Scratch) Split(data []byte, value func(v Value, line int), badLine func(line int, err error)) (line int, err error) {
	if vals, lines, ok := s.splitValid(data); ok {
		for i, v := range vals {
			line := 0
			if len(vals) > 1 {
				line = lines[i]
			}
			value(v, line)
		}
		return 0, nil
	}
	// The scanner refused data: encoding/json decides, as Decode does,
	// so that the errors read the same. (A file of one record per line
	// with a bad line comes this way: slower, and rare.)
	return Decode(data, func(v any, line int) { value(valueOf(encode(v)), line) }, badLine)
}

// splitValid returns each top-level value of data and the line it starts
// on; ok is false when the scanner finds data invalid, or holding no
// value, or a number or literal followed by something else than
// whitespace (which encoding/json splits its own way).
func (s *Scratch) splitValid(data []byte) (vals []Value, lines []int, ok bool) {
	sc := &s.sc
	sc.d, sc.tape = data, sc.tape[:0]
	defer func() { sc.d = nil }()
	type found struct {
		sp   span
		line int
	}
	var fs []found
	line, off := 1, 0
	for i := skipSpace(data, 0); i < len(data); i = skipSpace(data, i) {
		end, k0, k1 := sc.value(i, 0, false)
		if end < 0 {
			return nil, nil, false
		}
		if c := data[i]; c != '{' && c != '[' && end < len(data) && !isSpace(data[end]) {
			return nil, nil, false
		}
		line += bytes.Count(data[off:i], []byte{'\n'})
		off = i
		fs = append(fs, found{span{val0: int32(i), val1: int32(end), kid0: k0, kid1: k1}, line})
		i = end
	}
	// The values keep a tape of their own, of the right size; the
	// scratch one serves the next log.
	tape := sc.tape
	if !s.Transient {
		tape = append([]span(nil), sc.tape...)
	}
	for _, f := range fs {
		vals = append(vals, Value{data: data, tape: tape, sp: f.sp})
		lines = append(lines, f.line)
	}
	return vals, lines, len(vals) > 0
}

// valueOf scans text, one JSON value known to be valid, into a Value.
func valueOf(text []byte) Value {
	sc := scanner{d: text}
	end, k0, k1 := sc.value(0, 0, false)
	if end < 0 { // cannot be: the text was checked
		end, k0, k1 = len(text), -1, -1
	}
	return Value{data: text, tape: sc.tape, sp: span{val1: int32(end), kid0: k0, kid1: k1}}
}

// encode is the JSON text of a decoded value.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte("null")
	}
	return b
}

// decodeLine decodes the one JSON value a line must hold.
func decodeLine(line []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	if rest := line[min(int(dec.InputOffset()), len(line)):]; err == nil && len(bytes.TrimSpace(rest)) > 0 {
		col := len(line) - len(bytes.TrimLeft(rest, " \t")) + 1
		err = fmt.Errorf("text after the JSON value at column %d", col)
	}
	return v, err
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
