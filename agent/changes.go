package agent

import (
	"log/slog"
	"slices"

	"github.com/mamori-dev/mamori/detect"
	"github.com/mamori-dev/mamori/sensor"
)

// NarrowChanges narrows the removes (unlink, unlinkat, rmdir), renames
// and mkdirs the sensor reports, opens.Changes, to those the keys the
// rules need (detect.NeedsOf) match; with narrow false (--events,
// --event-types) every one is reported. Their keys share the kernel's
// four substrings with the opens' keys, which opens must already hold:
// when they would be more, every one is reported, and the log says so.
// It returns what the agent's "rules loaded" log line says of them.
// With policies, the agent adds every one in a container (New).
func NarrowChanges(opens *sensor.OpenFilter, needs detect.Needs, narrow bool, log *slog.Logger) []any {
	opens.Changes = nil
	if !narrow {
		return []any{"all_changes", true}
	}
	for _, rn := range needs.Rules {
		for _, k := range []struct {
			what string
			all  bool
		}{
			{"removes (unlink, unlinkat, rmdir)", rn.MatchesRemoves && rn.Removes.All},
			{"renames", rn.MatchesRenames && rn.Renames.All()},
			{"mkdirs", rn.MatchesMkdirs && rn.Mkdirs.All},
		} {
			if k.all {
				log.Info("rule matches "+k.what+" without a path, process name or container in its condition: every one is captured", "rule", rn.Rule.Name)
			}
		}
	}
	c := &sensor.ChangeFilter{Removes: changeKeys(needs.Removes), RenamesFrom: changeKeys(needs.Renames.From),
		RenamesTo: changeKeys(needs.Renames.To), Mkdirs: changeKeys(needs.Mkdirs)}
	kinds := []sensor.ChangeKeys{c.Removes, c.RenamesFrom, c.RenamesTo, c.Mkdirs}
	substrings := slices.Clone(opens.Contains)
	if w := opens.Writes; w != nil {
		substrings = append(append(substrings, w.Contains...), w.ReadWrite.Contains...)
	}
	var prefixes, dirs, endings, processes int
	var own []string // the changes' substrings
	whole, inContainers := false, false
	for _, k := range kinds {
		if k.All {
			whole = true
			continue
		}
		own = append(own, k.Contains...)
		prefixes += len(k.Prefixes)
		dirs += len(k.Dirs)
		endings += len(k.Suffixes)
		processes += len(k.Comms)
		inContainers = inContainers || k.InContainers
	}
	substrings = append(substrings, own...)
	slices.Sort(substrings)
	slices.Sort(own)
	if n := len(slices.Compact(substrings)); n > sensor.MaxOpenContains {
		log.Info("the rules look for more substrings of paths than the sensor's filter holds: every remove, rename and mkdir is captured", "substrings", n)
		return []any{"all_changes", true}
	}
	opens.Changes = c
	return []any{"all_changes", false, "some_changes_whole", whole, "change_prefixes", prefixes, "change_dirs", dirs,
		"change_endings", endings, "change_substrings", len(slices.Compact(own)), "change_processes", processes,
		"changes_in_containers", inContainers}
}

// changeKeys are the kernel's keys for one kind of call on paths.
func changeKeys(k detect.PathKeys) sensor.ChangeKeys {
	return sensor.ChangeKeys{All: k.All, InContainers: k.Containers, Prefixes: k.Prefixes, Dirs: k.Dirs,
		Suffixes: k.Suffixes, Contains: k.Contains, Comms: k.Comms}
}
