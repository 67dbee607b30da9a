package cloudtrail

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"

	"github.com/mamori-dev/mamori/rules"
)

// mamoriFields are the fields mamori adds to the aws_cloudtrail catalogue
// for what Falco's condition language cannot say over a record: facts
// buried in nested lists or URL-encoded JSON, and facts that need the
// records read before (the state a Detector keeps). mamori's own
// CloudTrail rules use them; upstream rules never do.
//
// A field has no value when the record is not of the kind it describes,
// so "= true" and "!= true" are both false there. The stateful fields have
// a value only when a Detector evaluates the record.
func mamoriFields() []rules.Field {
	return []rules.Field{
		str("mamori.iam.accesskey.user", "the user a new access key belongs to (CreateAccessKey: requestParameters.userName, else the response's accessKey.userName)", accessKeyUser),
		boolean("mamori.iam.accesskey.foreign", "true when CreateAccessKey made a key for another user than the caller: an IAM user naming someone else, or a root, role or federated caller naming any user", accessKeyForeign),
		str("mamori.iam.target", "the principal a policy or group change is about, as user/NAME, group/NAME or role/NAME from requestParameters", iamTarget),
		boolean("mamori.iam.policy.admin", "true when requestParameters.policyDocument (URL-encoded JSON) allows every action of IAM: an Allow statement with Action \"*\", \"iam:*\" or a pattern covering them, or NotAction sparing IAM", func(r *Record) (bool, bool) {
			doc, ok := policyDocument(r)
			if !ok {
				return false, false
			}
			return doc.grantsAdmin(), true
		}),
		{Name: "mamori.iam.policy.actions", Type: rules.TypeStringList,
			Desc: "the actions requestParameters.policyDocument allows (Allow statements' Action; \"NOT <a>\" for NotAction)",
			ExtractStrings: func(evt any, _ rules.Arg) ([]string, bool) {
				doc, ok := policyDocument(asRecord(evt))
				if !ok {
					return nil, false
				}
				acts := doc.allowedActions()
				return acts, len(acts) > 0
			}},
		boolean("mamori.iam.policyarn.admin", "true when requestParameters.policyArn is an AWS managed policy granting all of IAM (AdministratorAccess, IAMFullAccess)", func(r *Record) (bool, bool) {
			arn, ok := r.str("requestParameters", "policyArn")
			if !ok {
				return false, false
			}
			return isAdminManagedPolicy(arn), true
		}),
		stateful(boolean, "mamori.iam.group.admin", "true when an earlier record of this scan gave the group named in requestParameters.groupName all of IAM (an admin managed policy attached, or an admin inline policy put) and no later one took it back", func(e *evaluation) (bool, bool) {
			return e.facts.groupAdmin, e.facts.group
		}),
		str("mamori.cloudtrail.trail", "the trail a CloudTrail call is about: requestParameters.name, else trailName", func(r *Record) (string, bool) {
			if s, ok := r.str("requestParameters", "name"); ok {
				return s, true
			}
			return r.str("requestParameters", "trailName")
		}),
		str("mamori.cloudtrail.selectors", "the event selectors PutEventSelectors sets, basic or advanced, as JSON", func(r *Record) (string, bool) {
			params, _ := r.lookup("requestParameters")
			for _, k := range [...]string{"eventSelectors", "advancedEventSelectors"} {
				if v, ok := member(params, k); ok {
					return text(v), true
				}
			}
			return "", false
		}),
		boolean("mamori.cloudtrail.selectors.narrow", "true when PutEventSelectors leaves some management events unlogged: no basic selector with includeManagementEvents true, readWriteType All and no excluded sources, and no advanced selector logging every management event", selectorsNarrow),
		num("mamori.logs.retention.days", "requestParameters.retentionInDays of a CloudWatch Logs PutRetentionPolicy", func(r *Record) (int64, bool) {
			return r.number("requestParameters", "retentionInDays")
		}),
		boolean("mamori.ec2.ingress.public", "true when AuthorizeSecurityGroupIngress lets in any address: a rule from a /0 network (0.0.0.0/0, ::/0), top-level cidrIp or nested in ipPermissions, or in the response's rule set", func(r *Record) (bool, bool) {
			rules, ok := ingressRules(r)
			if !ok {
				return false, false
			}
			for _, ir := range rules {
				if ir.public {
					return true, true
				}
			}
			return false, true
		}),
		str("mamori.ec2.ingress.ports", "what AuthorizeSecurityGroupIngress opens to any address: protocol and ports, e.g. tcp/22, udp/500-4500, all", publicPorts),
		str("mamori.ecr.digest", "the digest of the image PutImage pushed: the response's imageDigest, else the request's, else the sha256 of the manifest", ecrDigest),
		stateful(boolean, "mamori.ecr.tag.overwritten", "true when PutImage moved a repository:tag that an earlier record of this scan had pushed to another digest", func(e *evaluation) (bool, bool) {
			return e.facts.tagOverwritten, e.facts.tag
		}),
		stateful(str, "mamori.ecr.tag.previous", "the digest the tag pointed to before this PutImage, when an earlier record of this scan pushed it", func(e *evaluation) (string, bool) {
			return e.facts.previousDigest, e.facts.previousDigest != ""
		}),
		boolean("mamori.s3.public.write", "true when PutBucketAcl grants WRITE, WRITE_ACP or FULL_CONTROL to AllUsers or AuthenticatedUsers (grants or headers, or the canned public-read-write), or PutBucketPolicy allows Principal \"*\" to write objects or the bucket's access rules without a condition restricting who", func(r *Record) (bool, bool) {
			why, ok := s3PublicWrite(r)
			return why != "", ok
		}),
		str("mamori.s3.public.grant", "what makes the bucket publicly writable (see mamori.s3.public.write), e.g. \"AllUsers WRITE\" or \"Principal * s3:Put*\"", func(r *Record) (string, bool) {
			why, _ := s3PublicWrite(r)
			return why, why != ""
		}),
		boolean("mamori.s3.publicaccessblock.removed", "true when a bucket's or the account's S3 public access block is deleted, or put with any of its four settings false", publicAccessBlockRemoved),
	}
}

