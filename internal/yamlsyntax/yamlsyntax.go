// Package yamlsyntax says where YAML text stops being YAML. Every reader of
// YAML here (rules, policies, manifests) decodes with gopkg.in/yaml.v3,
// whose syntax errors name only the line of the block around the mistake
// ("yaml: line 3: did not find expected key" for a key on line 7) and no
// column. When such a decode fails, Check parses the same text with
// go.yaml.in/yaml/v4, the same parser that keeps its marks, and returns
// the line and column of the mistake itself and of the construct it
// interrupted. It owns nothing but that: it decodes no values.
package yamlsyntax

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	yaml "go.yaml.in/yaml/v4"
)

// Error is a syntax error: where the parser gave up, what it found, and
// the construct it was reading when it did.
type Error struct {
	Line, Col int    // where the parser gave up (from 1)
	Msg       string // what it found: "did not find expected key"
	// Context is what the parser was reading ("while parsing a block
	// mapping"), which starts at ContextLine:ContextCol; empty when none.
	Context                 string
	ContextLine, ContextCol int
	// AtEnd is set when the parser gave up at the end of the text: a
	// bracket, brace or quote opened earlier was never closed.
	AtEnd bool
}

// Error renders "7:4: did not find expected key (while parsing a block
// mapping that starts at 4:3)".
func (e *Error) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Detail()) }

// Detail is the message without the position, for callers that print
// positions their own way.
func (e *Error) Detail() string {
	msg := e.Msg
	if e.Context != "" && e.ContextLine > 0 && (e.ContextLine != e.Line || e.ContextCol != e.Col) {
		msg += fmt.Sprintf(" (%s that starts at %d:%d)", e.Context, e.ContextLine, e.ContextCol)
	}
	if e.AtEnd && e.Msg != "found unexpected end of stream" {
		return msg + "; the text ends here, inside a [ ], { } or quote opened earlier and never closed"
	}
	return msg + hint(e.Msg)
}

// hint says what usually causes the common mistakes.
func hint(msg string) string {
	switch msg {
	case "did not find expected key", "mapping values are not allowed in this context":
		return "; check the indentation here, or quote a value that holds \": \""
	case "found a tab character that violates indentation", "found character that cannot start any token":
		return "; indent with spaces, not tabs"
	case "found unexpected end of stream":
		return "; a quote or bracket opened earlier is never closed"
	}
	return ""
}

// Check parses data, one or more documents, and returns its first syntax
// error, or nil when data is well-formed YAML.
func Check(data []byte) *Error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		var le *yaml.LoadError
		if !errors.As(err, &le) || le.Mark.Line == 0 {
			return nil // not a syntax error (a decoding limit): the caller's error stands
		}
		return &Error{Line: le.Mark.Line, Col: max(le.Mark.Column, 1), Msg: le.Message,
			Context: le.ContextMsg, ContextLine: le.ContextMark.Line, ContextCol: le.ContextMark.Column,
			AtEnd: le.Mark.Index >= len(bytes.TrimRight(data, " \t\r\n"))}
	}
}
