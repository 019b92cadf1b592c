package sigma

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ttpmap/ttpmap/event"
)

// Literal is one needle of a matcher's prefilter: a string that occurs, in
// folded form, in the value of Field.
type Literal struct {
	Field  string // event field, after the target's field map; AnyField for keywords
	Needle string // folded (see AppendFold), non-empty
}

// AnyField is the Literal.Field of keyword needles: the needle occurs in
// the value of some field or in Event.Message.
const AnyField = ""

// Prefilter returns a necessary literal condition of the matcher: when ok,
// every event the matcher matches has, for at least one of lits, the field
// Literal.Field present with a value whose folded form (AppendFold)
// contains Literal.Needle (for AnyField: some field value, or the message). A caller may therefore skip Match for an event
// where no needle occurs. ok is false when no such condition was found (a
// keyword search, a negation, a regular expression without a required
// literal, …); such a matcher must always be run.
//
// The condition is derived from the compiled rule: an AND keeps its most
// selective operand, an OR needs a condition on every operand and takes
// their union, a field needs one on every value (the longest literal each
// value must contain). The target's own conditions are not included.
func (m *Matcher) Prefilter() (lits []Literal, ok bool) {
	return m.lits, m.litsOK
}

// AppendFold appends the folded form of s to dst: every rune replaced by the
// canonical representative of its Unicode simple-folding orbit (lower-case
// ASCII where the orbit has an ASCII letter), invalid bytes by U+FFFD. It is
// the form Prefilter needles are given in, and is the identity on ASCII
// text without upper-case letters.
func AppendFold(dst []byte, s string) []byte {
	for _, r := range s {
		if r < utf8.RuneSelf {
			dst = append(dst, lowerASCII[r])
			continue
		}
		dst = utf8.AppendRune(dst, foldRune(r))
	}
	return dst
}

// litSet is a candidate prefilter: needles by field.
type litSet []Literal

// needleCost estimates the chance that a folded needle occurs in an
// unrelated value: short needles and pieces of common values hit often.
func needleCost(n string) float64 {
	var p float64
	switch {
	case len(n) == 1:
		p = 1
	case len(n) == 2:
		p = 0.5
	case len(n) == 3:
		p = 0.2
	case len(n) == 4:
		p = 0.1
	case len(n) == 5:
		p = 0.05
	case len(n) <= 7:
		p = 0.02
	default:
		p = 0.01
	}
	for _, common := range commonNeedles {
		if strings.Contains(common, n) {
			return max(p, 0.5)
		}
	}
	return p
}

