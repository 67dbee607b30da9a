package policy

import (
	_ "embed"
	"fmt"
)

//go:embed builtin/default.yaml
var builtinYAML []byte

// BuiltinFile is the name positions in the built-in default policy carry.
const BuiltinFile = "<built-in>/default.yaml"

// Builtin returns the built-in default policies: Drift Prevention in audit
// mode for every container. Each call parses them afresh, so a caller may
// keep the result.
func Builtin() []*Policy {
	ps, err := Parse(BuiltinFile, builtinYAML)
	if err != nil {
		panic(fmt.Sprintf("the built-in policy does not load: %v", err)) // a test catches this first
	}
	for _, p := range ps {
		p.builtin = true
	}
	return ps
}

// BuiltinYAML returns the text of the built-in default policy, for
// `mamori policy explain` and the documentation.
func BuiltinYAML() []byte { return builtinYAML }
