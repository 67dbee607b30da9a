// Package defaults holds mamori's own detection rules, written in the Falco
// rule language and embedded in the binary: for the sensor's events (the
// agent runs them when it is given no --rules file), for CloudTrail records
// and for Kubernetes audit events (the audit-log scanners and live modes
// load them before any --rules file). It owns the rules' text and nothing
// else; upstream Falco rules are never copied here.
package defaults

import (
	_ "embed"

	"github.com/mamori-dev/mamori/rules"
)

//go:embed mamori_rules.yaml
var text []byte

// Name is how the embedded file is named in positions and messages.
const Name = "mamori_rules.yaml (built in)"

// File returns the embedded rules file.
func File() rules.File {
	return rules.File{Name: Name, Data: append([]byte(nil), text...)}
}