func boolean(name, desc string, fn func(*Record) (bool, bool)) rules.Field {
	return rules.Field{Name: name, Type: rules.TypeBool, Desc: desc,
		ExtractBool: func(evt any, _ rules.Arg) (bool, bool) { return fn(asRecord(evt)) }}
}

// stateful makes a field of kind mk (str or boolean) that reads what the
// Detector learnt; on a bare *Record it has no value.
func stateful[T any](mk func(string, string, func(*Record) (T, bool)) rules.Field, name, desc string, fn func(*evaluation) (T, bool)) rules.Field {
	f := mk(name, desc+" [needs the scan's state: only under a Detector]", nil)
	get := func(evt any) (T, bool) {
		e, ok := evt.(*evaluation)
		if !ok {
			var zero T
			return zero, false
		}
		return fn(e)
	}
	switch f.Type {
	case rules.TypeBool:
		f.ExtractBool = func(evt any, _ rules.Arg) (bool, bool) {
			v, ok := get(evt)
			b, _ := any(v).(bool)
			return b, ok
		}
	case rules.TypeString:
		f.ExtractString = func(evt any, _ rules.Arg) (string, bool) {
			v, ok := get(evt)
			s, _ := any(v).(string)
			return s, ok
		}
	}
	return f
}

// eventName is the record's eventName when it is a string, else "".
func eventName(r *Record) string {
	if n, _ := r.eventName(); r.nameString {
		return n
	}
	return ""
}

// ---- IAM ----

