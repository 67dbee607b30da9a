package workload

import (
	"slices"

	"github.com/mamori-dev/mamori/policy"
)

// Result is a finding with the mode it applies in and the policies that
// decided it.
type Result struct {
	Finding
	// Mode is enforce when an enforcing policy refuses the setting, audit
	// when only auditing ones report it.
	Mode     policy.Mode `json:"mode"`
	Policies []string    `json:"policies"`
}

// Verdict is every finding about one workload under the policies that
// apply to it.
type Verdict struct {
	Results []Result `json:"results"`
}

// Denied reports whether an enforcing policy refuses the workload.
func (v *Verdict) Denied() bool {
	return slices.ContainsFunc(v.Results, func(r Result) bool { return r.Mode == policy.Enforce })
}

// Mode returns the results in mode m.
func (v *Verdict) Mode(m policy.Mode) []Result {
	var out []Result
	for _, r := range v.Results {
		if r.Mode == m {
			out = append(out, r)
		}
	}
	return out
}

// Policies merges the policies that apply to a target; *policy.Set is
// one, and a fixed list of parsed policies can be one through
// policy.Merge.
type Policies interface {
	Effective(t *policy.Target) *policy.Effective
}

// Evaluate checks spec against every policy of set whose scope covers it.
// Scopes are matched per container (a policy may apply to one image and
// not another); a pod-level setting is refused if the policies of any of
// its containers refuse it. A finding under the enforcing policies is in
// mode enforce; one only the auditing policies raise is in mode audit.
func (k *Checker) Evaluate(spec *Spec, set Policies) Verdict {
	var v Verdict
	seen := map[string]int{} // finding → its index in v.Results
	addAll := func(fs []Finding, mode policy.Mode, tier *policy.Tier) {
		for _, f := range fs {
			r := Result{Finding: f, Mode: mode, Policies: policiesOf(tier, f)}
			i, ok := seen[f.key()]
			switch {
			case !ok:
				seen[f.key()] = len(v.Results)
				v.Results = append(v.Results, r)
			case mode == policy.Enforce && v.Results[i].Mode != policy.Enforce:
				v.Results[i] = r // a pod-level setting another container's policies enforce
			}
		}
	}
	evalOne := func(t *policy.Target, fn func(*policy.Controls) []Finding) {
		eff := set.Effective(t)
		addAll(fn(&eff.Enforce.Controls), policy.Enforce, &eff.Enforce)
		addAll(fn(&eff.Audit.Controls), policy.Audit, &eff.Audit)
	}
	if len(spec.Containers) == 0 {
		evalOne(spec.Target(nil), func(c *policy.Controls) []Finding { return k.pod(spec, c) })
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		evalOne(spec.Target(c), func(ctl *policy.Controls) []Finding {
			return append(k.pod(spec, ctl), k.container(spec, c, ctl)...)
		})
	}
	// Enforced findings first, each group in check order.
	slices.SortStableFunc(v.Results, func(a, b Result) int {
		switch {
		case a.Mode == b.Mode:
			return 0
		case a.Mode == policy.Enforce:
			return -1
		}
		return 1
	})
	return v
}

// policiesOf names the policies that turned on the setting behind f:
// the block-list element when the control has one, else the control.
func policiesOf(t *policy.Tier, f Finding) []string {
	origins := t.From[f.Control+".block["+f.Check+"]"]
	if len(origins) == 0 {
		origins = t.From[f.Control]
	}
	var names []string
	for _, o := range origins {
		if !slices.Contains(names, o.Policy) {
			names = append(names, o.Policy)
		}
	}
	return names
}

// Target is what a policy scope is matched against for container c (nil
// for a pod without containers): the container's name and environment
// variable names, its image, and the pod's Kubernetes identity.
func (s *Spec) Target(c *Container) *policy.Target {
	t := &policy.Target{Container: &policy.ContainerFacts{}}
	if c != nil {
		t.Container.Name, t.Container.Env = c.Name, c.Env
		t.Image = policy.ParseImageRef(c.Image)
		if t.Image.Name != "" && t.Image.Tag == "" && t.Image.Digest == "" {
			t.Image.Tag = "latest"
		}
	}
	t.Kubernetes = policy.KubernetesFacts{Namespace: s.Namespace, Pod: s.Pod, Deployment: s.Deployment, Labels: s.Labels}
	if t.Kubernetes.Deployment == "" && s.Kind == "Deployment" {
		t.Kubernetes.Deployment = s.Name
	}
	return t
}
