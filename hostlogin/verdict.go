package hostlogin

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/policy"
)

// Control is the name of the control this package decides.
const Control = "hostLogins"

// Verdict is the decision about one login.
type Verdict struct {
	// Action is event.Blocked (an enforcing policy refuses the login),
	// event.Audited (only auditing policies would refuse it), or "" (the
	// login may go ahead and nothing is reported).
	Action string
	// Reason says which list decided, for the alert and for an admin; it
	// names lists and patterns, so it is not for the user logging in.
	Reason string
	// Policies are the policies whose settings decided, in load order.
	Policies []string
}

// Refused reports whether PAM should refuse the login.
func (v Verdict) Refused() bool { return v.Action == event.Blocked }

// Decide judges user, a member of groups, under the effective controls
// of the host: refused when the enforce tier's hostLogins refuses it,
// reported when only the audit tier's does (so a stricter audit policy
// next to an enforcing one is trialled without locking anyone out).
func Decide(eff *policy.Effective, user string, groups []string) Verdict {
	tiers := []struct {
		tier   *policy.Tier
		action string
	}{{&eff.Enforce, event.Blocked}, {&eff.Audit, event.Audited}}
	for _, t := range tiers {
		h := t.tier.Controls.HostLogins
		if !h.On() || h.Allowed(user, groups) {
			continue
		}
		reason, paths := why(h, user, groups)
		return Verdict{Action: t.action, Reason: reason, Policies: policiesAt(t.tier.From, paths)}
	}
	return Verdict{}
}

// why names the first list that refuses user, checked in the order
// policy.HostLogins.Allowed checks them, with the provenance keys of the
// settings that decided: the matching elements of a block list, or the
// whole allow list.
func why(h *policy.HostLogins, user string, groups []string) (string, []string) {
	if pats := matching(h.BlockUsers, []string{user}); len(pats) > 0 {
		return fmt.Sprintf("user %s is on blockUsers (%s)", user, strings.Join(pats, ", ")),
			elems(Control+".blockUsers", pats)
	}
	if pats := matching(h.BlockGroups, groups); len(pats) > 0 {
		return fmt.Sprintf("user %s is in a group on blockGroups (%s)", user, strings.Join(pats, ", ")),
			elems(Control+".blockGroups", pats)
	}
	if !h.AllowUsers.IsZero() && !h.AllowUsers.Match(user) {
		return fmt.Sprintf("user %s is not on allowUsers (%s)", user, list(h.AllowUsers)),
			[]string{Control + ".allowUsers"}
	}
	return fmt.Sprintf("no group of user %s (%s) is on allowGroups (%s)", user, orNone(groups), list(h.AllowGroups)),
		[]string{Control + ".allowGroups"}
}

// matching returns the patterns of ps that match any of names.
func matching(ps policy.Patterns, names []string) []string {
	var out []string
	for _, src := range ps.Strings() {
		p, err := policy.CompilePattern(src) // compiled when loaded; cannot fail
		if err == nil && slices.ContainsFunc(names, p.Match) {
			out = append(out, src)
		}
	}
	return out
}

// elems are the provenance keys of list elements (see policy.Provenance).
func elems(path string, pats []string) []string {
	out := make([]string, len(pats))
	for i, p := range pats {
		out[i] = path + "[" + p + "]"
	}
	return out
}

func policiesAt(prov policy.Provenance, paths []string) []string {
	var out []string
	for _, p := range paths {
		for _, o := range prov[p] {
			if !slices.Contains(out, o.Policy) {
				out = append(out, o.Policy)
			}
		}
	}
	return out
}

func list(ps policy.Patterns) string {
	if ps.Len() == 0 {
		return "empty: the policies that set it allow nobody in common"
	}
	return strings.Join(ps.Strings(), ", ")
}

func orNone(groups []string) string {
	if len(groups) == 0 {
		return "none"
	}
	return strings.Join(groups, ", ")
}