// commonNeedles are values or pieces of values found in most Windows
// events; a needle contained in one of them is a poor filter.
var commonNeedles = []string{
	`c:\windows\system32\`, `c:\windows\syswow64\`, `c:\program files (x86)\`,
	`c:\users\`, `\appdata\local\temp\`, `\appdata\roaming\`, `c:\programdata\`,
	`.exe`, `.dll`, `windows`, `microsoft`, `system32`, `-command`, `.ps1`,
	`microsoft corporation`, `microsoft® windows® operating system`, `nt authority\system`,
	`\cmd.exe`, `\conhost.exe`, `\svchost.exe`, `\powershell.exe`, `\rundll32.exe`,
	`\dllhost.exe`, `\explorer.exe`, `\services.exe`, `\msiexec.exe`, `\wmiprvse.exe`,
	`\taskhostw.exe`, `\runtimebroker.exe`, `\backgroundtaskhost.exe`,
}

// fieldCost weighs needles by field: the event index already selects by
// channel, event ID and provider, so needles there select nothing more,
// and keyword needles are searched in every value.
func fieldCost(f string) float64 {
	switch f {
	case event.FieldEventID, event.FieldChannel, event.FieldProvider:
		return 1000
	case AnyField:
		return 4
	case "IntegrityLevel", "User", "ParentUser", "LogonType", "TerminalSessionId":
		return 20 // a handful of distinct values
	}
	return 1
}

func (s litSet) cost() float64 {
	c := 0.0
	for _, l := range s {
		c += needleCost(l.Needle) * fieldCost(l.Field)
	}
	return c
}

// unionLits merges sets, dropping duplicates.
func unionLits(sets ...litSet) litSet {
	var out litSet
	for _, s := range sets {
		for _, l := range s {
			if !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
	}
	return out
}

// atLeast returns the condition of "at least n of sets" (ok[i] tells
// whether sets[i] exists): any len-n+1 operands hold a true one, so the
// union of the cheapest len-n+1 existing sets is necessary.
func atLeast(n int, sets []litSet, ok []bool) (litSet, bool) {
	need := len(sets) - n + 1
	if n < 1 || need < 1 {
		return nil, false
	}
	var have []litSet
	for i, s := range sets {
		if ok[i] {
			have = append(have, s)
		}
	}
	if len(have) < need {
		return nil, false
	}
	slices.SortStableFunc(have, func(a, b litSet) int {
		ca, cb := a.cost(), b.cost()
		switch {
		case ca < cb:
			return -1
		case ca > cb:
			return 1
		}
		return 0
	})
	return unionLits(have[:need]...), true
}

// prefilterOf derives the necessary literal condition of a compiled node.
func prefilterOf(n node) (litSet, bool) {
	combine := func(xs []node, k int) (litSet, bool) {
		sets := make([]litSet, len(xs))
		oks := make([]bool, len(xs))
		for i, x := range xs {
			sets[i], oks[i] = prefilterOf(x)
		}
		return atLeast(k, sets, oks)
	}
	switch n := n.(type) {
	case andNode:
		return combine(n, len(n))
	case orNode:
		return combine(n, 1)
	case ofNode:
		return combine(n.xs, n.n)
	case *fieldNode:
		if n.nullOK || n.neq {
			return nil, false
		}
		return groupsLits(n.field, n.groups, n.all)
	case *keywordNode:
		return groupsLits(AnyField, n.groups, n.all)
	}
	// notNode, existsNode, fieldrefNode: no literal is required.
	return nil, false
}

// groupsLits handles the value groups of one field (or of the keywords):
// every value of a group needs a needle (the group is an OR); with |all
// every group must match, so the best group suffices.
func groupsLits(field string, groups [][]vmatch, all bool) (litSet, bool) {
	if len(groups) == 0 {
		return nil, false
	}
	sets := make([]litSet, len(groups))
	oks := make([]bool, len(groups))
	for i, g := range groups {
		sets[i], oks[i] = groupLits(field, g)
	}
	if all {
		return atLeast(len(sets), sets, oks)
	}
	return atLeast(1, sets, oks)
}

func groupLits(field string, g []vmatch) (litSet, bool) {
	var out litSet
	for i := range g {
		ns, ok := g[i].needles()
		if !ok {
			return nil, false
		}
		for _, n := range ns {
			l := Literal{Field: field, Needle: n}
			if !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
	}
	return out, len(out) > 0
}

// needles returns folded strings one of which every value the matcher
// accepts contains.
func (m *vmatch) needles() ([]string, bool) {
	var lit string
	switch m.op {
	case opEq, opPrefix, opSuffix, opContains:
		lit = m.n
	case opGlob:
		for _, t := range m.toks {
			if t.kind == 0 && len(t.lit) > len(lit) {
				lit = t.lit
			}
		}
	case opRe:
		lits, ok := regexNeedles(m.re.String())
		if !ok {
			return nil, false
		}
		for _, l := range lits {
			if !usableNeedle(l) {
				return nil, false
			}
		}
		return lits, true
	default:
		return nil, false
	}
	if m.cased {
		// A case-sensitive match is also a case-insensitive one, as long
		// as the needle is text.
		if !utf8.ValidString(lit) {
			return nil, false
		}
		lit = foldString(lit)
	}
	if !usableNeedle(lit) {
		return nil, false
	}
	return []string{lit}, true
}

// usableNeedle rejects empty needles and those holding U+FFFD, which
// invalid bytes fold to and which the matchers treat differently at the
// edges of a value. Short needles are kept: at worst they pass every event
// (as no prefilter does), and one rare byte ('^', '`') still selects well.
func usableNeedle(n string) bool {
	return n != "" && !strings.ContainsRune(n, utf8.RuneError)
}

// maxRegexNeedles bounds the needles taken from one regular expression.
const maxRegexNeedles = 64

// regexNeedles returns folded literals one of which every match of expr
// contains.
func regexNeedles(expr string) ([]string, bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, false
	}
	return reLits(re.Simplify())
}

func reLits(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		s := foldString(string(re.Rune))
		return []string{s}, usableNeedle(s)
	case syntax.OpCapture, syntax.OpPlus:
		return reLits(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return reLits(re.Sub[0])
		}
	case syntax.OpAlternate:
		var out []string
		for _, s := range re.Sub {
			ls, ok := reLits(s)
			if !ok {
				return nil, false
			}
			for _, l := range ls {
				if !slices.Contains(out, l) {
					out = append(out, l)
				}
			}
		}
		return out, len(out) > 0 && len(out) <= maxRegexNeedles
	case syntax.OpConcat:
		var best []string
		bestCost := 0.0
		consider := func(ls []string) {
			c := 0.0
			for _, l := range ls {
				c += needleCost(l)
			}
			if best == nil || c < bestCost {
				best, bestCost = ls, c
			}
		}
		var run strings.Builder
		flush := func() {
			if s := run.String(); usableNeedle(s) {
				consider([]string{s})
			}
			run.Reset()
		}
		for _, s := range re.Sub {
			if s.Op == syntax.OpLiteral {
				run.WriteString(foldString(string(s.Rune)))
				continue
			}
			flush()
			if ls, ok := reLits(s); ok {
				consider(ls)
			}
		}
		flush()
		return best, best != nil
	}
	return nil, false
}
