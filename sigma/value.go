package sigma

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// ptok is one element of a wildcard pattern.
type ptok struct {
	kind byte   // 0 literal, '*' any run, '?' one rune, 'd' one windash dash
	lit  string // for literals
}

// pattern is a parsed plain value. raw marks literals that are byte strings
// (after utf16 encoding) and must be compared byte for byte.
type pattern struct {
	toks []ptok
	raw  bool
}

// parseWildcards turns a Sigma plain value into a pattern: * and ? are
// wildcards, \* \? \\ are the escaped characters, and a backslash before any
// other character is literal.
func parseWildcards(s string) pattern {
	var toks []ptok
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			toks = append(toks, ptok{lit: b.String()})
			b.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i++
		case c == '*' || c == '?':
			flush()
			toks = append(toks, ptok{kind: c})
		default:
			b.WriteByte(c)
		}
	}
	flush()
	return pattern{toks: toks}
}

func literalPattern(s string) pattern {
	if s == "" {
		return pattern{}
	}
	return pattern{toks: []ptok{{lit: s}}}
}

// hasWildcards reports whether p holds anything but literals.
func (p pattern) hasWildcards() bool {
	for _, t := range p.toks {
		if t.kind != 0 {
			return true
		}
	}
	return false
}

func (p pattern) literal() string {
	var b strings.Builder
	for _, t := range p.toks {
		b.WriteString(t.lit)
	}
	return b.String()
}

// windash characters: hyphen-minus, slash, en dash, em dash, horizontal bar.
var windashChars = []string{"-", "/", "–", "—", "―"}

func isWindash(r rune) bool {
	return r == '-' || r == '/' || r == '–' || r == '—' || r == '―'
}

// maxWindashExpansion is how many variants windash may produce before the
// dashes are matched with a character class instead (the class keeps the
// semantics; expansion keeps the fast contains/startswith paths).
const maxWindashExpansion = 125

// windash expands every dash-like character of the literals into the five
// variants (all permutations), or into a class token when there are many.
func windash(p pattern) []pattern {
	n := 0
	for _, t := range p.toks {
		if t.kind == 0 {
			for _, r := range t.lit {
				if isWindash(r) {
					n++
				}
			}
		}
	}
	if n == 0 {
		return []pattern{p}
	}
	total := 1
	for i := 0; i < n && total <= maxWindashExpansion; i++ {
		total *= len(windashChars)
	}
	if total > maxWindashExpansion {
		var toks []ptok
		for _, t := range p.toks {
			if t.kind != 0 {
				toks = append(toks, t)
				continue
			}
			start := 0
			for i, r := range t.lit {
				if isWindash(r) {
					if i > start {
						toks = append(toks, ptok{lit: t.lit[start:i]})
					}
					toks = append(toks, ptok{kind: 'd'})
					start = i + utf8.RuneLen(r)
				}
			}
			if start < len(t.lit) {
				toks = append(toks, ptok{lit: t.lit[start:]})
			}
		}
		return []pattern{{toks: toks, raw: p.raw}}
	}
	out := []pattern{{raw: p.raw}}
	for _, t := range p.toks {
		if t.kind != 0 {
			for i := range out {
				out[i].toks = append(out[i].toks, t)
			}
			continue
		}
		start := 0
		appendLit := func(s string) {
			if s == "" {
				return
			}
			for i := range out {
				out[i].toks = append(out[i].toks, ptok{lit: s})
			}
		}
		for i, r := range t.lit {
			if !isWindash(r) {
				continue
			}
			appendLit(t.lit[start:i])
			start = i + utf8.RuneLen(r)
			next := make([]pattern, 0, len(out)*len(windashChars))
			for _, o := range out {
				for _, d := range windashChars {
					toks := append(append([]ptok(nil), o.toks...), ptok{lit: d})
					next = append(next, pattern{toks: toks, raw: o.raw})
				}
			}
			out = next
		}
		appendLit(t.lit[start:])
	}
	return out
}

