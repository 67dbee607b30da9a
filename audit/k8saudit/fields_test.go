package k8saudit

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mamori-dev/mamori/event"
	"github.com/mamori-dev/mamori/rules"
)

// fieldsMD lists the k8saudit plugin's fields from FIELDS.md: name, type
// and argument, with the per-container-list mirrors the section names.
func fieldsMD(t *testing.T) map[string][2]string {
	f, err := os.Open(corpora(t, "falco", "FIELDS.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `(ka\\.[^`]+)` \\| ([^|]+)\\|([^|]*)\\|")
	out := map[string][2]string{}
	in := false
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = strings.Contains(line, "k8saudit plugin")
			continue
		}
		if m := row.FindStringSubmatch(line); in && m != nil {
			out[m[1]] = [2]string{strings.TrimSpace(m[2]), strings.TrimSpace(m[3])}
		}
	}
	mirrors := []string{"name", "image", "image.repository", "command", "args", "privileged", "allow_privilege_escalation",
		"read_only_fs", "run_as_user", "eff_run_as_user", "run_as_group", "eff_run_as_group", "proc_mount", "add_capabilities"}
	for _, list := range []string{"initContainers", "ephemeralContainers"} {
		names := mirrors
		if list == "initContainers" {
			names = append(names, "host_port")
		}
		for _, n := range names {
			out["ka.req.pod."+list+"."+n] = out["ka.req.pod.containers."+n]
		}
	}
	return out
}

