package output

import (
	"encoding/base64"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/mamori-dev/mamori/event"
)

// AppendJSON appends e as encoding/json would marshal it, byte for byte
// (TestAppendJSONMatchesEncodingJSON holds it to that), without reflection:
// with --events the agent serialises every event, and encoding/json spent
// most of the agent's CPU there, on the ancestors and the times.
func AppendJSON(b []byte, e *event.Event) []byte { return appendEvent(b, e, nil) }

// appendEvent is AppendJSON, with the processes' members taken from m
// where it remembers them (m may be nil).
func appendEvent(b []byte, e *event.Event, m *processMemo) []byte {
	o := obj{b: append(b, '{')}
	o.str("kind", e.Kind, false)
	o.time("time", e.Time, false)
	o.str("node", e.Node, false)
	o.str("cluster", e.Cluster, true)
	o.str("event", string(e.Type), false)
	o.str("syscall", e.Syscall, true)
	o.int("result", e.Result, false)
	o.key("process")
	o.b = appendProcess(o.b, &e.Process, m, false)
	o.key("container")
	if e.Container == nil {
		o.b = append(o.b, "null"...)
	} else {
		o.b = appendContainer(o.b, e.Container)
	}
	if f := e.File; f != nil {
		o.key("file")
		fo := obj{b: append(o.b, '{')}
		fo.str("path", f.Path, false)
		fo.str("path_raw", f.PathRaw, true)
		fo.str("path_arg", f.PathArg, true)
		fo.str("flags", f.Flags, true)
		fo.uint("mode", uint64(f.Mode), true)
		fo.str("target", f.Target, true)
		fo.int("fd", int64(f.FD), true)
		fo.str("name", f.Name, true)
		fo.bool("created", f.Created, true)
		fo.str("layer", f.Layer, true)
		fo.uint("inode", f.Inode, true)
		fo.uint("device", uint64(f.Device), true)
		o.b = append(fo.b, '}')
	}
	if n := e.Network; n != nil {
		o.key("network")
		no := obj{b: append(o.b, '{')}
		no.str("family", n.Family, false)
		no.str("protocol", n.Protocol, false)
		no.str("type", n.Type, true)
		no.str("src_ip", n.SrcIP, true)
		no.uint("src_port", uint64(n.SrcPort), true)
		no.str("dst_ip", n.DstIP, true)
		no.uint("dst_port", uint64(n.DstPort), true)
		no.str("path", n.Path, true)
		no.int("fd", int64(n.FD), true)
		no.int("backlog", int64(n.Backlog), true)
		no.bool("connected", n.Connected, true)
		no.bool("peer_changed", n.PeerChanged, true)
		no.int("size", n.Size, true)
		if len(n.Data) > 0 {
			no.key("data")
			no.b = append(no.b, '"')
			no.b = base64.StdEncoding.AppendEncode(no.b, n.Data)
			no.b = append(no.b, '"')
		}
		o.b = append(no.b, '}')
	}
	if a := e.Args; a != nil {
		o.key("args")
		ao := obj{b: append(o.b, '{')}
		ao.uintPtr("uid", a.UID)
		ao.uintPtr("euid", a.EUID)
		ao.uintPtr("suid", a.SUID)
		ao.uintPtr("gid", a.GID)
		ao.uintPtr("egid", a.EGID)
		ao.uintPtr("sgid", a.SGID)
		ao.uint64Ptr("cap_effective", a.CapEffective)
		ao.uint64Ptr("cap_permitted", a.CapPermitted)
		ao.uint64Ptr("cap_inheritable", a.CapInheritable)
		ao.str("request", a.Request, true)
		ao.uint("target_pid", uint64(a.TargetPID), true)
		ao.str("source", a.Source, true)
		ao.str("target", a.Target, true)
		ao.str("fstype", a.FSType, true)
		ao.str("flags", a.Flags, true)
		ao.str("module", a.Module, true)
		ao.int("fd", int64(a.FD), true)
		ao.int("new_fd", int64(a.NewFD), true)
		o.b = append(ao.b, '}')
	}
	if c := e.Cgroup; c != nil {
		o.key("cgroup")
		co := obj{b: append(o.b, '{')}
		co.uint("id", c.ID, false)
		co.str("path", c.Path, false)
		co.uint("pid", uint64(c.PID), false)
		co.uint("pid_ns", uint64(c.PidNS), true)
		co.uint("mnt_ns", uint64(c.MntNS), true)
		o.b = append(co.b, '}')
	}
	if d := e.DNS; d != nil {
		o.key("dns")
		do := obj{b: append(o.b, '{')}
		do.str("question", d.Question, false)
		do.str("type", d.Type, true)
		do.str("rcode", d.RCode, true)
		if len(d.Answers) > 0 {
			do.key("answers")
			do.b = append(do.b, '[')
			for i, a := range d.Answers {
				if i > 0 {
					do.b = append(do.b, ',')
				}
				ao := obj{b: append(do.b, '{')}
				ao.str("name", a.Name, false)
				ao.str("type", a.Type, false)
				ao.str("data", a.Data, false)
				ao.uint("ttl", uint64(a.TTL), false)
				do.b = append(ao.b, '}')
			}
			do.b = append(do.b, ']')
		}
		o.b = append(do.b, '}')
	}
	return append(o.b, '}')
}