// encodeUTF16 encodes the literals of p; wildcards stay wildcards.
func encodeUTF16(p pattern, order binary.AppendByteOrder, bom bool) pattern {
	out := pattern{raw: true}
	for i, t := range p.toks {
		if t.kind != 0 {
			out.toks = append(out.toks, t)
			continue
		}
		var buf []byte
		if bom && i == 0 {
			buf = order.AppendUint16(buf, 0xFEFF)
		}
		for _, u := range utf16.Encode([]rune(t.lit)) {
			buf = order.AppendUint16(buf, u)
		}
		out.toks = append(out.toks, ptok{lit: string(buf)})
	}
	if bom && (len(p.toks) == 0 || p.toks[0].kind != 0) {
		out.toks = append([]ptok{{lit: string(order.AppendUint16(nil, 0xFEFF))}}, out.toks...)
	}
	return out
}

// base64Offsets are the start and end trims of pySigma's base64offset: the
// value is prefixed with 0, 1 or 2 bytes, encoded, and the characters that
// depend on the unknown neighbouring bytes are cut off.
var (
	b64StartTrim = [3]int{0, 2, 3}
	b64EndTrim   = [3]int{0, 3, 2}
)

func base64Offset(b string) []string {
	out := make([]string, 0, 3)
	for i := 0; i < 3; i++ {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat(" ", i) + b))
		end := len(enc) - b64EndTrim[(len(b)+i)%3]
		start := b64StartTrim[i]
		if start > end {
			start = end
		}
		out = append(out, enc[start:end])
	}
	return out
}

// expandPlaceholders replaces %name% placeholders in s with every value the
// placeholder has (cartesian product when there are several); \% is a
// literal percent sign.
func expandPlaceholders(s string, ph map[string][]string) ([]string, error) {
	outs := []string{""}
	add := func(lit string) {
		for i := range outs {
			outs[i] += lit
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == '%':
			add("%")
			i += 2
		case c == '%':
			j := strings.IndexByte(s[i+1:], '%')
			if j < 0 {
				add(s[i:])
				i = len(s)
				continue
			}
			name := s[i+1 : i+1+j]
			vals, ok := ph[name]
			if !ok {
				return nil, fmt.Errorf("unknown placeholder %%%s%% (give its values with --placeholders FILE; Sigma requires rejecting a rule whose placeholder is unknown)", name)
			}
			if len(vals) == 0 {
				return nil, fmt.Errorf("placeholder %%%s%% has no values", name)
			}
			next := make([]string, 0, len(outs)*len(vals))
			for _, o := range outs {
				for _, v := range vals {
					next = append(next, o+v)
				}
			}
			if len(next) > 4096 {
				return nil, fmt.Errorf("placeholders expand to more than 4096 values")
			}
			outs = next
			i += j + 2
		default:
			add(string(c))
			i++
		}
	}
	return outs, nil
}

// Value matcher operations.
const (
	opEq byte = iota
	opPrefix
	opSuffix
	opContains
	opAny
	opGlob
	opRe
	opCIDR
	opCmp
	opTime
)

// vmatch tests one event value. It is a plain struct (not an interface) so
// a field's values sit contiguously and dispatch is a switch.
type vmatch struct {
	op     byte
	cased  bool
	n      string // needle (folded unless cased)
	nRunes int
	ascii  bool // n is ASCII: ASCII haystacks take the byte-wise fast paths
	anchor int  // opContains on ASCII: index of the rarest needle byte
	toks   []ptok
	// opGlob: the longest literal of toks, which every match contains;
	// searched first to reject most values without backtracking.
	req       string
	reqASCII  bool
	reqAnchor int
	re        *regexp.Regexp
	prefix    netip.Prefix
	cmp       string  // gt gte lt lte, or "" for equality (opCmp / opTime)
	num       float64 // opCmp / opTime
	part      string  // opTime: minute hour day week month year
}

