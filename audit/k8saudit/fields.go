package k8saudit

import (
	"net/url"
	"time"

	"github.com/mamori-dev/mamori/audit/auditlog"
	"github.com/mamori-dev/mamori/rules"
)

// Source is the Falco event source of Kubernetes audit events.
const Source = "k8s_audit"

// Catalog is the k8s_audit source's field catalogue, after the Falco
// k8saudit plugin (0.18) and the json plugin. It is read-only and may be
// shared. Its extractors take an *Event.
type Catalog struct {
	fields []rules.Field
}

// NewCatalog returns the catalogue.
func NewCatalog() *Catalog { return &Catalog{fields: fieldTable()} }

// Source returns "k8s_audit".
func (c *Catalog) Source() string { return Source }

// StatefulRules says that rules of this source may be stateful: a Detector
// keeps their Memory (see rules.Stateful).
func (c *Catalog) StatefulRules() {}

// Fields returns every field.
func (c *Catalog) Fields() []rules.Field { return c.fields }

func asEvent(evt any) *Event { return evt.(*Event) }

func str(name, desc string, fn func(*Event) (string, bool)) rules.Field {
	return auditlog.Str(name, desc, func(evt any) (string, bool) { return fn(asEvent(evt)) })
}

// path is a string field read from the event's keys; a value that is not
// a string reads as its JSON text.
func path(name, desc string, keys ...string) rules.Field {
	return str(name, desc, func(e *Event) (string, bool) { return e.str(keys...) })
}

// array is a list field read from a JSON array at keys, each element as
// text; a value that is not an array is no value.
func array(name, desc string, keys ...string) rules.Field {
	return rules.Field{Name: name, Type: rules.TypeStringList, Desc: desc,
		ExtractStrings: func(evt any, _ rules.Arg) ([]string, bool) {
			v, _ := asEvent(evt).get(keys...)
			l, ok := v.([]any)
			if !ok {
				return nil, false
			}
			out := make([]string, len(l))
			for i, x := range l {
				out[i] = auditlog.Text(x)
			}
			return out, true
		}}
}

// indexed lets a list field take an index, [N], for its element N.
func indexed(f rules.Field) rules.Field {
	all := f.ExtractStrings
	f.Arg = rules.IndexArg
	f.ExtractStrings = func(evt any, a rules.Arg) ([]string, bool) {
		l, ok := all(evt, rules.Arg{})
		if !ok || !a.Set {
			return l, ok
		}
		if a.Index >= len(l) {
			return nil, false
		}
		return l[a.Index : a.Index+1], true
	}
	return f
}

// items is a list field over the elements of the JSON array at keys: per
// gives each element's values, and [N] keeps only element N's. It has a
// value when the array exists, even if no element gives one.
func items(name, desc string, per func(e *Event, item map[string]any) []string, keys ...string) rules.Field {
	return rules.Field{Name: name, Type: rules.TypeStringList, Arg: rules.IndexArg, Desc: desc,
		ExtractStrings: func(evt any, a rules.Arg) ([]string, bool) {
			e := asEvent(evt)
			v, _ := e.get(keys...)
			l, ok := v.([]any)
			if !ok {
				return nil, false
			}
			if a.Set {
				if a.Index >= len(l) {
					return nil, false
				}
				l = l[a.Index : a.Index+1]
			}
			var out []string
			for _, x := range l {
				m, _ := x.(map[string]any)
				out = append(out, per(e, m)...)
			}
			return out, true
		}}
}

// at is the text of the value at keys below m, as a list of zero or one.
func at(m map[string]any, keys ...string) []string {
	v, ok := auditlog.Lookup(m, keys...)
	if !ok {
		return nil
	}
	return []string{auditlog.Text(v)}
}

// each is the text of every element of the array at keys below m.
func each(m map[string]any, keys ...string) []string {
	v, _ := auditlog.Lookup(m, keys...)
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if x != nil {
			out = append(out, auditlog.Text(x))
		}
	}
	return out
}