func accessKeyUser(r *Record) (string, bool) {
	if eventName(r) != "CreateAccessKey" {
		return "", false
	}
	if s, ok := r.lookup("requestParameters", "userName"); ok {
		if s, ok := s.(string); ok && s != "" {
			return s, true
		}
	}
	if s, ok := r.lookup("responseElements", "accessKey", "userName"); ok {
		if s, ok := s.(string); ok && s != "" {
			return s, true
		}
	}
	return "", false
}

// accessKeyForeign compares the key's user with the caller. A call that
// names no user makes a key for the caller itself. An IAM user is known by
// the last part of its ARN and by userName; it is the same user when
// either matches (hand-edited records disagree between the two).
func accessKeyForeign(r *Record) (bool, bool) {
	if eventName(r) != "CreateAccessKey" {
		return false, false
	}
	target, ok := r.lookup("requestParameters", "userName")
	t, _ := target.(string)
	if !ok || t == "" {
		return false, true
	}
	if typ, _ := r.str("userIdentity", "type"); typ != "IAMUser" {
		return true, true
	}
	if arn, ok := r.str("userIdentity", "arn"); ok {
		if _, res, ok := strings.Cut(arn, ":user/"); ok && res[strings.LastIndexByte(res, '/')+1:] == t {
			return false, true
		}
	}
	if u, ok := r.str("userIdentity", "userName"); ok && u == t {
		return false, true
	}
	return true, true
}

func iamTarget(r *Record) (string, bool) {
	for _, k := range [...][2]string{{"userName", "user/"}, {"groupName", "group/"}, {"roleName", "role/"}} {
		if v, ok := r.lookup("requestParameters", k[0]); ok {
			if s, ok := v.(string); ok && s != "" {
				return k[1] + s, true
			}
		}
	}
	return "", false
}

// adminManagedPolicies are the AWS managed policies that allow all of IAM.
var adminManagedPolicies = [...]string{":iam::aws:policy/AdministratorAccess", ":iam::aws:policy/IAMFullAccess"}

// isAdminManagedPolicy matches the ARN in any partition (aws, aws-cn,
// aws-us-gov).
func isAdminManagedPolicy(arn string) bool {
	for _, p := range adminManagedPolicies {
		if strings.HasPrefix(arn, "arn:") && strings.HasSuffix(arn, p) {
			return true
		}
	}
	return false
}

// ---- CloudTrail ----

// selectorsNarrow: see the field's description. Keys are matched without
// regard to case: CloudTrail writes the request's members in camelCase,
// the API documents them capitalised.
func selectorsNarrow(r *Record) (bool, bool) {
	if eventName(r) != "PutEventSelectors" {
		return false, false
	}
	params, _ := r.lookup("requestParameters")
	basic, hasBasic := member(params, "eventSelectors")
	advanced, hasAdvanced := member(params, "advancedEventSelectors")
	if !hasBasic && !hasAdvanced {
		return false, false
	}
	for _, s := range items(basic) {
		inc, _ := member(s, "includeManagementEvents")
		rw, hasRW := member(s, "readWriteType")
		excl, _ := member(s, "excludeManagementEventSources")
		if inc == true && (!hasRW || rw == "All") && len(items(excl)) == 0 {
			return false, true
		}
	}
	for _, s := range items(advanced) {
		if logsAllManagement(s) {
			return false, true
		}
	}
	return true, true
}

// logsAllManagement reports whether an advanced selector is exactly
// "eventCategory equals Management": any other field selector beside it
// (readOnly, eventSource) filters management events out.
func logsAllManagement(sel any) bool {
	fs, _ := member(sel, "fieldSelectors")
	list := items(fs)
	if len(list) != 1 {
		return false
	}
	field, _ := member(list[0], "field")
	if f, _ := field.(string); !strings.EqualFold(f, "eventCategory") {
		return false
	}
	eq, _ := member(list[0], "equals")
	for _, v := range items(eq) {
		if s, _ := v.(string); strings.EqualFold(s, "Management") {
			return true
		}
	}
	return false
}

// ---- EC2 ----

// ingressRule is one source a security group rule lets in.
type ingressRule struct {
	proto    string
	from, to string
	public   bool
}

