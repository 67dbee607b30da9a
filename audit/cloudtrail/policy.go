package cloudtrail

import (
	"encoding/json"
	"net/url"
	"strings"
)

// policy is an IAM or bucket policy document as a request carries it:
// Statement is an object or a list of them; Action, NotAction and the
// AWS principal are a string or a list of strings.
type policy struct {
	statements []statement
}

type statement struct {
	allow      bool
	actions    []string
	notActions []string
	hasNot     bool
	public     bool // Principal is "*" or {"AWS": "*"}
	restricted bool // a Condition narrows who the statement applies to
}

// policyDocument reads requestParameters.policyDocument. CloudTrail writes
// IAM policy documents URL-encoded; exports and hand-made records often
// carry the JSON as is, or already decoded into an object.
func policyDocument(r *Record) (*policy, bool) {
	v, ok := r.lookup("requestParameters", "policyDocument")
	if !ok {
		return nil, false
	}
	return parsePolicy(v)
}

// bucketPolicy reads PutBucketPolicy's requestParameters.bucketPolicy,
// which CloudTrail writes as a JSON object.
func bucketPolicy(r *Record) (*policy, bool) {
	v, ok := r.lookup("requestParameters", "bucketPolicy")
	if !ok {
		return nil, false
	}
	return parsePolicy(v)
}

// parsePolicy reads a policy document (see parsePolicyObject).
func parsePolicy(v any) (*policy, bool) {
	doc, ok := parsePolicyObject(v)
	if !ok {
		return nil, false
	}
	st, ok := member(doc, "Statement")
	if !ok {
		return nil, false
	}
	p := &policy{}
	for _, s := range items(st) {
		m, ok := s.(map[string]any)
		if !ok {
			continue
		}
		eff, _ := member(m, "Effect")
		e, _ := eff.(string)
		act, _ := member(m, "Action")
		not, hasNot := member(m, "NotAction")
		cond, _ := member(m, "Condition")
		p.statements = append(p.statements, statement{
			allow:      strings.EqualFold(e, "Allow"),
			actions:    stringsOf(act),
			notActions: stringsOf(not),
			hasNot:     hasNot,
			public:     publicPrincipal(m),
			restricted: narrowsAudience(cond),
		})
	}
	return p, true
}

// stringsOf takes a string or a list of strings.
func stringsOf(v any) []string {
	var out []string
	for _, x := range items(v) {
		if s, ok := x.(string); ok {
			out = append(out, strings.TrimSpace(s))
		}
	}
	return out
}

// grantsAdmin reports whether an Allow statement covers every IAM action:
// with Action, one pattern matches all of "iam:*"; with NotAction, none of
// the excluded patterns touches IAM.
func (p *policy) grantsAdmin() bool {
	for _, s := range p.statements {
		if !s.allow {
			continue
		}
		for _, a := range s.actions {
			if coversService(a, "iam") {
				return true
			}
		}
		if s.hasNot {
			spares := true
			for _, a := range s.notActions {
				if touchesService(a, "iam") {
					spares = false
				}
			}
			if spares {
				return true
			}
		}
	}
	return false
}

// allowedActions lists the Allow statements' actions, "NOT x" for a
// NotAction x.
func (p *policy) allowedActions() []string {
	var out []string
	for _, s := range p.statements {
		if !s.allow {
			continue
		}
		out = append(out, s.actions...)
		for _, a := range s.notActions {
			out = append(out, "NOT "+a)
		}
	}
	return out
}

// s3WriteActions are the actions that let a caller change a bucket's
// content or who may change it.
var s3WriteActions = [...]string{"s3:PutObject", "s3:PutObjectAcl", "s3:DeleteObject", "s3:PutBucketPolicy", "s3:PutBucketAcl"}

