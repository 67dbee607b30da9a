package k8saudit

import (
	"sort"
	"strings"

	"github.com/mamori-dev/mamori/audit/auditlog"
	"github.com/mamori-dev/mamori/rules"
)

// The fields on the objects of a request: containers of a pod, subjects
// of a binding, rules of a role, volumes.

// containerFields are the ka.req.pod.<list>.* fields over the containers
// of requestObject.spec.<list>: containers, initContainers or
// ephemeralContainers.
func containerFields(list string) []rules.Field {
	prefix := "ka.req.pod." + list + "."
	keys := []string{"requestObject", "spec", list}
	sc := func(name, desc string, key ...string) rules.Field {
		return items(prefix+name, desc, func(_ *Event, c map[string]any) []string {
			return at(c, append([]string{"securityContext"}, key...)...)
		}, keys...)
	}
	fs := []rules.Field{
		items(prefix+"name", "the names of the pod's "+list, func(_ *Event, c map[string]any) []string { return at(c, "name") }, keys...),
		items(prefix+"image", "the images of the pod's "+list, func(_ *Event, c map[string]any) []string { return containerImage(c) }, keys...),
		items(prefix+"image.repository", "the images of the pod's "+list+" without tag or digest", func(_ *Event, c map[string]any) []string {
			return repositories(containerImage(c))
		}, keys...),
		items(prefix+"command", "the command of each of the pod's "+list+", its words joined by spaces", func(_ *Event, c map[string]any) []string {
			return joined(c, "command")
		}, keys...),
		items(prefix+"args", "the arguments of each of the pod's "+list+", joined by spaces", func(_ *Event, c map[string]any) []string {
			return joined(c, "args")
		}, keys...),
		sc("privileged", "the privileged flag of each of the pod's "+list+" that sets it", "privileged"),
		sc("allow_privilege_escalation", "the allowPrivilegeEscalation flag of each of the pod's "+list+" that sets it", "allowPrivilegeEscalation"),
		sc("read_only_fs", "the readOnlyRootFilesystem flag of each of the pod's "+list+" that sets it", "readOnlyRootFilesystem"),
		sc("run_as_user", "the runAsUser of each of the pod's "+list+" that sets it", "runAsUser"),
		sc("run_as_group", "the runAsGroup of each of the pod's "+list+" that sets it", "runAsGroup"),
		sc("proc_mount", "the procMount of each of the pod's "+list+" that sets it", "procMount"),
		items(prefix+"add_capabilities", "the capabilities the pod's "+list+" add", func(_ *Event, c map[string]any) []string {
			return each(c, "securityContext", "capabilities", "add")
		}, keys...),
		items(prefix+"eff_run_as_user", "the uid each of the pod's "+list+" starts with: its runAsUser, else the pod's, else 0", func(e *Event, c map[string]any) []string {
			return effective(e, c, "runAsUser")
		}, keys...),
		items(prefix+"eff_run_as_group", "the gid each of the pod's "+list+" starts with: its runAsGroup, else the pod's, else 0", func(e *Event, c map[string]any) []string {
			return effective(e, c, "runAsGroup")
		}, keys...),
	}
	if list != "ephemeralContainers" {
		fs = append(fs, items(prefix+"host_port", "the host ports the pod's "+list+" bind: hostPort, or with hostNetwork containerPort", hostPorts, keys...))
	}
	return fs
}

func containerImage(c map[string]any) []string { return at(c, "image") }

// repositories strips the digest and the tag from image references:
// host:5000/team/app:1.2@sha256:... is host:5000/team/app. A colon before
// the last slash belongs to the registry's port, not to a tag.
func repositories(images []string) []string {
	out := make([]string, len(images))
	for i, im := range images {
		im, _, _ = strings.Cut(im, "@")
		if c := strings.LastIndexByte(im, ':'); c > strings.LastIndexByte(im, '/') {
			im = im[:c]
		}
		out[i] = im
	}
	return out
}

// joined is the array at key of c joined by spaces, when c has it.
func joined(c map[string]any, key string) []string {
	if _, ok := c[key].([]any); !ok {
		return nil
	}
	return []string{strings.Join(each(c, key), " ")}
}

