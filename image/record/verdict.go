package record

// Verdict is an image's standing against the image assurance policies
// that cover it: compliant, or not with every reason.
type Verdict struct {
	Compliant bool `json:"compliant"`
	// Policies are the names of the policies that judged the image.
	Policies []string `json:"policies"`
	Reasons  []Reason `json:"reasons,omitempty"`
}

// Reason is one way the image breaks a policy.
type Reason struct {
	Policy string `json:"policy"`
	// Rule is the policy rule broken (maxSeverity, blockMalware, ...).
	Rule string `json:"rule"`
	// Where is the rule's place in the policy file.
	Where   string  `json:"where"`
	Message string  `json:"message"`
	Finding Finding `json:"finding"`
}