// appendProcess writes p and its ancestors, each process's members from m
// where it remembers them (m may be nil); ancestor says p is one.
func appendProcess(b []byte, p *event.Process, m *processMemo, ancestor bool) []byte {
	if m != nil {
		b = m.appendMembers(b, p, ancestor)
	} else {
		b = appendMembers(b, p)
	}
	if len(p.Ancestors) > 0 {
		o := obj{b: b, more: true} // pid is always written
		o.key("ancestors")
		o.b = append(o.b, '[')
		for i := range p.Ancestors {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			o.b = appendProcess(o.b, &p.Ancestors[i], m, true)
		}
		b = append(o.b, ']')
	}
	return append(b, '}')
}

// appendMembers writes the opening brace and every member of p but its
// ancestors: what processMemo keeps of it.
func appendMembers(b []byte, p *event.Process) []byte {
	o := obj{b: append(b, '{')}
	o.uint("pid", uint64(p.PID), false)
	o.uint("vpid", uint64(p.VPID), true)
	o.uint("tid", uint64(p.TID), true)
	o.uint("ppid", uint64(p.PPID), false)
	o.str("id", p.ID, true)
	o.str("parent_id", p.ParentID, true)
	o.str("name", p.Name, false)
	o.str("exe", p.Exe, false)
	o.key("args")
	if p.Args == nil {
		o.b = append(o.b, "null"...)
	} else {
		o.b = append(o.b, '[')
		for i, a := range p.Args {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			o.b = appendString(o.b, a)
		}
		o.b = append(o.b, ']')
	}
	o.bool("args_truncated", p.ArgsTruncated, true)
	if len(p.Env) > 0 {
		o.key("env")
		o.b = append(o.b, '[')
		for i, v := range p.Env {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			o.b = appendString(o.b, v)
		}
		o.b = append(o.b, ']')
	}
	o.bool("env_truncated", p.EnvTruncated, true)
	o.str("cwd", p.Cwd, false)
	o.uint("uid", uint64(p.UID), false)
	o.uint("gid", uint64(p.GID), false)
	o.uint("euid", uint64(p.EUID), false)
	o.uint("egid", uint64(p.EGID), false)
	o.int("loginuid", p.LoginUID, false)
	o.uint("tty", uint64(p.TTY), false)
	o.uint("sid", uint64(p.SID), true)
	o.uint("pgid", uint64(p.PGID), true)
	o.uint("pid_ns", uint64(p.PidNS), true)
	o.uint("mnt_ns", uint64(p.MntNS), true)
	o.uint("cap_effective", p.CapEffective, true)
	o.uint("cap_permitted", p.CapPermitted, true)
	o.uint("cap_inheritable", p.CapInheritable, true)
	o.time("start_time", p.StartTime, true)
	o.uint("exe_inode", p.ExeInode, true)
	o.uint("exe_device", uint64(p.ExeDevice), true)
	o.time("exe_mtime", p.ExeMtime, true)
	o.time("exe_ctime", p.ExeCtime, true)
	o.bool("exe_upper_layer", p.ExeUpperLayer, false)
	o.bool("exe_from_memfd", p.ExeFromMemfd, false)
	o.bool("exe_deleted", p.ExeDeleted, true)
	o.bool("exe_lower_layer", p.ExeLowerLayer, true)
	o.bool("exe_writable", p.ExeWritable, true)
	if p.ExitCode != nil {
		o.int("exit_code", int64(*p.ExitCode), false)
	}
	if p.ExitSignal != nil {
		o.int("exit_signal", int64(*p.ExitSignal), false)
	}
	o.uint("child_pid", uint64(p.ChildPID), true)
	o.bool("child_is_thread", p.ChildIsThread, true)
	return o.b
}