// ingressRules lists the sources an AuthorizeSecurityGroupIngress call
// names, from the request (the old top-level cidrIp form and the nested
// ipPermissions) and from the rules the response says it created.
func ingressRules(r *Record) ([]ingressRule, bool) {
	if eventName(r) != "AuthorizeSecurityGroupIngress" {
		return nil, false
	}
	var out []ingressRule
	params, _ := r.lookup("requestParameters")
	top := func(key string) {
		if c, ok := member(params, key); ok {
			out = append(out, ingressRule{proto: textOf(params, "ipProtocol"), from: textOf(params, "fromPort"), to: textOf(params, "toPort"), public: anyAddress(c)})
		}
	}
	top("cidrIp")
	top("cidrIpv6")
	perms, _ := member(params, "ipPermissions")
	for _, p := range items(perms) {
		rule := ingressRule{proto: textOf(p, "ipProtocol"), from: textOf(p, "fromPort"), to: textOf(p, "toPort")}
		for _, k := range [...][2]string{{"ipRanges", "cidrIp"}, {"ipv6Ranges", "cidrIpv6"}} {
			ranges, _ := member(p, k[0])
			for _, rg := range items(ranges) {
				c, _ := member(rg, k[1])
				rule.public = anyAddress(c)
				out = append(out, rule)
			}
		}
	}
	set, _ := r.lookup("responseElements", "securityGroupRuleSet")
	for _, it := range items(set) {
		if eg, _ := member(it, "isEgress"); eg == true {
			continue
		}
		for _, k := range [...]string{"cidrIpv4", "cidrIpv6"} {
			if c, ok := member(it, k); ok {
				out = append(out, ingressRule{proto: textOf(it, "ipProtocol"), from: textOf(it, "fromPort"), to: textOf(it, "toPort"), public: anyAddress(c)})
			}
		}
	}
	return out, true
}

// anyAddress reports whether a CIDR covers every address of its family:
// its prefix length is 0, whatever address it is written with
// (anonymised logs write 208.236.235.254/0).
func anyAddress(v any) bool {
	s, _ := v.(string)
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	return err == nil && p.Bits() == 0
}

