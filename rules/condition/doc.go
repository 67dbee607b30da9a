// Package condition parses the condition language of Falco rules into an
// expression tree.
//
// It owns the lexer, the parser and the tree, and nothing else: it knows no
// fields, lists or macros, and it does not evaluate. Package rules expands
// lists before parsing, resolves macro references in the tree and compiles
// checks against a field catalogue.
package condition
