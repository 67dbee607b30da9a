package policy

// Effective is the outcome of merging every policy that applies to one
// target: what to refuse (Enforce), what to report (Audit), and where each
// setting came from.
//
// The two tiers keep an audit policy from tightening what is enforced: a
// team can trial a stricter limit in audit mode next to an enforcing
// policy without breaking anything. Enforce merges only the enforcing
// policies; Audit merges all of them, so it is never weaker than Enforce
// and an enforcer that refuses by Enforce and reports by Audit honours
// "enforce beats audit" and "stricter wins" for every setting.
type Effective struct {
	// Policies are the policies whose scope matched, in load order.
	Policies []Applied `json:"policies"`
	Enforce  Tier      `json:"enforce"`
	Audit    Tier      `json:"audit"`
}

// Applied is one matching policy.
type Applied struct {
	Name   string   `json:"name"`
	Mode   Mode     `json:"mode"`
	Source Position `json:"source"`
	// Replaced lists the built-in default's controls that a loaded policy
	// sets for this target, so that the default's version does not apply.
	Replaced []string `json:"replaced,omitempty"`
}

// Tier is one merged set of controls with its provenance.
type Tier struct {
	Controls Controls   `json:"controls"`
	From     Provenance `json:"from"`
}

// Mode returns how the named control applies: enforce when an enforcing
// policy turns it on, audit when only auditing ones do, "" when it is off.
func (e *Effective) Mode(name string) Mode {
	for _, t := range []struct {
		tier *Tier
		mode Mode
	}{{&e.Enforce, Enforce}, {&e.Audit, Audit}} {
		if c, ok := t.tier.Controls.Get(name).(control); ok && c.sw().On() {
			return t.mode
		}
	}
	return ""
}

// Merge computes the effective controls for t from policies, in order.
// Every policy whose scope matches applies; per setting the stricter value
// wins (see each control's merge: smaller limits, united block lists,
// intersected allow lists, enforce over audit). A control is on if any
// applying policy turns it on.
//
// The built-in default policy is a baseline: its version of a control
// applies only when no other matching policy sets that control at all,
// so a loaded policy can replace it, or turn it off with enabled: false.
func Merge(t *Target, policies []*Policy) *Effective {
	e := &Effective{Enforce: Tier{From: Provenance{}}, Audit: Tier{From: Provenance{}}}
	var matched []*Policy
	setByLoaded := map[string]bool{}
	for _, p := range policies {
		if p.Spec.Scope == nil || !p.Spec.Scope.Match(t) {
			continue
		}
		matched = append(matched, p)
		if !p.builtin {
			for _, f := range controlFields {
				if p.Spec.Controls.get(f) != nil {
					setByLoaded[f.name] = true
				}
			}
		}
	}
	for _, p := range matched {
		a := Applied{Name: p.Name(), Mode: p.Mode(), Source: p.Source}
		if p.builtin {
			for _, f := range controlFields {
				if p.Spec.Controls.get(f) != nil && setByLoaded[f.name] {
					a.Replaced = append(a.Replaced, f.name)
				}
			}
		}
		e.Policies = append(e.Policies, a)
	}
	for _, f := range controlFields {
		var enforce, all []*Policy
		for _, p := range matched {
			if p.Spec.Controls.get(f) == nil || p.builtin && setByLoaded[f.name] {
				continue
			}
			all = append(all, p)
			if p.Mode() == Enforce {
				enforce = append(enforce, p)
			}
		}
		mergeControl(&e.Enforce, f, enforce)
		mergeControl(&e.Audit, f, all)
	}
	return e
}

// mergeControl merges one control from the policies that set it. If none
// turns it on, the result is the control switched off, with the policies
// that switched it off as its provenance.
func mergeControl(t *Tier, f controlField, from []*Policy) {
	if len(from) == 0 {
		return
	}
	m := &merger{prov: t.From, seen: map[string]bool{}}
	dst := t.Controls.ensure(f)
	var on, off []*Policy
	for _, p := range from {
		if p.Spec.Controls.get(f).sw().On() {
			on = append(on, p)
		} else {
			off = append(off, p)
		}
	}
	if len(on) == 0 {
		no := false
		dst.sw().Enabled = &no
		for _, p := range off {
			m.cur = p
			m.add(f.name+".enabled", m.origin(f.name+".enabled"))
		}
		return
	}
	for _, p := range on {
		m.cur = p
		m.add(f.name, m.origin(f.name))
		dst.merge(m, p.Spec.Controls.get(f), f.name)
	}
}
