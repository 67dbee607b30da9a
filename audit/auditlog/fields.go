package auditlog

import (
	"time"

	"github.com/mamori-dev/mamori/rules"
)

// Clock is what the generic fields read from a record of a source.
type Clock struct {
	// Source is the Falco event source, for evt.source.
	Source string
	// Plugin is the Falco plugin that reads the source, for evt.pluginname.
	Plugin string
	// Num is the record's evt.num: its position among those read, from 1.
	Num func(evt any) uint64
	// Time is the record's time; zero when it has none.
	Time func(evt any) time.Time
	// Object is the record's parsed JSON object, for json.value and
	// json.obj.
	Object func(evt any) any
	// Info is evt.plugininfo, a one-line summary; nil when the plugin
	// gives none.
	Info func(evt any) (string, bool)
}

// Str is a string field computed by fn.
func Str(name, desc string, fn func(evt any) (string, bool)) rules.Field {
	return rules.Field{Name: name, Type: rules.TypeString, Desc: desc,
		ExtractString: func(evt any, _ rules.Arg) (string, bool) { return fn(evt) }}
}

// Num is a number field computed by fn.
func Num(name, desc string, fn func(evt any) (int64, bool)) rules.Field {
	return rules.Field{Name: name, Type: rules.TypeNumber, Desc: desc,
		ExtractNumber: func(evt any, _ rules.Arg) (int64, bool) { return fn(evt) }}
}

// Unprovided is a field Falco has that mamori cannot feed from a record.
func Unprovided(name, why string) rules.Field {
	return rules.Field{Name: name, Type: rules.TypeString, Desc: "[not provided: " + why + "]"}
}

func (c Clock) rawTime(evt any) (int64, bool) {
	t := c.Time(evt)
	return t.UnixNano(), !t.IsZero()
}

// JSONFields are the Falco json plugin's fields under prefix, "json" or
// its older alias "jevt": value[<RFC 6901 pointer>], obj and rawtime.
func (c Clock) JSONFields(prefix string) []rules.Field {
	return []rules.Field{
		{Name: prefix + ".value", Type: rules.TypeString, Arg: rules.KeyArg, ArgRequired: true,
			Desc: "the value at an RFC 6901 JSON pointer: a string as itself, anything else as JSON",
			ExtractString: func(evt any, a rules.Arg) (string, bool) {
				v, ok := Pointer(c.Object(evt), a.Key)
				if !ok {
					return "", false
				}
				return Text(v), true
			}},
		Str(prefix+".obj", "the whole record as JSON, keys sorted", func(evt any) (string, bool) { return Text(c.Object(evt)), true }),
		Num(prefix+".rawtime", "the record's time in nanoseconds since the epoch", c.rawTime),
	}
}

// EvtFields are the generic evt.* fields Falco gives plugin events.
func (c Clock) EvtFields() []rules.Field {
	timeStr := func(name, desc, layout string) rules.Field {
		return Str(name, desc, func(evt any) (string, bool) {
			t := c.Time(evt)
			return t.UTC().Format(layout), !t.IsZero()
		})
	}
	timeNum := func(name, desc string, div int64) rules.Field {
		return Num(name, desc, func(evt any) (int64, bool) {
			n, ok := c.rawTime(evt)
			return n / div, ok
		})
	}
	info := Unprovided("evt.plugininfo", "the "+c.Plugin+" plugin gives no summary field")
	if c.Info != nil {
		info = Str("evt.plugininfo", "a one-line summary of the record", c.Info)
	}
	return []rules.Field{
		Num("evt.num", "the record's position among those read, from 1", func(evt any) (int64, bool) { return int64(c.Num(evt)), true }),
		timeStr("evt.time", "the record's time of day, with nanoseconds", "15:04:05.000000000"),
		timeStr("evt.time.s", "the record's time of day", "15:04:05"),
		timeStr("evt.time.iso8601", "the record's time in ISO 8601", "2006-01-02T15:04:05.000000000Z"),
		timeStr("evt.datetime", "the record's date and time", "2006-01-02 15:04:05.000000000"),
		timeStr("evt.datetime.s", "the record's date and time, to the second", "2006-01-02 15:04:05"),
		timeNum("evt.rawtime", "the record's time in nanoseconds since the epoch", 1),
		timeNum("evt.rawtime.s", "the record's time in seconds since the epoch", 1e9),
		Num("evt.rawtime.ns", "the nanoseconds of the record's time", func(evt any) (int64, bool) {
			n, ok := c.rawTime(evt)
			return n % 1e9, ok
		}),
		info,
		Str("evt.pluginname", "the plugin that reads the source: "+c.Plugin, func(any) (string, bool) { return c.Plugin, true }),
		Str("evt.source", "the event source: "+c.Source, func(any) (string, bool) { return c.Source, true }),
		Unprovided("evt.hostname", "records are read from logs, not on a host"),
		Unprovided("evt.reltime", "a record has no capture start to be relative to"),
	}
}