func appendContainer(b []byte, c *event.Container) []byte {
	o := obj{b: append(b, '{')}
	o.str("id", c.ID, false)
	o.str("name", c.Name, true)
	o.str("image", c.Image, true)
	o.str("image_id", c.ImageID, true)
	o.str("image_digest", c.ImageDigest, true)
	o.str("runtime", c.Runtime, true)
	o.bool("privileged", c.Privileged, true)
	o.time("created", c.Created, true)
	o.labels("labels", c.Labels)
	if p := c.Pod; p != nil {
		o.key("pod")
		po := obj{b: append(o.b, '{')}
		po.str("name", p.Name, false)
		po.str("namespace", p.Namespace, false)
		po.str("container", p.Container, true)
		po.str("uid", p.UID, true)
		po.labels("labels", p.Labels)
		if w := p.Owner; w != nil {
			po.key("owner")
			wo := obj{b: append(po.b, '{')}
			wo.str("kind", w.Kind, false)
			wo.str("name", w.Name, false)
			po.b = append(wo.b, '}')
		}
		o.b = append(po.b, '}')
	}
	if len(c.Mounts) > 0 {
		o.key("mounts")
		o.b = append(o.b, '[')
		for i, m := range c.Mounts {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			mo := obj{b: append(o.b, '{')}
			mo.str("source", m.Source, false)
			mo.str("destination", m.Destination, false)
			mo.str("mode", m.Mode, true)
			mo.bool("rw", m.RW, false)
			mo.str("propagation", m.Propagation, true)
			o.b = append(mo.b, '}')
		}
		o.b = append(o.b, ']')
	}
	return append(o.b, '}')
}

// obj writes the members of one JSON object, commas included.
type obj struct {
	b    []byte
	more bool
	// raw leaves <, > and & unescaped, as an Encoder with
	// SetEscapeHTML(false) does.
	raw bool
	// dataKeys says the members' names come from data (labels, output
	// fields) and are quoted; otherwise they are names written in this
	// package, which need no escaping, and are copied as they are (a
	// process has some 40 of them).
	dataKeys bool
}

func (o *obj) key(k string) {
	if o.more {
		o.b = append(o.b, ',')
	}
	o.more = true
	if o.dataKeys {
		o.b = appendQuoted(o.b, k, !o.raw)
	} else {
		o.b = append(o.b, '"')
		o.b = append(o.b, k...)
		o.b = append(o.b, '"')
	}
	o.b = append(o.b, ':')
}

// labels writes a map of strings with its keys in order, as
// encoding/json does; an empty one is left out.
func (o *obj) labels(k string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	o.key(k)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	lo := obj{b: append(o.b, '{'), raw: o.raw, dataKeys: true}
	for _, k := range keys {
		lo.str(k, m[k], false)
	}
	o.b = append(lo.b, '}')
}

func (o *obj) str(k, v string, omitEmpty bool) {
	if omitEmpty && v == "" {
		return
	}
	o.key(k)
	o.b = appendQuoted(o.b, v, !o.raw)
}

func (o *obj) uint(k string, v uint64, omitEmpty bool) {
	if omitEmpty && v == 0 {
		return
	}
	o.key(k)
	o.b = strconv.AppendUint(o.b, v, 10)
}

func (o *obj) int(k string, v int64, omitEmpty bool) {
	if omitEmpty && v == 0 {
		return
	}
	o.key(k)
	o.b = strconv.AppendInt(o.b, v, 10)
}

func (o *obj) bool(k string, v, omitEmpty bool) {
	if omitEmpty && !v {
		return
	}
	o.key(k)
	o.b = strconv.AppendBool(o.b, v)
}

func (o *obj) uintPtr(k string, v *uint32) {
	if v != nil {
		o.uint(k, uint64(*v), false)
	}
}

func (o *obj) uint64Ptr(k string, v *uint64) {
	if v != nil {
		o.uint(k, *v, false)
	}
}

// time writes t as time.Time.MarshalJSON does; omitZero follows `omitzero`.
func (o *obj) time(k string, t time.Time, omitZero bool) {
	if omitZero && t.IsZero() {
		return
	}
	o.key(k)
	o.b = append(o.b, '"')
	o.b = t.AppendFormat(o.b, time.RFC3339Nano)
	o.b = append(o.b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does by default: HTML-sensitive
// characters and U+2028/U+2029 escaped, invalid UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte { return appendQuoted(b, s, true) }

// plain[html][c] says that byte c stands for itself inside a JSON string:
// printable ASCII but " and \ (and, with html, <, > and &).
var plain = func() (t [2][256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[0][c] = c != '"' && c != '\\'
		t[1][c] = t[0][c] && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendQuoted quotes s as encoding/json does, escaping <, > and & only
// with html (an Encoder's SetEscapeHTML).
func appendQuoted(b []byte, s string, html bool) []byte {
	safe := &plain[0]
	if html {
		safe = &plain[1]
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if safe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
