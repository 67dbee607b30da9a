package cloudtrail

import (
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/mamori-dev/mamori/rules"
)

// exposureFields are the mamori.* fields about what a call hands to
// someone outside the account (a snapshot or image shared, a role's trust,
// a function's permission, a password set for another user) and about
// calls whose meaning hides in one parameter (an instance's type family,
// an instance attribute).
func exposureFields() []rules.Field {
	return []rules.Field{
		{Name: "mamori.share.accounts", Type: rules.TypeStringList,
			Desc: "the accounts an AMI, EBS snapshot or RDS snapshot is shared with by this call (ModifyImageAttribute launchPermission add, ModifySnapshotAttribute createVolumePermission add, ModifyDBSnapshotAttribute or ModifyDBClusterSnapshotAttribute restore valuesToAdd); \"all\" for public",
			ExtractStrings: func(evt any, _ rules.Arg) ([]string, bool) {
				accts, ok := sharedWith(asRecord(evt))
				return accts, ok && len(accts) > 0
			}},
		boolean("mamori.share.external", "true when the call shares an AMI, EBS snapshot or RDS snapshot with another account than the record's, or with everyone (see mamori.share.accounts)", func(r *Record) (bool, bool) {
			accts, ok := sharedWith(r)
			if !ok {
				return false, false
			}
			own := account(r)
			for _, a := range accts {
				if a != own {
					return true, true
				}
			}
			return false, true
		}),
		{Name: "mamori.iam.trust.principals", Type: rules.TypeStringList,
			Desc: "the AWS principals (account ids, ARNs, \"*\") a role's trust policy lets assume it: CreateRole's assumeRolePolicyDocument, UpdateAssumeRolePolicy's policyDocument",
			ExtractStrings: func(evt any, _ rules.Arg) ([]string, bool) {
				ps, ok := trustPrincipals(asRecord(evt))
				return ps, ok && len(ps) > 0
			}},
		boolean("mamori.iam.trust.external", "true when a role's trust policy (CreateRole, UpdateAssumeRolePolicy) lets a principal of another account than the record's, or anyone (\"*\"), assume it", func(r *Record) (bool, bool) {
			ps, ok := trustPrincipals(r)
			if !ok {
				return false, false
			}
			return anyExternal(ps, account(r)), true
		}),
		boolean("mamori.iam.loginprofile.foreign", "true when CreateLoginProfile or UpdateLoginProfile sets the console password of another user than the caller (an IAM user by its name, an assumed role's session by its session name)", func(r *Record) (bool, bool) {
			switch eventName(r) {
			case "CreateLoginProfile", "UpdateLoginProfile":
			default:
				return false, false
			}
			return foreignUser(r), true
		}),
		boolean("mamori.lambda.permission.external", "true when a Lambda AddPermission lets anyone (\"*\") or another account than the record's invoke the function; service principals are left out", func(r *Record) (bool, bool) {
			if !strings.HasPrefix(eventName(r), "AddPermission") {
				return false, false
			}
			p, ok := r.str("requestParameters", "principal")
			if !ok {
				return false, true
			}
			if strings.HasSuffix(p, ".amazonaws.com") {
				return false, true
			}
			return anyExternal([]string{p}, account(r)), true
		}),
		boolean("mamori.s3.policy.external", "true when PutBucketPolicy allows a principal of another account than the record's (an account id or ARN) in an Allow statement", func(r *Record) (bool, bool) {
			if eventName(r) != "PutBucketPolicy" {
				return false, false
			}
			v, ok := r.lookup("requestParameters", "bucketPolicy")
			if !ok {
				return false, true
			}
			obj, ok := decodePolicy(v)
			if !ok {
				return false, true
			}
			st, _ := member(obj, "Statement")
			for _, s := range items(st) {
				if !strings.EqualFold(textOf(s, "Effect"), "Allow") {
					continue
				}
				p, _ := member(s, "Principal")
				aws, _ := member(p, "AWS")
				var ps []string
				for _, x := range stringsOf(aws) {
					if x != "*" { // public: mamori.s3.public.write's business
						ps = append(ps, x)
					}
				}
				if anyExternal(ps, account(r)) {
					return true, true
				}
			}
			return false, true
		}),
		num("mamori.s3.lifecycle.expiration.days", "the fewest days after which PutBucketLifecycle's enabled rules expire objects (Expiration.Days, or NoncurrentVersionExpiration.NoncurrentDays)", lifecycleDays),
		str("mamori.ec2.instance.family", "the family of the instance type RunInstances asks for (p3 for p3.2xlarge), from requestParameters.instanceType", func(r *Record) (string, bool) {
			t, ok := r.str("requestParameters", "instanceType")
			if v, isObj := r.lookup("requestParameters", "instanceType", "value"); isObj {
				t, ok = v.(string) // the form {"value": "p3.2xlarge"} of some callers
			}
			if !ok || t == "" {
				return "", false
			}
			fam, _, _ := strings.Cut(t, ".")
			return strings.ToLower(fam), true
		}),
		str("mamori.ec2.attribute", "the instance attribute DescribeInstanceAttribute reads or ModifyInstanceAttribute changes: requestParameters.attribute, else the one attribute the request sets (userData, instanceType, ...)", instanceAttribute),
	}
}

