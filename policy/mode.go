package policy

// Mode says what a policy does when a control is violated.
type Mode string

const (
	// Enforce refuses what the controls forbid, with the strongest
	// mechanism the node has, and reports it.
	Enforce Mode = "enforce"
	// Audit only reports what the controls would refuse.
	Audit Mode = "audit"
)

// Stricter reports whether m is stricter than o: enforce beats audit.
func (m Mode) Stricter(o Mode) bool { return m == Enforce && o != Enforce }

func (m Mode) valid() bool { return m == Enforce || m == Audit }
