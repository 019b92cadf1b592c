package alert

import (
	"regexp"
	"strings"
)

// Negation handling (a small NegEx): alert text often says what was *not*
// seen ("No SQL injection found", "scan not detected", "brute force
// attempt blocked, no account locked"). A keyword rule must not fire on
// those, so the text the rules match (AlertText) is the message with the
// negated parts cut out:
//
//   - the text is split into clauses at sentence ends, semicolons, line
//     breaks, ", " and the conjunctions but/however/although/though/whereas;
//   - a clause holding a post-negation phrase ("not found", "not detected",
//     "false positive", "ruled out" …) is dropped whole;
//   - otherwise a clause is cut from its first negation cue (no, not,
//     never, without, none, nothing, neither, nor, absence of, free of, a
//     "n't" contraction) to its end, so "brute force attack not blocked"
//     keeps "brute force attack".
var (
	clauseSep = regexp.MustCompile(`(?i)[.!?;]+(?:\s+|$)|\n+|,\s+|\s+(?:but|however|although|though|whereas)\s+`)
	postNeg   = regexp.MustCompile(`(?i)\b(?:(?:not|never|wasn't|weren't|isn't)\s+(?:been\s+)?(?:found|detected|observed|seen|present|confirmed|identified|matched|triggered)|false[\s-]positive|ruled\s+out|negative\s+for)\b`)
	preNeg    = regexp.MustCompile(`(?i)\b(?:no|not|never|without|none|nothing|neither|nor|absence\s+of|free\s+of|\w+n't)\b`)
)

// StripNegated returns s with its negated clauses and clause tails removed
// (see above); the kept text is unchanged, and each removed part becomes
// one space.
func StripNegated(s string) string {
	if s == "" {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	start := 0
	emit := func(clause, sep string) {
		b.WriteString(keepClause(clause))
		b.WriteString(sep)
	}
	for _, loc := range clauseSep.FindAllStringIndex(s, -1) {
		if s[loc[0]] == '.' && endsWithNo(s[start:loc[0]]) {
			continue // "rule no. 942100": an abbreviation, not a sentence end
		}
		emit(s[start:loc[0]], s[loc[0]:loc[1]])
		start = loc[1]
	}
	emit(s[start:], "")
	return strings.TrimSpace(b.String())
}

// endsWithNo reports whether s ends with the word "no" (any case).
func endsWithNo(s string) bool {
	if len(s) < 2 || !strings.EqualFold(s[len(s)-2:], "no") {
		return false
	}
	if len(s) == 2 {
		return true
	}
	c := s[len(s)-3]
	return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_')
}

// keepClause returns the part of one clause that is not negated.
func keepClause(c string) string {
	if postNeg.MatchString(c) {
		return " "
	}
	for _, loc := range preNeg.FindAllStringIndex(c, -1) {
		// "no." / "No:" followed by a number is "number", not a negation.
		if loc[1] < len(c) && (c[loc[1]] == '.' || c[loc[1]] == ':') && strings.EqualFold(c[loc[0]:loc[1]], "no") {
			continue
		}
		return c[:loc[0]] + " "
	}
	return c
}

// hedge finds wording that says the sender itself is unsure.
var hedge = regexp.MustCompile(`(?i)\b(?:possible|possibly|potential|potentially|suspected|probable|probably|likely|may\s+be|might\s+be|could\s+be)\b`)

// Hedged reports whether the alert's own words (its text or signature)
// say it is unsure: "Possible", "Potential", "Suspected" ….
func Hedged(fields map[string]string) bool {
	return hedge.MatchString(fields[FieldMessage]) || hedge.MatchString(fields[FieldSignature])
}
