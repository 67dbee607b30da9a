package rules

import (
	"net/netip"
	"testing"
)

// noMatchEvent is an nginx worker opening a web page for reading: an
// ordinary event that no upstream rule should match.
func noMatchEvent(cat *testCatalog) *testEvent {
	vals := map[string]any{}
	strs := map[string]string{
		"evt.type": "openat", "evt.res": "SUCCESS", "evt.dir": "<", "evt.arg.flags": "O_RDONLY|O_CLOEXEC",
		"proc.name": "nginx", "proc.pname": "nginx", "proc.exe": "/usr/sbin/nginx", "proc.exepath": "/usr/sbin/nginx",
		"proc.pexe": "/usr/sbin/nginx", "proc.pexepath": "/usr/sbin/nginx", "proc.cmdline": "nginx: worker process",
		"proc.pcmdline": "nginx: master process /usr/sbin/nginx -g daemon off;", "proc.args": "",
		"proc.cwd": "/", "proc.sname": "nginx", "proc.env": "PATH=/usr/sbin:/usr/bin", "user.name": "www-data",
		"user.loginname": "", "group.name": "www-data", "fd.name": "/var/www/html/index.html",
		"fd.nameraw": "/var/www/html/index.html", "fd.directory": "/var/www/html", "fd.filename": "index.html",
		"fd.typechar": "f", "fd.type": "file", "fd.l4proto": "", "fd.sockfamily": "", "container.id": "3f2a9c1b7d4e",
		"container.image.repository": "docker.io/library/nginx", "container.name": "web", "k8s.ns.name": "default",
		"k8s.pod.name": "web-0", "thread.cap_permitted": "", "thread.cap_effective": "", "syscall.type": "openat",
		"evt.hostname": "node-1",
	}
	for _, f := range cat.fields {
		switch f.Type {
		case TypeString, TypeBytes:
			if f.Arg != NoArg {
				vals[f.Name] = map[string]string{}
				continue
			}
			s, ok := strs[f.Name]
			if !ok {
				s = "nginx"
			}
			vals[f.Name] = s
		case TypeNumber:
			vals[f.Name] = 7
		case TypeBool:
			vals[f.Name] = false
		case TypeIP:
			vals[f.Name] = netip.MustParseAddr("203.0.113.7")
		case TypeStringList:
			vals[f.Name] = []string{}
		}
	}
	for name, v := range map[string]any{
		"proc.aname": map[string]string{"1": "nginx", "2": "containerd-shim", "3": "systemd"},
		"user.uid":   33, "user.loginuid": -1, "proc.vpid": 29, "fd.num": 12, "evt.rawres": 12,
		"evt.is_open_read": true,
	} {
		if _, ok := cat.slot[name]; ok {
			vals[name] = v
		}
	}
	return cat.event(vals)
}

func loadFalcoRules(b testing.TB) (*Ruleset, *testCatalog) {
	files := corpusFiles(b, "falco_rules.yaml")
	cat := syscallCatalog(b, files)
	rs, err := Load(Config{Catalogs: []Catalog{cat}, Plugins: upstreamPlugins}, files...)
	if err != nil {
		b.Fatal(err)
	}
	return rs, cat
}

func TestNoMatchEvent(t *testing.T) {
	rs, cat := loadFalcoRules(t)
	evt := noMatchEvent(cat)
	for _, r := range rs.Rules() {
		if r.Eval(evt) {
			t.Errorf("rule %q matches the no-match event", r.Name)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		for _, r := range rs.Rules() {
			r.Eval(evt)
		}
	}); n != 0 {
		t.Errorf("evaluating falco_rules.yaml allocates %v times per event, want 0", n)
	}
}

// BenchmarkEvalNoMatch evaluates every rule of falco_rules.yaml, without
// the event-type index, against an event that matches none of them.
func BenchmarkEvalNoMatch(b *testing.B) {
	rs, cat := loadFalcoRules(b)
	evt := noMatchEvent(cat)
	rules := rs.Rules()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, r := range rules {
			if r.Eval(evt) {
				b.Fatal(r.Name)
			}
		}
	}
}

// BenchmarkMatchNoMatch is the dispatching path: only the rules whose
// event types include openat are evaluated.
func BenchmarkMatchNoMatch(b *testing.B) {
	rs, cat := loadFalcoRules(b)
	evt := noMatchEvent(cat)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if r := rs.Match("syscall", "openat", evt); r != nil {
			b.Fatal(r.Name)
		}
	}
}