// publicPorts renders the rules open to any address, deduplicated in
// order: "tcp/22", "tcp/8000-9000", "all".
func publicPorts(r *Record) (string, bool) {
	rules, ok := ingressRules(r)
	if !ok {
		return "", false
	}
	var parts []string
	seen := map[string]bool{}
	for _, ir := range rules {
		if !ir.public {
			continue
		}
		p := strings.ToLower(ir.proto)
		var s string
		switch {
		case p == "-1" || p == "all" || p == "":
			s = "all"
		case ir.from == "" || ir.from == ir.to || ir.to == "":
			s = p + "/" + ir.from
		default:
			s = p + "/" + ir.from + "-" + ir.to
		}
		s = strings.TrimSuffix(s, "/")
		if !seen[s] {
			seen[s] = true
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ","), len(parts) > 0
}

// ---- ECR ----

func ecrDigest(r *Record) (string, bool) {
	if eventName(r) != "PutImage" {
		return "", false
	}
	if s, ok := r.lookup("responseElements", "image", "imageId", "imageDigest"); ok {
		if s, ok := s.(string); ok && s != "" {
			return s, true
		}
	}
	if s, ok := r.lookup("requestParameters", "imageDigest"); ok {
		if s, ok := s.(string); ok && s != "" {
			return s, true
		}
	}
	// A registry names a manifest by the sha256 of its bytes.
	if m, ok := r.lookup("requestParameters", "imageManifest"); ok {
		if m, ok := m.(string); ok && m != "" {
			sum := sha256.Sum256([]byte(m))
			return "sha256:" + hex.EncodeToString(sum[:]), true
		}
	}
	return "", false
}

// ---- S3 ----

// Everyone, in S3 ACL grants.
const (
	allUsersURI  = "acs.amazonaws.com/groups/global/AllUsers"
	authUsersURI = "acs.amazonaws.com/groups/global/AuthenticatedUsers"
)

// s3PublicWrite says what in a PutBucketAcl or PutBucketPolicy request
// lets anyone write, "" for nothing; ok is false for other events and
// unreadable policies.
func s3PublicWrite(r *Record) (why string, ok bool) {
	switch eventName(r) {
	case "PutBucketAcl":
		return aclPublicWrite(r), true
	case "PutBucketPolicy":
		doc, ok := bucketPolicy(r)
		if !ok {
			return "", false
		}
		return doc.publicWrite(), true
	}
	return "", false
}

// aclPublicWrite looks at the canned ACL header, the x-amz-grant-* headers
// and the grants of the AccessControlPolicy body.
func aclPublicWrite(r *Record) string {
	params, _ := r.lookup("requestParameters")
	if acl, ok := member(params, "x-amz-acl"); ok {
		for _, v := range items(acl) {
			if s, _ := v.(string); strings.EqualFold(s, "public-read-write") {
				return "x-amz-acl public-read-write"
			}
		}
	}
	for _, h := range [...]string{"x-amz-grant-write", "x-amz-grant-write-acp", "x-amz-grant-full-control"} {
		if v, ok := member(params, h); ok {
			for _, x := range items(v) {
				if s, _ := x.(string); strings.Contains(s, allUsersURI) || strings.Contains(s, authUsersURI) {
					return h + " " + s
				}
			}
		}
	}
	acp, _ := member(params, "AccessControlPolicy")
	acl, _ := member(acp, "AccessControlList")
	grants, _ := member(acl, "Grant")
	for _, g := range items(grants) {
		grantee, _ := member(g, "Grantee")
		uri, _ := member(grantee, "URI")
		u, _ := uri.(string)
		if !strings.Contains(u, allUsersURI) && !strings.Contains(u, authUsersURI) {
			continue
		}
		perm, _ := member(g, "Permission")
		switch p, _ := perm.(string); strings.ToUpper(p) {
		case "WRITE", "WRITE_ACP", "FULL_CONTROL":
			return u[strings.LastIndexByte(u, '/')+1:] + " " + strings.ToUpper(p)
		}
	}
	return ""
}

func publicAccessBlockRemoved(r *Record) (bool, bool) {
	switch eventName(r) {
	case "DeleteBucketPublicAccessBlock", "DeleteAccountPublicAccessBlock":
		if src, _ := r.str("eventSource"); !strings.HasPrefix(src, "s3") {
			return false, false
		}
		return true, true
	case "PutBucketPublicAccessBlock", "PutAccountPublicAccessBlock":
		params, _ := r.lookup("requestParameters")
		conf, ok := member(params, "PublicAccessBlockConfiguration")
		if !ok {
			return false, false
		}
		for _, k := range [...]string{"BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"} {
			if v, ok := member(conf, k); ok && (v == false || v == "false") {
				return true, true
			}
		}
		return false, true
	}
	return false, false
}

// ---- JSON helpers ----

// member returns an object's value for key, matching the key exactly, else
// without regard to case. A JSON null counts as absent.
func member(obj any, key string) (any, bool) {
	m, ok := obj.(map[string]any)
	if !ok {
		return nil, false
	}
	if v, ok := m[key]; ok {
		return v, v != nil
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, v != nil
		}
	}
	return nil, false
}

// items returns the elements of a list as CloudTrail writes it: a JSON
// array, an EC2-style {"items": [...]}, or a single value standing for a
// list of one. Empty for nil and for {}.
func items(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	case map[string]any:
		if it, ok := v["items"]; ok {
			l, _ := it.([]any)
			return l
		}
		if len(v) == 0 {
			return nil
		}
	}
	return []any{v}
}

// textOf renders obj's member key as text, "" when absent.
func textOf(obj any, key string) string {
	v, ok := member(obj, key)
	if !ok {
		return ""
	}
	return text(v)
}