// sharedWith lists the accounts a sharing call adds.
func sharedWith(r *Record) ([]string, bool) {
	var added any
	switch eventName(r) {
	case "ModifyImageAttribute":
		added, _ = r.lookup("requestParameters", "launchPermission", "add")
	case "ModifySnapshotAttribute":
		added, _ = r.lookup("requestParameters", "createVolumePermission", "add")
	case "ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute":
		if a, _ := r.str("requestParameters", "attributeName"); a != "restore" {
			return nil, true
		}
		v, _ := r.lookup("requestParameters", "valuesToAdd")
		var out []string
		for _, s := range stringsOf(v) {
			out = append(out, strings.ToLower(s)) // "all" is public
		}
		return out, true
	default:
		return nil, false
	}
	var out []string
	for _, it := range items(added) {
		if id := textOf(it, "userId"); id != "" {
			out = append(out, id)
		}
		if g := textOf(it, "group"); strings.EqualFold(g, "all") {
			out = append(out, "all")
		}
	}
	return out, true
}

// trustPrincipals lists the AWS principals of a trust policy's Allow
// statements.
func trustPrincipals(r *Record) ([]string, bool) {
	var doc any
	var ok bool
	switch eventName(r) {
	case "CreateRole":
		doc, ok = r.lookup("requestParameters", "assumeRolePolicyDocument")
	case "UpdateAssumeRolePolicy":
		doc, ok = r.lookup("requestParameters", "policyDocument")
	}
	if !ok {
		return nil, false
	}
	obj, ok := decodePolicy(doc)
	if !ok {
		return nil, false
	}
	st, _ := member(obj, "Statement")
	var out []string
	for _, s := range items(st) {
		if eff := textOf(s, "Effect"); !strings.EqualFold(eff, "Allow") {
			continue
		}
		p, _ := member(s, "Principal")
		if ps, ok := p.(string); ok {
			out = append(out, ps) // "*"
			continue
		}
		aws, _ := member(p, "AWS")
		out = append(out, stringsOf(aws)...)
	}
	sort.Strings(out)
	return out, true
}

// decodePolicy decodes a policy document given as an object, JSON text or
// URL-encoded JSON text.
func decodePolicy(v any) (map[string]any, bool) {
	if m, ok := v.(map[string]any); ok {
		return m, true
	}
	p, ok := parsePolicyObject(v)
	return p, ok
}

var accountID = regexp.MustCompile(`^\d{12}$`)

// anyExternal reports whether a principal is "*" or names an account
// other than own (an account id, or an ARN holding one).
func anyExternal(principals []string, own string) bool {
	for _, p := range principals {
		p = strings.TrimSpace(p)
		if p == "*" {
			return true
		}
		acct := p
		if strings.HasPrefix(p, "arn:") {
			if parts := strings.SplitN(p, ":", 6); len(parts) == 6 {
				acct = parts[4]
			}
		}
		if accountID.MatchString(acct) && acct != own {
			return true
		}
	}
	return false
}

// foreignUser reports whether requestParameters.userName names another
// user than the caller (see accessKeyForeign); an assumed role's session
// named after the user counts as the user.
func foreignUser(r *Record) bool {
	target, _ := r.str("requestParameters", "userName")
	if target == "" {
		return false
	}
	arn, _ := r.str("userIdentity", "arn")
	switch typ, _ := r.str("userIdentity", "type"); typ {
	case "IAMUser":
	case "AssumedRole":
		// A session named after the user, as single sign-on names them,
		// is that person.
		_, sess, ok := strings.Cut(arn, ":assumed-role/")
		return !ok || sess[strings.LastIndexByte(sess, '/')+1:] != target
	default:
		return true
	}
	if _, res, ok := strings.Cut(arn, ":user/"); ok && res[strings.LastIndexByte(res, '/')+1:] == target {
		return false
	}
	if u, ok := r.str("userIdentity", "userName"); ok && u == target {
		return false
	}
	return true
}

// instanceAttribute names the attribute an instance attribute call is
// about.
func instanceAttribute(r *Record) (string, bool) {
	switch eventName(r) {
	case "DescribeInstanceAttribute", "ModifyInstanceAttribute", "ResetInstanceAttribute":
	default:
		return "", false
	}
	if a, ok := r.str("requestParameters", "attribute"); ok && a != "" {
		return a, true
	}
	params, _ := r.lookup("requestParameters")
	m, _ := params.(map[string]any)
	var keys []string
	for k := range m {
		if k != "instanceId" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 1 {
		return keys[0], true
	}
	return "", false
}

// lifecycleDays is the shortest expiration, in days, of the enabled rules
// a PutBucketLifecycle sets.
func lifecycleDays(r *Record) (int64, bool) {
	if eventName(r) != "PutBucketLifecycle" {
		return 0, false
	}
	cfg, _ := r.lookup("requestParameters", "LifecycleConfiguration")
	rules, _ := member(cfg, "Rule")
	var best int64
	found := false
	for _, rule := range items(rules) {
		if !strings.EqualFold(textOf(rule, "Status"), "Enabled") {
			continue
		}
		for _, p := range [][2]string{{"Expiration", "Days"}, {"NoncurrentVersionExpiration", "NoncurrentDays"}} {
			e, _ := member(rule, p[0])
			v, ok := member(e, p[1])
			if !ok {
				continue
			}
			d, err := strconv.ParseInt(text(v), 10, 64)
			if err != nil {
				continue
			}
			if !found || d < best {
				best, found = d, true
			}
		}
	}
	return best, found
}