// effective is the container's security-context value at key, else the
// pod's, else "0": the id a container's first process runs as unless its
// image says otherwise.
func effective(e *Event, c map[string]any, key string) []string {
	if v := at(c, "securityContext", key); v != nil {
		return v
	}
	if v, ok := e.str("requestObject", "spec", "securityContext", key); ok {
		return []string{v}
	}
	return []string{"0"}
}

// hostPorts are the host ports a container binds: each port's hostPort,
// or its containerPort when the pod shares the host's network.
func hostPorts(e *Event, c map[string]any) []string {
	hostNet, _ := e.get("requestObject", "spec", "hostNetwork")
	ports, _ := c["ports"].([]any)
	var out []string
	for _, p := range ports {
		pm, _ := p.(map[string]any)
		if v := at(pm, "hostPort"); v != nil {
			out = append(out, v...)
		} else if hostNet == true {
			out = append(out, at(pm, "containerPort")...)
		}
	}
	return out
}

// first is the first value per gives for the pod's first container.
func first(e *Event, per func(map[string]any) []string) (string, bool) {
	v, _ := e.get("requestObject", "spec", "containers")
	l, _ := v.([]any)
	if len(l) == 0 {
		return "", false
	}
	c, _ := l[0].(map[string]any)
	if vals := per(c); len(vals) > 0 {
		return vals[0], true
	}
	return "", false
}

// anyPrivileged is "true" when a container of the pod is privileged.
func anyPrivileged(e *Event) (string, bool) {
	v, _ := e.get("requestObject", "spec", "containers")
	l, ok := v.([]any)
	if !ok {
		return "", false
	}
	for _, c := range l {
		if p, _ := auditlog.Lookup(c, "securityContext", "privileged"); p == true {
			return "true", true
		}
	}
	return "false", true
}

// subjects lists the names of a binding's subjects of one kind; for
// service accounts with ns, as namespace:name.
func subjects(name, kind string, ns bool) rules.Field {
	desc := "the names of the " + kind + " subjects a (cluster) role binding links"
	if ns {
		desc = "the namespace:name of the ServiceAccount subjects a (cluster) role binding links"
	}
	return rules.Field{Name: name, Type: rules.TypeStringList, Desc: desc,
		ExtractStrings: func(evt any, _ rules.Arg) ([]string, bool) {
			v, _ := asEvent(evt).get("requestObject", "subjects")
			l, ok := v.([]any)
			if !ok {
				return nil, false
			}
			var out []string
			for _, s := range l {
				m, _ := s.(map[string]any)
				if m["kind"] != kind {
					continue
				}
				n := auditlog.Text(m["name"])
				if ns {
					n = auditlog.Text(m["namespace"]) + ":" + n
				}
				out = append(out, n)
			}
			return out, true
		}}
}

// roleRules flattens one key of every rule of a role: all verbs, all
// resources; [N] keeps rule N's.
func roleRules(name, key string) rules.Field {
	return items(name, "the "+key+" of the rules of a role or cluster role", func(_ *Event, r map[string]any) []string {
		return each(r, key)
	}, "requestObject", "rules")
}

// volumeHostPath is ka.req.volume.hostpath[path]: "true" when a hostPath
// volume mounts path, or a path under prefix for [prefix*].
func volumeHostPath(evt any, a rules.Arg) (string, bool) {
	v, _ := asEvent(evt).get("requestObject", "spec", "volumes")
	l, ok := v.([]any)
	if !ok {
		return "", false
	}
	prefix, isPrefix := strings.CutSuffix(a.Key, "*")
	for _, vol := range l {
		p, ok := auditlog.Lookup(vol, "hostPath", "path")
		s, _ := p.(string)
		if ok && (s == a.Key || isPrefix && strings.HasPrefix(s, prefix)) {
			return "true", true
		}
	}
	return "false", true
}

// volumeTypes are a volume's keys other than its name: its type, such as
// hostPath or secret.
func volumeTypes(_ *Event, v map[string]any) []string {
	var out []string
	for k := range v {
		if k != "name" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
