package policy

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a length of time written as Go does ("30s", "5m").
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *Duration) decodeNode(dec *decoder, n *yaml.Node, path string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		dec.errorf(n, "%s must be a duration such as \"30s\" or \"5m\", found %s", lastKey(path), kindName(n))
		return false
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		dec.errorf(n, "%s: %q is not a duration; write it as \"30s\", \"5m\" or \"1h\"", lastKey(path), n.Value)
		return false
	}
	*d = Duration(v)
	return true
}
