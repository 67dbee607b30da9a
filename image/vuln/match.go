package vuln

import (
	"cmp"
	"slices"

	"github.com/google/osv-scalibr/semantic"

	"github.com/mamori-dev/mamori/image/sbom"
)

// Finding is a package that an OSV entry affects.
type Finding struct {
	Package  sbom.Package `json:"package"`
	Advisory Advisory     `json:"advisory"`
	// FixedVersion is the first version that fixes it, in the version
	// scheme the advisory uses (for Debian and Alpine, the source
	// package's); empty when no fix is published.
	FixedVersion string `json:"fixedVersion,omitempty"`
	// Severity is the advisory's, or the affected package's own where
	// the advisory gives one per package.
	Severity Severity `json:"severity"`
}

// Match returns the findings for pkgs, ordered by package then by
// severity, highest first. Entries that name each other as aliases (a
// distribution's advisory and the CVE it tracks) give one finding, under
// the ID of the highest-rated of them, with the others among its aliases.
// Packages without an ecosystem are not matched.
func (db *DB) Match(pkgs []sbom.Package) []Finding {
	var out []Finding
	for _, p := range pkgs {
		out = append(out, mergeAliases(db.matchPackage(p))...)
	}
	return out
}

// matchPackage finds the entries affecting one package, by the name the
// ecosystem's advisories use.
func (db *DB) matchPackage(p sbom.Package) []Finding {
	if p.Ecosystem == "" {
		return nil
	}
	name, version := p.Name, p.Version
	// Debian's and Alpine's advisories name source packages; the rpm
	// distributions' name binary packages.
	if p.SourceName != "" && (p.Type == sbom.Deb || p.Type == sbom.APK) {
		name = p.SourceName
		if p.SourceVersion != "" {
			version = p.SourceVersion
		}
	}
	if version == "" {
		return nil
	}
	candidates := db.index[matchKey(p.Ecosystem, name)]
	if len(candidates) == 0 {
		return nil
	}
	v, err := parseVersion(version, p.Ecosystem)
	if err != nil {
		return nil // a version this ecosystem's scheme cannot read
	}
	var out []Finding
	for _, a := range candidates {
		hit, fixed := a.affects(v, version)
		if !hit {
			continue
		}
		r := a.advisory.rating
		if a.rating != nil {
			r = *a.rating
		}
		out = append(out, Finding{Package: p, Advisory: *a.advisory, FixedVersion: fixed, Severity: r.Severity})
	}
	return out
}

// affects says whether version v (raw as written) is affected, and the
// version that fixes it when one is published.
func (a *affected) affects(v semantic.Version, raw string) (bool, string) {
	listed := false
	for _, l := range a.versions {
		if l == raw {
			listed = true
			break
		}
		if c, err := v.CompareStr(l); err == nil && c == 0 {
			listed = true
			break
		}
	}
	fixed := ""
	for _, r := range a.ranges {
		hit, f := inRange(v, a.ecosystem, r.Events)
		if hit && !listed {
			return true, f
		}
		if listed && f != "" && fixed == "" {
			fixed = f
		}
	}
	return listed, fixed
}

// event is an OSV event with its version parsed in the ecosystem's
// scheme; v is nil for introduced "0", which is below every version.
type event struct {
	osvEvent
	v semantic.Version
}

// inRange evaluates one range as the OSV schema's evaluation algorithm
// describes: with the events sorted by version, each introduced at or
// below v turns the range on, each fixed at or below v and each
// last_affected below v turn it off, and the last one that applies wins.
// When v is affected, fixed is the first fixed event above it. A range
// holding a version the ecosystem cannot read is skipped.
func inRange(v semantic.Version, ecosystem string, events []osvEvent) (hit bool, fixed string) {
	evs := make([]event, 0, len(events))
	for _, e := range events {
		if e.Limit != "" && e.Introduced == "" && e.Fixed == "" && e.LastAffected == "" {
			continue // limit belongs to GIT ranges
		}
		if e.Introduced == "0" {
			evs = append(evs, event{osvEvent: e})
			continue
		}
		pv, err := parseVersion(e.version(), ecosystem)
		if err != nil {
			return false, ""
		}
		evs = append(evs, event{osvEvent: e, v: pv})
	}
	// A stable sort keeps the advisory's order between events of equal
	// version (introduced then fixed at the same version affects nothing).
	slices.SortStableFunc(evs, func(x, y event) int {
		switch {
		case x.v == nil && y.v == nil:
			return 0
		case x.v == nil:
			return -1
		case y.v == nil:
			return 1
		}
		c, _ := x.v.Compare(y.v)
		return c
	})
	for i, e := range evs {
		c := 1 // v against the event's version; above "0"
		if e.v != nil {
			var err error
			if c, err = v.Compare(e.v); err != nil {
				return false, ""
			}
		}
		switch {
		case e.Introduced != "" && c >= 0:
			hit = true
		case e.Fixed != "" && c >= 0:
			hit = false
		case e.LastAffected != "" && c > 0:
			hit = false
		}
		if c < 0 {
			// Every later event is above v too: none applies.
			if hit {
				for _, f := range evs[i:] {
					if f.Fixed != "" {
						return true, f.Fixed
					}
				}
			}
			return hit, ""
		}
	}
	return hit, ""
}

// mergeAliases folds findings for one package whose advisories name each
// other (directly or through a shared alias) into one finding: the
// highest-rated, then one with a fix, then the lowest ID; it lists the
// other IDs and their aliases among its own.
func mergeAliases(fs []Finding) []Finding {
	if len(fs) < 2 {
		return fs
	}
	// Union-find over the findings, joined by any shared identifier.
	parent := make([]int, len(fs))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[string]int{}
	for i, f := range fs {
		for _, id := range append([]string{f.Advisory.ID}, f.Advisory.Aliases...) {
			if j, ok := owner[id]; ok {
				parent[find(i)] = find(j)
			} else {
				owner[id] = i
			}
		}
	}
	groups := map[int][]int{}
	for i := range fs {
		r := find(i)
		groups[r] = append(groups[r], i)
	}
	var out []Finding
	for _, members := range groups {
		best := members[0]
		for _, m := range members[1:] {
			if better(fs[m], fs[best]) {
				best = m
			}
		}
		f := fs[best]
		ids := map[string]bool{}
		fixed := f.FixedVersion
		for _, m := range members {
			for _, id := range append([]string{fs[m].Advisory.ID}, fs[m].Advisory.Aliases...) {
				ids[id] = true
			}
			if fixed == "" {
				fixed = fs[m].FixedVersion
			}
		}
		delete(ids, f.Advisory.ID)
		aliases := make([]string, 0, len(ids))
		for id := range ids {
			aliases = append(aliases, id)
		}
		slices.Sort(aliases)
		f.Advisory.Aliases = aliases
		f.FixedVersion = fixed
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(b.Severity, a.Severity), cmp.Compare(a.Advisory.ID, b.Advisory.ID))
	})
	return out
}

// better orders findings for mergeAliases.
func better(a, b Finding) bool {
	if a.Severity != b.Severity {
		return a.Severity > b.Severity
	}
	if (a.FixedVersion != "") != (b.FixedVersion != "") {
		return a.FixedVersion != ""
	}
	return a.Advisory.ID < b.Advisory.ID
}
