package detect

import (
	"slices"
	"strings"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
	"github.com/mamori-dev/mamori/rules/syscalls"
)

// Needs is what the sensor must capture for a ruleset's syscall rules.
type Needs struct {
	// Types are the event types the rules can match; nil with All set.
	Types []event.Type
	// All is set when some rule can match any event type.
	All bool
	// Env is set when a rule reads proc.env: exec events must carry the
	// environment.
	Env bool
	// DNS is set when a rule reads the names of addresses (fd.sip.name and
	// the like): the sensor must report the node's DNS responses.
	DNS bool
	// Reads says which successful read-only opens the rules can match,
	// Writes which successful opens for writing only (O_WRONLY),
	// ReadWrites which other opens that may write (O_RDWR, or O_RDONLY
	// with O_CREAT or O_TRUNC): the sensor reports only those the keys
	// say.
	Reads, Writes, ReadWrites PathKeys
	// Failed says which failed opens the rules can match (Falco's
	// open_file_failed); none unless a rule asks for them.
	Failed PathKeys
	// Sends and Recvs say which sends and receives on IPv4 and IPv6
	// sockets the rules can match.
	Sends, Recvs IOKeys
	// Removes, Renames and Mkdirs say which unlinks and rmdirs, renames
	// and mkdirs the rules can match, by their paths: the sensor reports
	// only those the keys say.
	Removes, Mkdirs PathKeys
	Renames         RenameKeys
	// Connects says which connects the rules can match.
	Connects ConnectKeys
	// Rules says, for every enabled and active syscall rule, what it
	// receives.
	Rules []RuleNeeds
}

// RuleNeeds is what one rule receives from the sensor.
type RuleNeeds struct {
	Rule *rules.Rule
	// Types are the evt.type values it can match that the sensor
	// delivers; nil with AllTypes.
	Types    []string
	AllTypes bool
	// Reads, Writes and Failed are the read-only, writing and failed
	// opens it can match, when it can match any.
	Reads, Writes, ReadWrites, Failed                           PathKeys
	MatchesReads, MatchesWrites, MatchesReadWrites, MatchesFail bool
	// Sends and Recvs are the sends and receives it can match.
	Sends, Recvs               IOKeys
	MatchesSends, MatchesRecvs bool
	// Removes, Renames and Mkdirs are the removes, renames and mkdirs it
	// can match.
	Removes, Mkdirs                               PathKeys
	Renames                                       RenameKeys
	MatchesRemoves, MatchesRenames, MatchesMkdirs bool
	// Connects are the connects it can match, when it can match any.
	Connects        ConnectKeys
	MatchesConnects bool
	// Names is set when it reads the names of addresses, which the
	// node's DNS responses give.
	Names bool
}

// NeedsOf works out what the enabled, active syscall rules of rs need.
func NeedsOf(rs *rules.Ruleset) Needs {
	var n Needs
	types, all := rs.EventTypes(syscalls.Source)
	n.All = all
	if !all {
		n.Types = syscalls.SensorTypes(types)
	}
	for _, r := range rs.Rules() {
		if !r.Enabled || !r.Active() || r.Source != syscalls.Source {
			continue
		}
		if slices.Contains(r.Fields, "proc.env") {
			n.Env = true
		}
		rn := RuleNeedsOf(r)
		n.DNS = n.DNS || rn.Names
		if rn.MatchesReads {
			n.Reads.Add(rn.Reads)
		}
		if rn.MatchesWrites {
			n.Writes.Add(rn.Writes)
		}
		if rn.MatchesReadWrites {
			n.ReadWrites.Add(rn.ReadWrites)
		}
		if rn.MatchesFail {
			n.Failed.Add(rn.Failed)
		}
		if rn.MatchesSends {
			n.Sends.Add(rn.Sends)
		}
		if rn.MatchesRecvs {
			n.Recvs.Add(rn.Recvs)
		}
		if rn.MatchesRemoves {
			n.Removes.Add(rn.Removes)
		}
		if rn.MatchesRenames {
			n.Renames.Add(rn.Renames)
		}
		if rn.MatchesMkdirs {
			n.Mkdirs.Add(rn.Mkdirs)
		}
		if rn.MatchesConnects {
			n.Connects.Add(rn.Connects)
		}
		n.Rules = append(n.Rules, rn)
	}
	n.Reads.sort()
	n.Writes.sort()
	n.ReadWrites.sort()
	n.Failed.sort()
	n.Sends.sort()
	n.Recvs.sort()
	n.Removes.sort()
	n.Renames.sort()
	n.Mkdirs.sort()
	n.Connects.sort()
	return n
}

