package policy

import (
	"errors"
	"fmt"
	"github.com/mamori-dev/mamori/internal/textdist"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Position is a place in a policy or list file. Line and Col count from 1;
// a zero Line means the whole file.
type Position struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

func nodePos(file string, n *yaml.Node) Position {
	if n == nil {
		return Position{File: file}
	}
	return Position{File: file, Line: n.Line, Col: n.Column}
}

// Error is one problem at a position. Msg says what was wrong and, where
// there is something to do, what to do about it.
type Error struct {
	Pos Position
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

func errorf(pos Position, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// maxErrors bounds how many problems one load reports: past that, the
// first ones are what a user fixes first anyway.
const maxErrors = 50

// errorList collects problems in the order they are found.
type errorList []*Error

func (l *errorList) add(e *Error) {
	if len(*l) < maxErrors {
		*l = append(*l, e)
	}
}

func (l *errorList) addf(pos Position, format string, args ...any) {
	l.add(errorf(pos, format, args...))
}

// err returns the problems sorted by position, joined, or nil.
func (l errorList) err() error {
	if len(l) == 0 {
		return nil
	}
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i].Pos, l[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// Errors returns every *Error inside err, in order; useful for a caller
// that wants to show or count them one by one.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		walk(errors.Unwrap(err))
	}
	walk(err)
	return out
}

// nearest returns the candidate s was most likely meant to be, or "".
func nearest(s string, candidates []string) string { return textdist.Nearest(s, candidates) }

// didYouMean renders the suggestion for an unknown name.
func didYouMean(s string, candidates []string) string {
	if n := nearest(s, candidates); n != "" {
		return fmt.Sprintf("did you mean %q?", n)
	}
	return "valid: " + strings.Join(candidates, ", ")
}
