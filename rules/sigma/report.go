package sigma

import "fmt"

// Reason is the class of a rule's untranslatability.
type Reason string

const (
	// ReasonAggregation: the rule counts or correlates events in a way
	// mamori's stateful rules cannot decide as events arrive (an upper
	// bound such as count() < 5, near ... and not).
	ReasonAggregation Reason = "aggregation"
	// ReasonCorrelation: a Sigma correlation rule naming rules not
	// translated before it, or of an ordered type; or a Sigma filter.
	ReasonCorrelation Reason = "correlation"
	// ReasonKeywords: a selection searches for keywords anywhere in the
	// event rather than in a field.
	ReasonKeywords Reason = "keywords"
	// ReasonField: a field the log source's events do not have.
	ReasonField Reason = "field"
	// ReasonModifier: a value modifier, or a combination of them, that the
	// Falco condition language cannot express on the field.
	ReasonModifier Reason = "modifier"
	// ReasonPlaceholder: a value that is a placeholder (the expand
	// modifier) for a list the user must supply.
	ReasonPlaceholder Reason = "placeholder"
	// ReasonRegex: a regular expression using syntax that RE2, the engine's
	// regular expression library, lacks (lookaround, backreferences).
	ReasonRegex Reason = "regex"
	// ReasonLogsource: a log source other than aws/cloudtrail and
	// kubernetes/audit, or one whose events the caller does not evaluate.
	ReasonLogsource Reason = "logsource"
	// ReasonInvalid: the document is not a valid Sigma rule.
	ReasonInvalid Reason = "invalid"
	// ReasonEngine: the translation did not load in the rule engine. It
	// is a bug in the translator, reported rather than hidden.
	ReasonEngine Reason = "engine"
)

// Untranslated is a Sigma rule that was not translated, and why.
type Untranslated struct {
	File   string // the file holding the rule
	Doc    int    // the rule's YAML document in the file, from 1
	Title  string // the rule's title, if it has one
	ID     string // the rule's id, if it has one
	Reason Reason
	Detail string // what exactly could not be translated
}

func (u Untranslated) String() string {
	title := u.Title
	if title == "" {
		title = fmt.Sprintf("document %d", u.Doc)
	}
	return fmt.Sprintf("%s: Sigma rule %q not translated (%s): %s", u.File, title, u.Reason, u.Detail)
}

// problem is an untranslatable construct met while translating one rule.
type problem struct {
	reason Reason
	detail string
}

func (p *problem) Error() string { return string(p.reason) + ": " + p.detail }

func fail(r Reason, format string, args ...any) *problem {
	return &problem{reason: r, detail: fmt.Sprintf(format, args...)}
}