// TestCatalogCoversFIELDSmd checks that every ka.* field of FIELDS.md is
// provided with its type and argument, and that every field of the
// catalogue compiles in a condition and an output.
func TestCatalogCoversFIELDSmd(t *testing.T) {
	want := fieldsMD(t)
	if len(want) < 71+14+15 {
		t.Fatalf("read only %d fields from FIELDS.md", len(want))
	}
	byName := map[string]rules.Field{}
	for _, f := range NewCatalog().Fields() {
		byName[f.Name] = f
	}
	for name, ta := range want {
		f, ok := byName[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		typ := rules.TypeString
		if ta[0] == "string list" {
			typ = rules.TypeStringList
		}
		arg := rules.NoArg
		switch {
		case strings.Contains(ta[1], "index"):
			arg = rules.IndexArg
		case strings.Contains(ta[1], "key"):
			arg = rules.KeyArg
		}
		if f.Type != typ || f.Arg != arg || f.ArgRequired != strings.Contains(ta[1], "required") {
			t.Errorf("%s: type %v arg %v required %v; FIELDS.md says %q", name, f.Type, f.Arg, f.ArgRequired, ta)
		}
		if f.ExtractString == nil && f.ExtractStrings == nil {
			t.Errorf("%s not provided", name)
		}
	}
	// Every field compiles in a condition and an output.
	var b strings.Builder
	for _, f := range NewCatalog().Fields() {
		ref := f.Name
		switch {
		case f.ArgRequired && f.Arg == rules.KeyArg:
			ref += "[/x]"
		case f.Arg == rules.IndexArg:
			ref += "[0]"
		}
		fmt.Fprintf(&b, "- rule: r %s\n  desc: d\n  condition: %s exists\n  output: \"%%%s\"\n  priority: INFO\n  source: k8s_audit\n", f.Name, ref, ref)
	}
	rs, err := rules.Load(rules.Config{Catalogs: []rules.Catalog{NewCatalog()}}, rules.File{Name: "all", Data: []byte(b.String())})
	if err != nil {
		t.Fatal(err)
	}
	unprovided := map[string]bool{"r evt.hostname": true, "r evt.reltime": true}
	for _, r := range rs.Rules() {
		if !r.Active() && !unprovided[r.Name] {
			t.Errorf("%s: %s", r.Name, r.Inactive)
		}
	}
}

// fieldOf returns the value of a field, with arg in brackets if not "",
// for an event given as JSON: a string, a []string, an int64, or nil.
func fieldOf(t *testing.T, e *Event, name, arg string) any {
	t.Helper()
	for _, f := range NewCatalog().Fields() {
		if f.Name != name {
			continue
		}
		a := rules.Arg{Key: arg, Set: arg != ""}
		a.Index, _ = strconv.Atoi(arg)
		switch {
		case f.ExtractString != nil:
			if s, ok := f.ExtractString(e, a); ok {
				return s
			}
		case f.ExtractStrings != nil:
			if l, ok := f.ExtractStrings(e, a); ok {
				return l
			}
		case f.ExtractNumber != nil:
			if n, ok := f.ExtractNumber(e, a); ok {
				return n
			}
		}
		return nil
	}
	t.Fatalf("no field %s", name)
	return nil
}

// eventOf parses one event.
func eventOf(t *testing.T, js string) *Event {
	t.Helper()
	var got *Event
	var rd Reader
	rd.Parse("test", []byte(js), func(e *Event) { got = e }, func(e *Error) { t.Fatal(e) })
	if got == nil {
		t.Fatal("no event")
	}
	return got
}

// traceEvent reads the first event of a Falco trace file.
func traceEvent(t *testing.T, name string) *Event {
	t.Helper()
	var got *Event
	var rd Reader
	rd.ReadFile(corpora(t, "k8saudit", "falco-test-trace-files", "trace_files", name), func(e *Event) {
		if got == nil {
			got = e
		}
	}, func(e *Error) { t.Fatal(e) })
	return got
}

// TestFieldValues checks fields on Falco's trace files and, for the
// fields where mamori departs from the plugin's bugs, on events written
// here to show the difference.
func TestFieldValues(t *testing.T) {
	pod := `{"kind":"Event","auditID":"a","stageTimestamp":"2024-05-01T10:00:00.5Z","sourceIPs":["10.0.0.7","10.0.0.1"],
	  "objectRef":{"resource":"pods","namespace":"prod","name":"web"},"verb":"create",
	  "requestObject":{"spec":{"hostNetwork":true,"securityContext":{"runAsUser":1000},
	    "containers":[
	      {"name":"app","image":"registry.example:5000/team/app:1.2@sha256:abc","ports":[{"containerPort":8080}],
	       "securityContext":{"runAsUser":0,"capabilities":{"add":["NET_ADMIN","SYS_TIME"]}}},
	      {"name":"side","image":"busybox","command":["sh","-c","sleep 1"],"securityContext":{"privileged":true}}],
	    "initContainers":[{"name":"init","image":"alpine:3","ports":[{"containerPort":53,"hostPort":5353}]}],
	    "volumes":[{"name":"a","hostPath":{"path":"/etc/kubernetes"}},{"name":"b","secret":{"secretName":"s"}}]}}}`
	e := eventOf(t, pod)
	for _, tt := range []struct {
		field, arg string
		want       any
	}{
		{"ka.sourceips", "", []string{"10.0.0.7", "10.0.0.1"}}, // upstream reads requestObject.rules[*].sourceIPs
		{"ka.sourceips", "1", []string{"10.0.0.1"}},
		{"ka.req.pod.containers.image.repository", "", []string{"registry.example:5000/team/app", "busybox"}}, // upstream: "registry.example"
		{"ka.req.container.image.repository", "", "registry.example:5000/team/app"},
		{"ka.req.pod.containers.eff_run_as_user", "", []string{"0", "1000"}}, // upstream: 0 and 0 (reads no securityContext)
		{"ka.req.pod.containers.run_as_user", "", []string{"0"}},
		{"ka.req.pod.containers.privileged", "", []string{"true"}},
		{"ka.req.pod.containers.privileged", "0", []string(nil)},
		{"ka.req.pod.containers.privileged", "1", []string{"true"}},
		{"ka.req.container.privileged", "", "true"},
		{"ka.req.pod.containers.command", "", []string{"sh -c sleep 1"}},
		{"ka.req.pod.containers.add_capabilities", "", []string{"NET_ADMIN", "SYS_TIME"}},
		{"ka.req.pod.containers.host_port", "", []string{"8080"}}, // hostNetwork: the container port is the host's
		{"ka.req.pod.initContainers.host_port", "", []string{"5353"}},
		{"ka.req.pod.initContainers.image.repository", "", []string{"alpine"}},
		{"ka.req.pod.ephemeralContainers.image", "", nil},
		{"ka.req.pod.volumes.hostpath", "", []string{"/etc/kubernetes"}},
		{"ka.req.pod.volumes.volume_type", "", []string{"hostPath", "secret"}},
		{"ka.req.volume.hostpath", "/etc*", "true"},
		{"ka.req.volume.hostpath", "/etc", "false"},
		{"ka.req.pod.host_network", "", "true"},
		{"ka.req.pod.run_as_user", "", "1000"},
		{"jevt.value", "/requestObject/spec/containers/1/name", "side"},
		{"jevt.rawtime", "", int64(1714557600500000000)},
		{"evt.time.iso8601", "", "2024-05-01T10:00:00.500000000Z"},
		{"evt.num", "", int64(1)},
		{"ka.target.pod.name", "", nil},
	} {
		got := fieldOf(t, e, tt.field, tt.arg)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("%s[%s] = %#v, want %#v", tt.field, tt.arg, got, tt.want)
		}
	}

	for _, tt := range []struct {
		trace, field, arg string
		want              any
	}{
		{"exec_pod.json", "ka.uri.param", "command", "bash"},
		{"exec_pod.json", "ka.uri.param", "container", "nginx1"},
		{"exec_pod.json", "ka.target.subresource", "", "exec"},
		{"exec_pod.json", "ka.response.code", "", "101"},
		{"exec_pod.json", "ka.user.groups", "", []string{"system:masters", "system:authenticated"}},
		{"exec_pod.json", "ka.sourceips", "", []string{"192.168.99.1"}},
		{"exec_pod.json", "ka.auth.decision", "", "allow"},
		{"exec_pod.json", "ka.auth.reason", "", ""},
		{"create_nginx_pod_privileged.json", "ka.req.pod.containers.privileged", "", []string{"true"}},
		{"create_nginx_pod_privileged.json", "ka.target.pod.name", "", "nginx-deployment-5cdcc99dbf-rgw6z"},
		{"create_cluster_role_wildcard_verbs.json", "ka.req.role.rules.verbs", "", []string{"*", "get"}},
		{"create_cluster_role_wildcard_verbs.json", "ka.req.role.rules.verbs", "1", []string{"get"}},
		{"create_cluster_role_wildcard_verbs.json", "ka.req.role.rules.resources", "", []string{"pods"}},
		{"attach_cluster_admin_role.json", "ka.req.binding.role", "", "cluster-admin"},
		{"attach_cluster_admin_role.json", "ka.req.binding.subjects.user_names", "", []string{"minikube"}},
		{"attach_cluster_admin_role.json", "ka.req.binding.subjects.group_names", "", []string{}},
		{"attach_cluster_admin_role.json", "ka.req.binding.subject.has_name", "x", "N/A"},
	} {
		e := traceEvent(t, tt.trace)
		got := fieldOf(t, e, tt.field, tt.arg)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: %s[%s] = %#v, want %#v", tt.trace, tt.field, tt.arg, got, tt.want)
		}
	}
}

