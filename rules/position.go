package rules

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Position is a place in a rules file.
type Position struct {
	File string
	Line int
	Col  int
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

// Error is a load error at a position in a rules file.
type Error struct {
	Pos Position
	Msg string
	Err error // the underlying error, if any
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Pos.String() + ": " + e.Msg + ": " + e.Err.Error()
	}
	return e.Pos.String() + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Warning is something Falco accepts but reports: unused lists and macros,
// deprecated keys, rules skipped because their source is not loaded.
type Warning struct {
	Pos Position
	Msg string
}

func (w Warning) String() string { return w.Pos.String() + ": " + w.Msg }
