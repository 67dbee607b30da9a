package cloudtrail

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mamori-dev/mamori/rules"
)

// evaluation is what a Detector hands the rules for one record: the
// record, and the facts the records read before it establish. The
// catalogue's extractors accept it wherever they accept a *Record.
type evaluation struct {
	rec   *Record
	facts facts
}

// facts are the stateful answers about one record, worked out once
// before the rules run, so that a field read by several rules, or in an
// output, gives the same answer and the state moves once per record.
type facts struct {
	tag            bool   // a PutImage naming a repository:tag
	tagOverwritten bool   // ... that an earlier push of this scan left at another digest
	previousDigest string // ... that digest
	group          bool   // the record names a group
	groupAdmin     bool   // ... which earlier records gave all of IAM
}

// asRecord returns the record an extractor was given, bare or inside an
// evaluation.
func asRecord(evt any) *Record {
	if e, ok := evt.(*evaluation); ok {
		return e.rec
	}
	return evt.(*Record)
}

// scanState is what a Detector remembers across records: the digest
// each ECR repository:tag was last pushed to, and the IAM groups that were
// given all of IAM, each with the grants that did it. Only successful
// calls change it. It grows with the number of tags and admin groups
// seen, not with the records.
type scanState struct {
	tags       map[string]string          // registry/region/repository:tag -> digest
	adminGrant map[string]map[string]bool // account/group -> grants ("arn:...", "inline:NAME")
}

func newScanState() *scanState {
	return &scanState{tags: map[string]string{}, adminGrant: map[string]map[string]bool{}}
}

// observe works out r's facts from what came before, then records what r
// changes.
func (s *scanState) observe(r *Record) facts {
	var f facts
	name := eventName(r)
	switch name {
	case "PutImage", "AddUserToGroup", "AttachGroupPolicy", "DetachGroupPolicy",
		"PutGroupPolicy", "DeleteGroupPolicy", "DeleteGroup":
	default:
		return f
	}
	_, failed := r.lookup("errorCode")
	if name == "PutImage" {
		key, ok := tagKey(r)
		if !ok {
			return f
		}
		f.tag = true
		digest, ok := ecrDigest(r)
		if !ok || failed {
			return f
		}
		if prev, seen := s.tags[key]; seen && prev != digest {
			f.tagOverwritten, f.previousDigest = true, prev
		}
		s.tags[key] = digest
		return f
	}
	key, ok := groupKey(r)
	if !ok {
		return f
	}
	f.group = true
	f.groupAdmin = len(s.adminGrant[key]) > 0
	if failed {
		return f
	}
	policyName, _ := r.str("requestParameters", "policyName")
	switch name {
	case "AttachGroupPolicy", "DetachGroupPolicy":
		arn, _ := r.str("requestParameters", "policyArn")
		if isAdminManagedPolicy(arn) {
			s.grant(key, "arn:"+arn, name == "AttachGroupPolicy")
		}
	case "PutGroupPolicy":
		doc, ok := policyDocument(r)
		s.grant(key, "inline:"+policyName, ok && doc.grantsAdmin())
	case "DeleteGroupPolicy":
		s.grant(key, "inline:"+policyName, false)
	case "DeleteGroup":
		delete(s.adminGrant, key)
	}
	return f
}

// grant adds or removes one grant of all of IAM to a group.
func (s *scanState) grant(group, grant string, on bool) {
	g := s.adminGrant[group]
	if on {
		if g == nil {
			g = map[string]bool{}
			s.adminGrant[group] = g
		}
		g[grant] = true
		return
	}
	delete(g, grant)
	if len(g) == 0 {
		delete(s.adminGrant, group)
	}
}

// account is the account a call acts in.
func account(r *Record) string {
	if s, ok := r.str("recipientAccountId"); ok {
		return s
	}
	s, _ := r.str("userIdentity", "accountId")
	return s
}

// tagKey names the tag a PutImage moves: registry (the account, unless
// the request names one), region, repository and tag. A push by digest
// alone moves no tag.
func tagKey(r *Record) (string, bool) {
	repo, ok := r.str("requestParameters", "repositoryName")
	if !ok {
		return "", false
	}
	tag, ok := r.str("requestParameters", "imageTag")
	if !ok {
		if tag, ok = r.str("responseElements", "image", "imageId", "imageTag"); !ok {
			return "", false
		}
	}
	reg, ok := r.str("requestParameters", "registryId")
	if !ok {
		reg = account(r)
	}
	region, _ := r.str("awsRegion")
	return strings.Join([]string{reg, region, repo}, "/") + ":" + tag, true
}

func groupKey(r *Record) (string, bool) {
	g, ok := r.str("requestParameters", "groupName")
	if !ok || g == "" {
		return "", false
	}
	// IAM group names are unique without regard to case.
	return account(r) + "/" + strings.ToLower(g), true
}

// savedState is what a Detector's state marshals to: the rules' Memory
// and the scan's own memories, versioned.
type savedState struct {
	Version    int                        `json:"version"`
	Tags       map[string]string          `json:"ecr_tags"`
	AdminGrant map[string]map[string]bool `json:"admin_groups"`
	Rules      *rules.Memory              `json:"rules"`
}

const stateVersion = 1

// MarshalState returns what the Detector remembers of the records it
// was given (ECR tags and their digests, groups given all of IAM, and the
// windows and first sightings of the stateful rules), for a caller to save
// with its progress and give to UnmarshalState after a restart.
func (d *Detector) MarshalState() ([]byte, error) {
	return json.Marshal(savedState{Version: stateVersion, Tags: d.state.tags, AdminGrant: d.state.adminGrant, Rules: d.d.Memory()})
}

// UnmarshalState replaces what the Detector remembers with data from
// MarshalState. Windows of rules no longer loaded are dropped.
func (d *Detector) UnmarshalState(data []byte) error {
	s := savedState{Rules: rules.NewMemory()}
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("detector state: %w", err)
	}
	if s.Version != stateVersion {
		return fmt.Errorf("detector state of version %d, this mamori reads version %d", s.Version, stateVersion)
	}
	if s.Rules == nil {
		s.Rules = rules.NewMemory()
	}
	st := newScanState()
	for k, v := range s.Tags {
		st.tags[k] = v
	}
	for g, grants := range s.AdminGrant {
		for grant, on := range grants {
			if on {
				st.grant(g, grant, true)
			}
		}
	}
	d.state = st
	*d.d.Memory() = *s.Rules
	d.d.Memory().Forget(func(name string) bool { r := d.rules.Rule(name); return r != nil && r.Stateful != nil })
	return nil
}