func fieldTable() []rules.Field {
	ann := func(name, key, desc string) rules.Field { return path(name, desc, "annotations", key) }
	req := func(name, desc string, keys ...string) rules.Field {
		return path(name, desc, append([]string{"requestObject"}, keys...)...)
	}
	fs := []rules.Field{
		path("ka.auditid", "the unique id of the audit event (auditID)", "auditID"),
		path("ka.stage", "the stage of the request (RequestReceived, ResponseStarted, ResponseComplete, Panic)", "stage"),
		ann("ka.auth.decision", "authorization.k8s.io/decision", "the authorization decision (allow, forbid)"),
		ann("ka.auth.reason", "authorization.k8s.io/reason", "the authorization reason"),
		ann("ka.auth.openshift.decision", "authentication.openshift.io/decision", "the authentication decision of the OpenShift API server extension"),
		ann("ka.auth.openshift.username", "authentication.openshift.io/username", "the user name the OpenShift API server extension authenticated"),
		ann("ka.validations.admission.policy.failure", "validation.policy.admission.k8s.io/validation_failure", "the failure reported by a ValidatingAdmissionPolicy"),
		ann("ka.security.pod.violations", "pod-security.kubernetes.io/audit-violations", "the Pod Security admission violations"),
		ann("ka.cluster.name", "cluster_name", "the name of the cluster (annotations.cluster_name)"),
		path("ka.user.name", "the user name performing the request", "user", "username"),
		array("ka.user.groups", "the groups of the user performing the request", "user", "groups"),
		path("ka.impuser.name", "the impersonated user name", "impersonatedUser", "username"),
		path("ka.verb", "the action being performed (get, list, create, update, patch, delete, ...)", "verb"),
		path("ka.uri", "the request URI as sent from client to server", "requestURI"),
		{Name: "ka.uri.param", Type: rules.TypeString, Arg: rules.KeyArg, ArgRequired: true,
			Desc: "the first value of a query parameter of the request URI: ka.uri.param[command]",
			ExtractString: func(evt any, a rules.Arg) (string, bool) {
				s, ok := asEvent(evt).str("requestURI")
				if !ok {
					return "", false
				}
				u, err := url.Parse(s)
				if err != nil {
					return "", false
				}
				vs := u.Query()[a.Key]
				if len(vs) == 0 {
					return "", false
				}
				return vs[0], true
			}},
		path("ka.target.name", "the target object's name", "objectRef", "name"),
		path("ka.target.namespace", "the target object's namespace", "objectRef", "namespace"),
		path("ka.target.resource", "the target object's resource (pods, secrets, ...)", "objectRef", "resource"),
		path("ka.target.subresource", "the target object's subresource (exec, attach, ...)", "objectRef", "subresource"),
		str("ka.target.pod.name", "the name of the pod a request on pods (no subresource) returned", func(e *Event) (string, bool) {
			if r, _ := e.str("objectRef", "resource"); r != "pods" {
				return "", false
			}
			if _, sub := e.get("objectRef", "subresource"); sub {
				return "", false
			}
			return e.str("responseObject", "metadata", "name")
		}),

		array("ka.req.binding.subjects", "the subjects a (cluster) role binding links, as JSON", "requestObject", "subjects"),
		subjects("ka.req.binding.subjects.user_names", "User", false),
		subjects("ka.req.binding.subjects.serviceaccount_names", "ServiceAccount", false),
		subjects("ka.req.binding.subjects.serviceaccount_ns_names", "ServiceAccount", true),
		subjects("ka.req.binding.subjects.group_names", "Group", false),
		req("ka.req.binding.role", "the role a (cluster) role binding links", "roleRef", "name"),
		{Name: "ka.req.binding.subject.has_name", Type: rules.TypeString, Arg: rules.KeyArg, ArgRequired: true,
			Desc:          "deprecated: always N/A",
			ExtractString: func(any, rules.Arg) (string, bool) { return "N/A", true }},
		path("ka.req.configmap.name", "the name of the configmap a request refers to", "objectRef", "name"),
		req("ka.req.configmap.obj", "the data of the configmap in the request, as JSON", "data"),

		req("ka.req.pod.host_ipc", "the pod's hostIPC flag", "spec", "hostIPC"),
		req("ka.req.pod.host_network", "the pod's hostNetwork flag", "spec", "hostNetwork"),
		req("ka.req.container.host_network", "deprecated alias of ka.req.pod.host_network", "spec", "hostNetwork"),
		req("ka.req.pod.host_pid", "the pod's hostPID flag", "spec", "hostPID"),
		req("ka.req.pod.run_as_user", "the runAsUser of the pod's security context", "spec", "securityContext", "runAsUser"),
		req("ka.req.pod.run_as_group", "the runAsGroup of the pod's security context", "spec", "securityContext", "runAsGroup"),
		req("ka.req.pod.fs_group", "the fsGroup of the pod's security context", "spec", "securityContext", "fsGroup"),
		array("ka.req.pod.supplemental_groups", "the supplementalGroups of the pod's security context", "requestObject", "spec", "securityContext", "supplementalGroups"),
		str("ka.req.container.image", "deprecated: the image of the pod's first container", func(e *Event) (string, bool) {
			return first(e, containerImage)
		}),
		str("ka.req.container.image.repository", "deprecated: the repository of the pod's first container's image", func(e *Event) (string, bool) {
			return first(e, func(c map[string]any) []string { return repositories(containerImage(c)) })
		}),
		str("ka.req.container.privileged", "deprecated: true if any of the pod's containers is privileged, else false", anyPrivileged),

		array("ka.req.role.rules", "the rules of a role or cluster role, as JSON", "requestObject", "rules"),
		roleRules("ka.req.role.rules.apiGroups", "apiGroups"),
		roleRules("ka.req.role.rules.nonResourceURLs", "nonResourceURLs"),
		roleRules("ka.req.role.rules.verbs", "verbs"),
		roleRules("ka.req.role.rules.resources", "resources"),

		req("ka.req.service.type", "the type of the service in the request", "spec", "type"),
		items("ka.req.service.ports", "the ports of the service in the request, as JSON", func(_ *Event, p map[string]any) []string {
			if p == nil {
				return nil
			}
			return []string{auditlog.Text(p)}
		}, "requestObject", "spec", "ports"),

		items("ka.req.pod.volumes.hostpath", "the hostPath paths of the pod's volumes", func(_ *Event, v map[string]any) []string {
			return at(v, "hostPath", "path")
		}, "requestObject", "spec", "volumes"),
		{Name: "ka.req.volume.hostpath", Type: rules.TypeString, Arg: rules.KeyArg, ArgRequired: true,
			Desc:          "deprecated: true if a hostPath volume of the pod has the path given ([/etc]) or, with a final *, the prefix ([/proc*]), else false",
			ExtractString: volumeHostPath},
		items("ka.req.pod.volumes.flexvolume_driver", "the flexVolume drivers of the pod's volumes", func(_ *Event, v map[string]any) []string {
			return at(v, "flexVolume", "driver")
		}, "requestObject", "spec", "volumes"),
		items("ka.req.pod.volumes.volume_type", "the types of the pod's volumes (hostPath, secret, ...)", volumeTypes, "requestObject", "spec", "volumes"),

		path("ka.resp.name", "the response object's name", "responseObject", "metadata", "name"),
		path("ka.response.code", "the response's HTTP status code", "responseStatus", "code"),
		path("ka.response.reason", "the response's reason, usually given only for failures", "responseStatus", "reason"),
		path("ka.useragent", "the user agent of the client", "userAgent"),
		indexed(array("ka.sourceips", "the addresses of the client and the proxies it came through (sourceIPs)", "sourceIPs")),
	}
	for _, list := range []string{"containers", "initContainers", "ephemeralContainers"} {
		fs = append(fs, containerFields(list)...)
	}
	clock := auditlog.Clock{
		Source: Source,
		Plugin: "k8saudit",
		Num:    func(evt any) uint64 { return asEvent(evt).Num },
		Time:   func(evt any) time.Time { return asEvent(evt).Time },
		Object: func(evt any) any { return asEvent(evt).Fields },
		Info:   func(evt any) (string, bool) { return info(asEvent(evt)), true },
	}
	fs = append(fs, clock.JSONFields("jevt")...)
	fs = append(fs, clock.JSONFields("json")...)
	return append(fs, clock.EvtFields()...)
}

// info is evt.plugininfo: who did what to which object, and the answer.
func info(e *Event) string {
	user, _ := e.str("user", "username")
	verb, _ := e.str("verb")
	uri, _ := e.str("requestURI")
	code, _ := e.str("responseStatus", "code")
	return user + " " + verb + " " + uri + " " + code
}
