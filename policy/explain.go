package policy

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"text/tabwriter"
)

// Setting is one effective setting with its provenance: a row of
// `mamori policy explain`.
type Setting struct {
	// Path is relative to spec.controls: "forkGuard" for the control
	// itself (Value "on" or "off"), "forkGuard.maxProcesses" for a
	// setting.
	Path  string    `json:"path"`
	Mode  Mode      `json:"mode"`
	Value any       `json:"value"`
	From  []Origin  `json:"from,omitempty"`
	Items []Element `json:"items,omitempty"` // a list's elements, each with its own provenance
}

// Element is one element of a list setting.
type Element struct {
	Value string   `json:"value"`
	From  []Origin `json:"from,omitempty"`
}

// Settings lists the effective settings, control by control in document
// order: each with the mode it applies in and the policies that decided
// it. A setting appears for audit only where auditing policies make it
// stricter than what is enforced.
func (e *Effective) Settings() []Setting {
	var out []Setting
	for _, f := range controlFields {
		ec, ac := e.Enforce.Controls.get(f), e.Audit.Controls.get(f)
		var enforced []Setting
		if ec != nil {
			enforced = settingsOf(f.name, ec, Enforce, e.Enforce.From)
			out = append(out, enforced...)
		}
		if ac == nil {
			continue
		}
		for _, s := range settingsOf(f.name, ac, Audit, e.Audit.From) {
			if s, differs := auditOnly(s, enforced); differs {
				out = append(out, s)
			}
		}
	}
	return out
}

// auditOnly returns what an audit setting adds to the enforced one: for a
// list that only grows (a block list), just the new elements; otherwise
// the whole setting, if it differs.
func auditOnly(s Setting, enforced []Setting) (Setting, bool) {
	for _, x := range enforced {
		if x.Path != s.Path {
			continue
		}
		if reflect.DeepEqual(x.Value, s.Value) {
			return s, false
		}
		if x.Items == nil || s.Items == nil || len(x.Items) == 0 {
			return s, true
		}
		var extra []Element
		have := map[string]bool{}
		for _, it := range x.Items {
			have[it.Value] = true
		}
		for _, it := range s.Items {
			if !have[it.Value] {
				extra = append(extra, it)
			} else {
				delete(have, it.Value)
			}
		}
		if len(have) > 0 {
			return s, true // the audit list is narrower: show all of it
		}
		s.Items = extra
		return s, true
	}
	return s, true
}

func settingsOf(name string, c control, mode Mode, prov Provenance) []Setting {
	if !c.sw().On() {
		return []Setting{{Path: name, Mode: mode, Value: "off", From: prov[name+".enabled"]}}
	}
	out := []Setting{{Path: name, Mode: mode, Value: "on", From: prov[name]}}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		for _, f := range fieldsOf(v.Type()) {
			if f.name == "enabled" {
				continue
			}
			fv := v.FieldByIndex(f.index)
			p := path + "." + f.name
			if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeFor[Patterns]() {
				walk(fv, p)
				continue
			}
			s := Setting{Path: p, Mode: mode, From: prov[p]}
			switch x := fv.Interface().(type) {
			case Patterns:
				if x.IsZero() && s.From == nil {
					continue
				}
				s.Value, s.Items = list(p, x.Strings(), prov)
			case []string:
				if x == nil && s.From == nil {
					continue
				}
				s.Value, s.Items = list(p, x, prov)
			case Duration:
				if x == 0 && s.From == nil {
					continue
				}
				s.Value = x.String()
			default:
				if fv.IsZero() && s.From == nil {
					continue
				}
				s.Value = x
			}
			out = append(out, s)
		}
	}
	walk(reflect.ValueOf(c).Elem(), name)
	return out
}

func list(path string, xs []string, prov Provenance) ([]string, []Element) {
	if xs == nil {
		xs = []string{}
	}
	items := []Element{}
	for _, x := range xs {
		items = append(items, Element{Value: x, From: prov[elemKey(path, x)]})
	}
	return xs, items
}

// String renders the effective controls as `mamori policy explain` prints
// them: the policies that apply, then one row per setting with its mode,
// value and the policies (file:line:col) that decided it.
func (e *Effective) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policies that apply (%d):\n", len(e.Policies))
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	for _, p := range e.Policies {
		note := ""
		if len(p.Replaced) > 0 {
			note = "\t(built-in default; replaced here for " + strings.Join(p.Replaced, ", ") + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s%s\n", p.Name, p.Mode, p.Source, note)
	}
	tw.Flush()
	settings := e.Settings()
	if len(settings) == 0 {
		b.WriteString("\nno controls apply\n")
		return b.String()
	}
	b.WriteString("\neffective controls:\n")
	tw = tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "  SETTING\tMODE\tVALUE\tFROM\n")
	for _, s := range settings {
		label := s.Path
		if i := strings.IndexByte(s.Path, '.'); i >= 0 {
			label = "  " + s.Path[i+1:]
		}
		if s.Items != nil {
			if len(s.Items) == 0 {
				fmt.Fprintf(tw, "  %s\t%s\t(none)\t%s\n", label, s.Mode, origins(s.From))
			}
			for _, it := range s.Items {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", label, s.Mode, it.Value, origins(it.From))
			}
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\t%v\t%s\n", label, s.Mode, s.Value, origins(s.From))
	}
	tw.Flush()
	return b.String()
}

func origins(os []Origin) string {
	if len(os) == 0 {
		return "(default)"
	}
	parts := make([]string, len(os))
	for i, o := range os {
		parts[i] = o.String()
	}
	return strings.Join(parts, ", ")
}

// MarshalJSON renders the policies that apply, the flat settings with
// provenance (as String shows them), and both merged tiers.
func (e *Effective) MarshalJSON() ([]byte, error) {
	type tiers Effective // without this method
	return json.Marshal(struct {
		*tiers
		Settings []Setting `json:"settings"`
	}{(*tiers)(e), e.Settings()})
}
