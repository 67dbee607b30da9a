package defaults

import (
	_ "embed"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/mamori-dev/mamori/rules"
)

//go:embed falco_runtime_overrides.yaml
var runtimeOverrides []byte

// RuntimeOverridesName is how the runtime overrides are named in positions
// and messages.
const RuntimeOverridesName = "falco_runtime_overrides.yaml (built in)"

// RuntimeOverrides returns mamori's additions to Falco's rules for the
// container runtimes Falco's lists do not name (podman, conmon, crun, runc
// and the network plugins), to load after files: only the entries whose
// list or macro one of files defines, so that it loads after any set of
// files. ok is false when files define none of them.
func RuntimeOverrides(files []rules.File) (f rules.File, ok bool, err error) {
	defined := map[string]bool{}
	for _, file := range files {
		var items []map[string]any
		if yaml.Unmarshal(file.Data, &items) != nil {
			continue // not a Falco rules file; its loader says why
		}
		for _, it := range items {
			for _, kind := range []string{"list", "macro"} {
				if name, ok := it[kind].(string); ok {
					defined[kind+" "+name] = true
				}
			}
		}
	}
	var all []yaml.Node
	var doc yaml.Node
	if err := yaml.Unmarshal(runtimeOverrides, &doc); err != nil {
		return rules.File{}, false, fmt.Errorf("%s: %w", RuntimeOverridesName, err)
	}
	seq := doc.Content[0]
	for _, it := range seq.Content {
		var head struct {
			List  string `yaml:"list"`
			Macro string `yaml:"macro"`
		}
		if err := it.Decode(&head); err != nil {
			return rules.File{}, false, fmt.Errorf("%s: %w", RuntimeOverridesName, err)
		}
		if (head.List != "" && defined["list "+head.List]) || (head.Macro != "" && defined["macro "+head.Macro]) {
			all = append(all, *it)
		}
	}
	if len(all) == 0 {
		return rules.File{}, false, nil
	}
	kept := yaml.Node{Kind: yaml.SequenceNode}
	for i := range all {
		kept.Content = append(kept.Content, &all[i])
	}
	out, err := yaml.Marshal(&kept)
	if err != nil {
		return rules.File{}, false, fmt.Errorf("%s: %w", RuntimeOverridesName, err)
	}
	return rules.File{Name: RuntimeOverridesName, Data: out}, true, nil
}