// TestAlertShape checks an alert raised by an upstream rule on a trace
// file: its source, time, output and output fields.
func TestAlertShape(t *testing.T) {
	_, _, alerts := scan(t, load(t, upstreamRules(t)), true, corpora(t, "k8saudit", "falco-test-trace-files", "trace_files", "exec_pod.json"))
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1", len(alerts))
	}
	a := alerts[0]
	if a.Kind != "alert" || a.Source != "k8s_audit" || a.Action != event.Detected || a.Rule != "Attach/Exec Pod" || a.Priority != "Notice" ||
		a.Time.Format("2006-01-02T15:04:05.000000Z") != "2018-10-26T13:38:34.902914Z" ||
		a.OutputFields["ka.uri.param[command]"] != "bash" || a.OutputFields["ka.user.name"] != "minikube-user" ||
		!strings.Contains(a.Output, "Attach/Exec to pod (user=minikube-user pod=nginx-deployment-7998647bdf-phvq7 resource=pods ns=default action=exec command=bash)") {
		t.Errorf("alert %+v", a)
	}
}

// TestDirectoryScan reads the whole trace folder: every file but the
// malformed one reads, that one is reported with its file and index.
func TestDirectoryScan(t *testing.T) {
	dir := corpora(t, "k8saudit", "falco-test-trace-files", "trace_files")
	got, bad, _ := scan(t, load(t, upstreamRules(t)), true, dir)
	if len(bad) != 1 || bad[0].File != filepath.Join(dir, "fal_01_003.json") || bad[0].Record != 0 ||
		bad[0].Error() != filepath.Join(dir, "fal_01_003.json")+`: record 0: kind is 0, not "Event": not a Kubernetes audit event; it has keys kind` {
		t.Errorf("errors %v", bad)
	}
	for _, rule := range []string{"Attach/Exec Pod", "Create Privileged Pod", "Create Sensitive Mount Pod", "Attach to cluster-admin Role"} {
		if got[rule] == 0 {
			t.Errorf("%s not raised: %v", rule, got)
		}
	}
}