// RuleNeedsOf works out what one syscall rule receives, whether or not it
// is enabled.
func RuleNeedsOf(r *rules.Rule) RuleNeeds {
	rn := RuleNeeds{Rule: r}
	rn.Names = slices.ContainsFunc(r.Fields, func(f string) bool {
		return f == "fd.sip.name" || f == "fd.cip.name" || f == "fd.lip.name" || f == "fd.rip.name"
	})
	ts, allTypes := r.EventTypes()
	rn.AllTypes = allTypes
	if !allTypes {
		for _, t := range ts {
			if _, ok := syscalls.SensorType(t); ok {
				rn.Types = append(rn.Types, t)
			}
		}
	}
	if keys, ok := openCoverage(r, readClass); ok {
		keys.sort()
		rn.Reads, rn.MatchesReads = keys, true
	}
	if keys, ok := openCoverage(r, writeClass); ok {
		keys.sort()
		rn.Writes, rn.MatchesWrites = keys, true
	}
	if keys, ok := openCoverage(r, readWriteClass); ok {
		keys.sort()
		rn.ReadWrites, rn.MatchesReadWrites = keys, true
	}
	if keys, ok := openCoverage(r, failedClass); ok {
		keys.sort()
		rn.Failed, rn.MatchesFail = keys, true
	}
	if keys, ok := ioCoverage(r, sendClass); ok {
		keys.sort()
		rn.Sends, rn.MatchesSends = keys, true
	}
	if keys, ok := ioCoverage(r, recvClass); ok {
		keys.sort()
		rn.Recvs, rn.MatchesRecvs = keys, true
	}
	if keys, ok := openCoverage(r, removeClass); ok {
		keys.sort()
		rn.Removes, rn.MatchesRemoves = keys, true
	}
	rn.Renames, rn.MatchesRenames = renameCoverage(r)
	if keys, ok := openCoverage(r, mkdirClass); ok {
		keys.sort()
		rn.Mkdirs, rn.MatchesMkdirs = keys, true
	}
	rn.Connects, rn.MatchesConnects = connectCoverage(r)
	return rn
}

// String says what the rule receives: its event types, and which opens,
// sends and receives, removes, renames and mkdirs when it can match them.
func (rn RuleNeeds) String() string {
	var b strings.Builder
	if rn.AllTypes {
		b.WriteString("every event type")
	} else {
		b.WriteString(strings.Join(rn.Types, ", "))
	}
	var opens []string
	if rn.MatchesReads {
		opens = append(opens, "read-only opens "+rn.Reads.describe())
	}
	if rn.MatchesWrites {
		opens = append(opens, "opens for writing "+rn.Writes.describe())
	}
	if rn.MatchesReadWrites {
		opens = append(opens, "opens for reading and writing "+rn.ReadWrites.describe())
	}
	if rn.MatchesFail {
		opens = append(opens, "failed opens "+rn.Failed.describe())
	}
	if rn.MatchesSends {
		opens = append(opens, "sends "+rn.Sends.String())
	}
	if rn.MatchesRecvs {
		opens = append(opens, "receives "+rn.Recvs.String())
	}
	if rn.MatchesRemoves {
		opens = append(opens, "removes "+rn.Removes.describe())
	}
	if rn.MatchesRenames {
		opens = append(opens, "renames "+rn.Renames.String())
	}
	if rn.MatchesMkdirs {
		opens = append(opens, "mkdirs "+rn.Mkdirs.describe())
	}
	if rn.MatchesConnects {
		opens = append(opens, "connects "+rn.Connects.String())
	}
	if rn.Names {
		opens = append(opens, "the names of addresses from the node's DNS responses")
	}
	if len(opens) > 0 {
		b.WriteString(" (" + strings.Join(opens, "; ") + ")")
	}
	return b.String()
}

func (k PathKeys) describe() string {
	if k.All {
		return "all"
	}
	return k.String()
}