// match tests s; ascii tells whether s is pure ASCII (the caller computes it
// once per value for all of a field's matchers).
func (m *vmatch) match(s string, ascii bool) bool {
	if ascii && !m.ascii && !m.cased && m.op <= opContains {
		// A folded non-ASCII needle rune only matches a non-ASCII rune.
		return false
	}
	switch m.op {
	case opEq:
		if m.cased {
			return s == m.n
		}
		if ascii && m.ascii {
			return equalASCIIFold(s, m.n)
		}
		return equalFold(s, m.n)
	case opPrefix:
		if m.cased {
			return strings.HasPrefix(s, m.n)
		}
		if ascii && m.ascii {
			return len(s) >= len(m.n) && equalASCIIFold(s[:len(m.n)], m.n)
		}
		_, ok := prefixFold(s, m.n)
		return ok
	case opSuffix:
		if m.cased {
			return strings.HasSuffix(s, m.n)
		}
		if ascii && m.ascii {
			return len(s) >= len(m.n) && equalASCIIFold(s[len(s)-len(m.n):], m.n)
		}
		return suffixFold(s, m.n, m.nRunes)
	case opContains:
		if m.cased {
			return strings.Contains(s, m.n)
		}
		if ascii && m.ascii {
			return indexASCIIFold(s, m.n, m.anchor) >= 0
		}
		return indexFold(s, m.n) >= 0
	case opAny:
		return true
	case opGlob:
		if m.req != "" {
			switch {
			case m.cased:
				if !strings.Contains(s, m.req) {
					return false
				}
			case ascii && m.reqASCII:
				if indexASCIIFold(s, m.req, m.reqAnchor) < 0 {
					return false
				}
			case ascii:
				return false // a non-ASCII folded literal needs a non-ASCII value
			case indexFold(s, m.req) < 0:
				return false
			}
		}
		return globMatch(s, m.toks, m.cased)
	case opRe:
		return m.re.MatchString(s)
	case opCIDR:
		s = strings.TrimSpace(s)
		if !maybeAddr(s) {
			return false // spares ParseAddr's error allocation
		}
		a, err := netip.ParseAddr(s)
		return err == nil && m.prefix.Contains(a.Unmap())
	case opCmp:
		f, ok := parseNumber(s)
		return ok && compare(f, m.cmp, m.num)
	case opTime:
		f, ok := timePart(s, m.part)
		return ok && compare(f, m.cmp, m.num)
	}
	return false
}

// maybeAddr reports whether s could parse as an IP address: before an
// IPv6 zone ('%'), only hex digits, dots and colons.
func maybeAddr(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i > 0:
			return true
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

func compare(a float64, op string, b float64) bool {
	switch op {
	case "gt":
		return a > b
	case "gte":
		return a >= b
	case "lt":
		return a < b
	case "lte":
		return a <= b
	}
	return a == b
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

func timePart(s, part string) (float64, bool) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		t, err := time.Parse(l, s)
		if err != nil {
			continue
		}
		switch part {
		case "minute":
			return float64(t.Minute()), true
		case "hour":
			return float64(t.Hour()), true
		case "day":
			return float64(t.Day()), true
		case "week":
			_, w := t.ISOWeek()
			return float64(w), true
		case "month":
			return float64(t.Month()), true
		case "year":
			return float64(t.Year()), true
		}
	}
	return 0, false
}

