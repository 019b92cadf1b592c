package alert

import (
	"fmt"
	"maps"
	"math"
	"strings"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/sigma"
)

// Strength says what carried a rule's match on an alert event.
type Strength int

// Strengths, weakest first.
const (
	// StrengthNone: the rule does not match the event, or is not an
	// alert rule (its logsource product is not "alert").
	StrengthNone Strength = iota
	// StrengthText: only the free text (AlertText) makes the rule match.
	StrengthText
	// StrengthStructured: the structured fields alone make it match
	// (signature, category, tags, type, indicators, URL, command line,
	// user agent, file, query, hashes and the sender's other keys).
	StrengthStructured
	// StrengthCorroborated: text and structured fields each make it
	// match on their own, or the rule needs both together.
	StrengthCorroborated
)

func (s Strength) String() string {
	switch s {
	case StrengthText:
		return "text"
	case StrengthStructured:
		return "structured"
	case StrengthCorroborated:
		return "corroborated"
	}
	return "none"
}

// Evidence is what Scorer found about one match.
type Evidence struct {
	Strength Strength
	Hedged   bool // the alert says "possible", "potential", "suspected" …
}

// Confidence adjustments; docs/alerts.md explains them.
const (
	TextPenalty      = 0.15 // a keyword in free text is weaker than a signature
	CorroborateBonus = 0.05 // text and structure agree
	HedgePenalty     = 0.05 // the sender itself is unsure
	MaxText          = 0.90 // a text-only match never scores above this
	MaxAlert         = 0.95 // an alert is another tool's judgement, never certain
	MinAlert         = 0.05
)

// Confidence adjusts base, the rule-derived confidence
// (finding.Confidence: level and status), by the evidence:
//
//	structured     base
//	corroborated   base + 0.05
//	text only      min(base − 0.15, 0.90)
//	hedged         − 0.05 more
//
// clamped to [0.05, 0.95] and rounded to two decimals. StrengthNone
// returns base unchanged.
func Confidence(base float64, e Evidence) float64 {
	if e.Strength == StrengthNone || math.IsNaN(base) {
		return base
	}
	c := base
	switch e.Strength {
	case StrengthCorroborated:
		c += CorroborateBonus
	case StrengthText:
		c = min(c-TextPenalty, MaxText)
	}
	if e.Hedged {
		c -= HedgePenalty
	}
	c = min(max(c, MinAlert), MaxAlert)
	return math.Round(c*100) / 100
}

// textFields are the free-text fields; contextFields describe where the
// alert happened, not what it is, and stay in both halves of the test.
var (
	textFields    = []string{FieldText, FieldMessage}
	contextFields = []string{
		FieldSourceIP, FieldSourceHost, FieldSourcePort, FieldDestIP, FieldDestHost, FieldDestPort,
		FieldProtocol, FieldUser, FieldService, FieldSeverity, FieldAction, event.FieldComputer,
	}
)

// Scorer tells, for a rule match on an alert event, whether the free text
// or the structured fields carried it, by matching the rule again on the
// event without its text fields and on the event with only its text (plus
// the context fields). It holds the alert rules compiled once; it is
// immutable and safe for concurrent use.
type Scorer struct {
	regexes  *sigma.RegexCache
	matchers map[*sigma.Rule]*sigma.Matcher
}

// NewScorer compiles the rules whose logsource product is "alert" (others
// are ignored). A rule that fails to compile is left out and reported; the
// scorer works with the rest.
func NewScorer(rules []*sigma.Rule) (*Scorer, []error) {
	s := &Scorer{regexes: sigma.NewRegexCache(), matchers: map[*sigma.Rule]*sigma.Matcher{}}
	var errs []error
	for _, r := range rules {
		if !IsAlertRule(r) {
			continue
		}
		m, err := s.compile(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.matchers[r] = m
	}
	return s, errs
}

// IsAlertRule reports whether r is written for alert events (logsource
// product "alert").
func IsAlertRule(r *sigma.Rule) bool {
	return r != nil && r.Correlation == nil && r.Filter == nil && strings.EqualFold(r.Logsource.Product, Product)
}

func (s *Scorer) compile(r *sigma.Rule) (*sigma.Matcher, error) {
	m, err := sigma.Compile(r, sigma.Target{}, sigma.Options{Regexes: s.regexes})
	if err != nil {
		return nil, fmt.Errorf("alert rule %s: %w", r.Title, err)
	}
	return m, nil
}

// Evidence classifies the match of r on ev. A rule the scorer was not built
// with is compiled for this call only. Non-alert rules, nil arguments and
// rules that do not match give StrengthNone.
func (s *Scorer) Evidence(r *sigma.Rule, ev *event.Event) Evidence {
	if s == nil || ev == nil || !IsAlertRule(r) {
		return Evidence{}
	}
	m := s.matchers[r]
	if m == nil {
		var err error
		if m, err = s.compile(r); err != nil {
			return Evidence{}
		}
	}
	e := Evidence{Hedged: Hedged(ev.Fields)}
	if !m.Match(ev) {
		return Evidence{}
	}
	structured := m.Match(withoutText(ev))
	text := m.Match(onlyText(ev))
	switch {
	case structured && !text:
		e.Strength = StrengthStructured
	case text && !structured:
		e.Strength = StrengthText
	default: // both alone, or only together
		e.Strength = StrengthCorroborated
	}
	return e
}

// Score is Confidence(base, s.Evidence(r, ev)).
func (s *Scorer) Score(r *sigma.Rule, ev *event.Event, base float64) float64 {
	return Confidence(base, s.Evidence(r, ev))
}

func withoutText(ev *event.Event) *event.Event {
	c := *ev
	c.Message = ""
	c.Fields = maps.Clone(ev.Fields)
	for _, f := range textFields {
		delete(c.Fields, f)
	}
	return &c
}

func onlyText(ev *event.Event) *event.Event {
	c := *ev
	c.Fields = make(map[string]string, len(textFields)+len(contextFields))
	for _, f := range append(textFields[:len(textFields):len(textFields)], contextFields...) {
		if v, ok := ev.Fields[f]; ok {
			c.Fields[f] = v
		}
	}
	return &c
}
