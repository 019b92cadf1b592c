// Package sigma parses Sigma rules (detection rules, correlation rules and
// meta filters, specification v2.1) from YAML and compiles detection rules
// into immutable matchers over *event.Event.
//
// The life of a rule:
//
//	rules, err := sigma.Parse(r, "rule.yml")          // YAML → *Rule (positioned *Error)
//	targets, known := sigma.DefaultMapping().Targets(rule.Logsource)
//	m, err := sigma.Compile(rule, targets[0], opts)    // *Rule + Target → *Matcher
//	if m.Match(ev) { … }                               // safe for concurrent use
//
// Parse checks everything that does not depend on the target: the document
// shape, value types, modifier names and combinations, and the condition
// (syntax and identifiers). Compile applies the target's field map, expands
// placeholders, runs the value transformations (windash, base64, utf16 …),
// compiles regular expressions through a shared RegexCache and produces a
// tree of small matchers. The parsed Rule is never modified.
//
// # Matching semantics
//
//   - Values are strings. Matching is case-insensitive (Unicode simple case
//     folding, the relation strings.EqualFold uses) unless the |cased
//     modifier is given; regular expressions are case-sensitive unless |re|i.
//   - A plain value may hold the wildcards * and ? (one character); \* \?
//     and \\ escape them, a backslash before any other character is literal.
//   - YAML numbers and booleans are compared as the text written in the rule
//     (4624 matches "4624", 0x17 matches "0x17"); booleans become "true" or
//     "false".
//   - null matches a field that is absent or empty; the empty string (a
//     quoted empty scalar) matches a field that is present and empty. Any
//     other value never matches an absent field.
//   - A list of values is an OR (|all makes it an AND); a map is an AND of its
//     fields; a list of maps is an OR of the maps.
//   - Keywords (a list of plain values under a search identifier, or a
//     field-less key such as '|all') match when the keyword occurs anywhere
//     (substring) in any field value of the event or in Event.Message.
//   - |neq matches a present field whose value matches none of the values.
//   - |fieldref compares with the value of another field of the same event
//     (equality, or contains/startswith/endswith when given); it fails when
//     either field is absent.
//   - |gt |gte |lt |lte compare numerically (decimal, or 0x hex for integers);
//     a non-numeric event value never matches.
//   - Time modifiers (|minute |hour |day |week |month |year) extract that part
//     of a timestamp field (RFC 3339 or "2006-01-02 15:04:05") and compare it
//     with the number given (equality, or with |gt … when combined).
//
// # Conditions
//
// and, or, not (case-insensitive), parentheses, "1 of p", "any of p", "all of
// p" and "N of p" (at least N) where p is a search identifier, a pattern with
// * wildcards, or "them" (every identifier not starting with _). Precedence
// from loosest: or, and, not, "x of", parentheses. A list of conditions is
// their OR. Unknown identifiers, patterns matching nothing and Sigma 1.x
// aggregations (| count() …) are parse errors.
//
// # Targets
//
// A Target (from Mapping.Targets; the table is mapping.yml) names the
// channel, provider, event IDs and extra field values of the events a
// logsource stands for, and renames rule fields (Security 4688 has
// NewProcessName where Sysmon 1 has Image). Match checks the target before
// the detection; Matcher.EventIDs lets a caller index matchers by event ID.
//
// # Not compiled here
//
// Correlation rules are parsed into Correlation (the detect stage keeps the
// windows); meta filters are parsed into Filter and merged into the rules
// they name by ApplyFilters before compiling.
package sigma

import (
	"fmt"
	"time"
)

// Rule is one parsed Sigma document: a detection rule, a correlation rule
// (Correlation != nil) or a meta filter (Filter != nil).
type Rule struct {
	ID, Name, Title, Status, Level, Description, Author, Date, Modified string
	Tags, References, FalsePositives, Fields                            []string

	Logsource   Logsource
	Correlation *Correlation // non-nil for a correlation document
	Filter      *Filter      // non-nil for a meta filter document

	File string // where the document comes from, as given to Parse
	Line int    // line where the document starts

	det *detection // parsed detection (or the filter's selection); never mutated after Parse
}

// Logsource is the logsource section of a rule.
type Logsource struct{ Product, Category, Service, Definition string }

// Correlation is the correlation section of a correlation rule.
type Correlation struct {
	Type     string                       // event_count, value_count, temporal, temporal_ordered, value_sum, value_avg, value_percentile
	Rules    []string                     // referenced rule names or ids, in order
	GroupBy  []string                     // group-by fields (or aliases)
	Timespan time.Duration                // the time window
	Field    string                       // the condition's field (value_count, value_sum …); the first one when several are given
	Op       string                       // gt gte lt lte eq neq — the first threshold
	Value    float64                      // the first threshold's value
	Generate bool                         // also emit matches of the referenced rules
	Aliases  map[string]map[string]string // alias field -> rule name/id -> field

	// Thresholds holds every criterion of the condition (a range such as
	// {gt: 100, lte: 200} gives two), in document order; Op/Value is the
	// first one. For temporal types without a condition it is
	// [{gte, len(Rules)}], as pySigma does.
	Thresholds []Threshold
	// ConditionFields holds every field of the condition (a list is allowed
	// and means AND); Field is its first element.
	ConditionFields []string
}

// Threshold is one criterion of a correlation condition.
type Threshold struct {
	Op    string // gt gte lt lte eq neq
	Value float64
}

// Holds reports whether n satisfies the threshold.
func (t Threshold) Holds(n float64) bool {
	switch t.Op {
	case "gt":
		return n > t.Value
	case "gte":
		return n >= t.Value
	case "lt":
		return n < t.Value
	case "lte":
		return n <= t.Value
	case "eq":
		return n == t.Value
	case "neq":
		return n != t.Value
	}
	return false
}

// Holds reports whether n satisfies every threshold of the condition.
func (c *Correlation) Holds(n float64) bool {
	for _, t := range c.Thresholds {
		if !t.Holds(n) {
			return false
		}
	}
	return len(c.Thresholds) > 0
}

// Filter is the filter section of a meta filter document. Its selection and
// condition are kept in the Rule's parsed detection; its log source is the
// Rule's Logsource. See ApplyFilters.
type Filter struct {
	Rules []string // ids or names of the rules it applies to; nil with Any
	Any   bool     // rules: any — applies to every rule with a matching log source
}

// Error is a problem at a position of a rule file.
type Error struct {
	File      string
	Line, Col int // 1-based; 0 when unknown
	Err       error
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %v", e.File, e.Line, e.Col, e.Err)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// IsDetection reports whether r is a plain detection rule (neither a
// correlation nor a filter).
func (r *Rule) IsDetection() bool { return r.Correlation == nil && r.Filter == nil }

// SearchNames returns the search identifiers of the detection in document
// order (nil for a correlation rule).
func (r *Rule) SearchNames() []string {
	if r.det == nil {
		return nil
	}
	return append([]string(nil), r.det.order...)
}

// ConditionText returns the condition(s) as written in the rule.
func (r *Rule) ConditionText() []string {
	if r.det == nil {
		return nil
	}
	out := make([]string, len(r.det.conds))
	for i, c := range r.det.conds {
		out[i] = c.src
	}
	return out
}