// publicWrite says which Allow statement for everyone, with no condition
// narrowing who, allows one of s3WriteActions: "Principal * ACTION" or
// "Principal * NotAction ...", "" for none.
func (p *policy) publicWrite() string {
	for _, s := range p.statements {
		if !s.allow || !s.public || s.restricted {
			continue
		}
		for _, w := range s3WriteActions {
			for _, a := range s.actions {
				if globMatch(a, w) {
					return "Principal * " + a
				}
			}
			if s.hasNot {
				excluded := false
				for _, a := range s.notActions {
					excluded = excluded || globMatch(a, w)
				}
				if !excluded {
					return "Principal * NotAction " + strings.Join(s.notActions, ",")
				}
			}
		}
	}
	return ""
}

// publicPrincipal: Principal "*", {"AWS": "*"} or {"AWS": [..., "*"]}.
func publicPrincipal(st map[string]any) bool {
	p, ok := member(st, "Principal")
	if !ok {
		return false
	}
	if s, ok := p.(string); ok {
		return strings.TrimSpace(s) == "*"
	}
	aws, _ := member(p, "AWS")
	for _, a := range stringsOf(aws) {
		if a == "*" {
			return true
		}
	}
	return false
}

// audienceKeys are the condition keys that narrow who a statement for
// Principal "*" applies to: the caller's network, organisation, account
// or identity, or the service calling on someone's behalf.
var audienceKeys = [...]string{
	"aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:vpcsourceip",
	"aws:principalorgid", "aws:principalorgpaths", "aws:principalaccount", "aws:principalarn",
	"aws:sourceaccount", "aws:sourcearn", "aws:sourceorgid", "aws:sourceorgpaths",
	"aws:userid", "aws:username", "aws:principalservicename", "aws:calledvia",
}

// narrowsAudience reports whether a Condition block tests one of
// audienceKeys. Other conditions (aws:SecureTransport, dates) leave the
// statement open to anyone.
func narrowsAudience(cond any) bool {
	ops, ok := cond.(map[string]any)
	if !ok {
		return false
	}
	for _, body := range ops {
		keys, _ := body.(map[string]any)
		for k := range keys {
			lk := strings.ToLower(k)
			for _, a := range audienceKeys {
				if lk == a {
					return true
				}
			}
		}
	}
	return false
}

// coversService reports whether an action pattern matches every action of
// service: "*", or service and action parts that match all of it.
func coversService(pattern, service string) bool {
	if pattern == "*" {
		return true
	}
	svc, act, ok := strings.Cut(pattern, ":")
	return ok && globMatch(svc, service) && strings.Trim(act, "*") == "" && act != ""
}

// touchesService reports whether an action pattern can match some action
// of service.
func touchesService(pattern, service string) bool {
	if pattern == "*" {
		return true
	}
	svc, _, ok := strings.Cut(pattern, ":")
	return ok && globMatch(svc, service)
}

// globMatch matches IAM's action wildcards, "*" (any run) and "?" (one
// character), without regard to case, as IAM compares action names.
func globMatch(pattern, name string) bool {
	p, n := strings.ToLower(pattern), strings.ToLower(name)
	// Iterative matching with one backtrack point, linear in practice.
	pi, ni, star, mark := 0, 0, -1, 0
	for ni < len(n) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == n[ni]):
			pi++
			ni++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ni
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// parsePolicyObject accepts a decoded object, JSON text, or URL-encoded JSON
// text. Query unescaping (where "+" is a space) is tried after path
// unescaping, because a "+" inside a policy is more often itself.
func parsePolicyObject(v any) (map[string]any, bool) {
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		var obj any
		decoded := false
		for _, dec := range []func(string) (string, error){
			func(s string) (string, error) { return s, nil },
			url.PathUnescape,
			url.QueryUnescape,
		} {
			t, err := dec(s)
			if err != nil {
				continue
			}
			if json.Unmarshal([]byte(t), &obj) == nil {
				decoded = true
				break
			}
		}
		if !decoded {
			return nil, false
		}
		v = obj
	}
	doc, ok := v.(map[string]any)
	return doc, ok
}