// globMatch matches s against a token pattern with single-point
// backtracking on the last *: O(len(s)·len(pattern)) at worst, no recursion.
func globMatch(s string, toks []ptok, cased bool) bool {
	si, ti := 0, 0
	starT, starS := -1, 0
	for {
		if ti < len(toks) {
			t := &toks[ti]
			switch t.kind {
			case '*':
				starT, starS = ti, si
				ti++
				continue
			case '?':
				if si < len(s) {
					_, sz := utf8.DecodeRuneInString(s[si:])
					si += sz
					ti++
					continue
				}
			case 'd':
				if si < len(s) {
					r, sz := utf8.DecodeRuneInString(s[si:])
					if isWindash(r) {
						si += sz
						ti++
						continue
					}
				}
			default:
				var end int
				var ok bool
				if cased {
					end, ok = prefixCased(s[si:], t.lit)
				} else {
					end, ok = prefixFold(s[si:], t.lit)
				}
				if ok {
					si += end
					ti++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if starT < 0 || starS >= len(s) {
			return false
		}
		_, sz := utf8.DecodeRuneInString(s[starS:])
		starS += sz
		si, ti = starS, starT+1
	}
}

// newStringMatcher builds the fastest matcher for a pattern.
func newStringMatcher(p pattern, cased bool) vmatch {
	// Normalise: merge stars, drop empty literals, join adjacent literals.
	var toks []ptok
	for _, t := range p.toks {
		switch {
		case t.kind == 0 && t.lit == "":
			continue
		case t.kind == '*' && len(toks) > 0 && toks[len(toks)-1].kind == '*':
			continue
		case t.kind == 0 && len(toks) > 0 && toks[len(toks)-1].kind == 0:
			toks[len(toks)-1].lit += t.lit
			continue
		}
		toks = append(toks, t)
	}
	if !cased {
		if p.raw {
			// Byte strings (utf16 output) are compared as bytes unless
			// they happen to be valid UTF-8 (ASCII text encoded as UTF-16
			// is: "c\x00m\x00d\x00").
			for _, t := range toks {
				if t.kind == 0 && !utf8.ValidString(t.lit) {
					cased = true
					break
				}
			}
		}
		if !cased {
			for i := range toks {
				if toks[i].kind == 0 {
					if !utf8.ValidString(toks[i].lit) {
						cased = true
						break
					}
				}
			}
		}
		if !cased {
			for i := range toks {
				if toks[i].kind == 0 {
					toks[i].lit = foldString(toks[i].lit)
				}
			}
		}
	}
	m := vmatch{cased: cased}
	lit := func(i int) bool { return i < len(toks) && toks[i].kind == 0 }
	star := func(i int) bool { return i < len(toks) && toks[i].kind == '*' }
	switch {
	case len(toks) == 0:
		m.op = opEq
	case len(toks) == 1 && lit(0):
		m.op, m.n = opEq, toks[0].lit
	case len(toks) == 1 && star(0):
		m.op = opAny
	case len(toks) == 2 && lit(0) && star(1):
		m.op, m.n = opPrefix, toks[0].lit
	case len(toks) == 2 && star(0) && lit(1):
		m.op, m.n = opSuffix, toks[1].lit
	case len(toks) == 3 && star(0) && lit(1) && star(2):
		m.op, m.n = opContains, toks[1].lit
	default:
		m.op, m.toks = opGlob, toks
	}
	if m.op == opGlob {
		for _, t := range toks {
			// U+FFFD also matches invalid bytes, which indexFold may
			// skip; such literals are left to globMatch alone.
			if t.kind == 0 && len(t.lit) > len(m.req) && !strings.ContainsRune(t.lit, utf8.RuneError) {
				m.req = t.lit
			}
		}
		m.reqASCII = isASCII(m.req)
		if m.reqASCII && !cased {
			m.reqAnchor = anchorFor(m.req)
		}
	}
	m.nRunes = utf8.RuneCountInString(m.n)
	m.ascii = isASCII(m.n)
	if m.op == opContains && m.ascii && !cased {
		m.anchor = anchorFor(m.n)
	}
	return m
}

// pcreConstructs lists PCRE features RE2 lacks, to name them in errors.
var pcreConstructs = []struct{ re, name string }{
	{`\(\?=`, "lookahead (?=…)"},
	{`\(\?!`, "negative lookahead (?!…)"},
	{`\(\?<=`, "lookbehind (?<=…)"},
	{`\(\?<!`, "negative lookbehind (?<!…)"},
	{`\(\?>`, "atomic group (?>…)"},
	{`\\[1-9]`, "backreference \\N"},
	{`\\k[<{']`, "named backreference \\k<…>"},
	{`[*+?}]\+`, "possessive quantifier"},
	{`\(\?R\)|\(\?[0-9]+\)`, "recursion"},
	{`\\[GZ]`, "anchor \\G/\\Z"},
	{`\(\?\|`, "branch reset (?|…)"},
	{`\\[hHVR]`, "escape \\h/\\H/\\V/\\R"},
}

var pcreConstructREs = func() []*regexp.Regexp {
	out := make([]*regexp.Regexp, len(pcreConstructs))
	for i, c := range pcreConstructs {
		out[i] = regexp.MustCompile(c.re)
	}
	return out
}()

// explainRegexError names the PCRE construct that made RE2 reject expr.
func explainRegexError(expr string, err error) error {
	for i, re := range pcreConstructREs {
		if re.MatchString(expr) {
			return fmt.Errorf("regular expression %q uses a PCRE %s, which Go's RE2 engine does not support: %w", expr, pcreConstructs[i].name, err)
		}
	}
	return fmt.Errorf("invalid regular expression %q: %w", expr, err)
}
