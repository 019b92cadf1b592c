package sigma

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ttpmap/ttpmap/event"
)

// Options tunes Compile.
type Options struct {
	// Regexes is shared by every Compile call so one expression is compiled
	// once; nil compiles privately.
	Regexes *RegexCache
	// Placeholders gives the values of %name% placeholders for the |expand
	// modifier (name without the percent signs). A placeholder a rule uses
	// but this map lacks is a compile error.
	Placeholders map[string][]string
}

// Matcher is a compiled detection rule for one Target. It is immutable and
// safe for concurrent use.
type Matcher struct {
	rule   *Rule
	target Target
	root   node
	tIDs   []int     // target event IDs; empty = any
	tChan  string    // target channel; "" = any
	tProv  string    // target provider; "" = any
	tConds []fieldIn // target conditions
	ids    []int     // EventIDs(): nil = unconstrained
	lits   []Literal // Prefilter()
	litsOK bool
}

type fieldIn struct {
	field string
	vals  []string
}

// Rule returns the rule the matcher was compiled from.
func (m *Matcher) Rule() *Rule { return m.rule }

// Target returns the target the matcher was compiled for.
func (m *Matcher) Target() Target { return m.target }

// EventIDs returns the event IDs an event must have for the matcher to
// match: the intersection of the target's IDs and the IDs the detection
// requires through EventID conditions that every match must satisfy. It is
// nil when unconstrained, and empty (non-nil) when the two contradict so
// the matcher can never match.
func (m *Matcher) EventIDs() []int { return m.ids }

// Match reports whether the event satisfies the target (event ID, channel,
// provider, conditions) and the rule's condition. A target channel is only
// checked when the event has one (some exports carry no channel); a target
// provider is always checked.
func (m *Matcher) Match(e *event.Event) bool {
	if e == nil {
		return false
	}
	if len(m.tIDs) > 0 {
		id := e.EventID
		if id == 0 {
			id = atoiField(e.Fields[event.FieldEventID])
		}
		if !slices.Contains(m.tIDs, id) {
			return false
		}
	}
	if m.tChan != "" {
		ch := e.Channel
		if ch == "" {
			ch = e.Fields[event.FieldChannel]
		}
		if ch != "" && !strings.EqualFold(ch, m.tChan) {
			return false
		}
	}
	if m.tProv != "" {
		p := e.Provider
		if p == "" {
			p = e.Fields[event.FieldProvider]
		}
		if !strings.EqualFold(p, m.tProv) {
			return false
		}
	}
	for i := range m.tConds {
		c := &m.tConds[i]
		v, ok := e.Fields[c.field]
		if !ok {
			return false
		}
		found := false
		for _, w := range c.vals {
			if strings.EqualFold(v, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return m.root.eval(e)
}

// atoiField parses a decimal event ID, -1 when it is not one.
func atoiField(s string) int {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 9 {
		return -1
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// node is a compiled boolean expression over an event.
type node interface{ eval(e *event.Event) bool }

type andNode []node

func (n andNode) eval(e *event.Event) bool {
	for _, x := range n {
		if !x.eval(e) {
			return false
		}
	}
	return true
}

type orNode []node

func (n orNode) eval(e *event.Event) bool {
	for _, x := range n {
		if x.eval(e) {
			return true
		}
	}
	return false
}

type notNode struct{ x node }

func (n notNode) eval(e *event.Event) bool { return !n.x.eval(e) }

// ofNode is "n of …" (at least n children true).
type ofNode struct {
	n  int
	xs []node
}

func (o ofNode) eval(e *event.Event) bool {
	k := 0
	for i, x := range o.xs {
		if x.eval(e) {
			k++
			if k >= o.n {
				return true
			}
		}
		if k+len(o.xs)-i-1 < o.n {
			return false
		}
	}
	return false
}

// fieldNode tests one field against value groups: with all, every group
// must match; otherwise there is one group and any value may match.
type fieldNode struct {
	field  string
	groups [][]vmatch
	all    bool
	nullOK bool // a null value: absent or empty matches
	neq    bool // present and matching no value
}

func matchGroup(g []vmatch, v string, ascii bool) bool {
	for i := range g {
		if g[i].match(v, ascii) {
			return true
		}
	}
	return false
}

func (f *fieldNode) matchValue(v string) bool {
	ascii := isASCIIFast(v)
	if f.all {
		for _, g := range f.groups {
			if !matchGroup(g, v, ascii) {
				return false
			}
		}
		return len(f.groups) > 0
	}
	for _, g := range f.groups {
		if matchGroup(g, v, ascii) {
			return true
		}
	}
	return false
}

func (f *fieldNode) eval(e *event.Event) bool {
	v, ok := e.Fields[f.field]
	if !ok {
		return f.nullOK
	}
	if f.nullOK && v == "" {
		return true
	}
	if f.neq {
		return !f.matchValue(v)
	}
	return f.matchValue(v)
}

type existsNode struct {
	field string
	want  bool
}

func (x existsNode) eval(e *event.Event) bool {
	_, ok := e.Fields[x.field]
	return ok == x.want
}

// fieldrefNode compares a field with other fields of the same event.
type fieldrefNode struct {
	field string
	refs  []string
	op    byte // opEq opPrefix opSuffix opContains
	cased bool
	all   bool
	neq   bool
}

func (f *fieldrefNode) one(v, ref string, e *event.Event) bool {
	w, ok := e.Fields[ref]
	if !ok {
		return false
	}
	if f.cased {
		switch f.op {
		case opPrefix:
			return strings.HasPrefix(v, w)
		case opSuffix:
			return strings.HasSuffix(v, w)
		case opContains:
			return strings.Contains(v, w)
		}
		return v == w
	}
	switch f.op {
	case opPrefix:
		return hasPrefixEqualFold(v, w)
	case opSuffix:
		return hasSuffixEqualFold(v, w)
	case opContains:
		return containsEqualFold(v, w)
	}
	return strings.EqualFold(v, w)
}

func (f *fieldrefNode) eval(e *event.Event) bool {
	v, ok := e.Fields[f.field]
	if !ok {
		return false
	}
	res := f.all
	for _, r := range f.refs {
		m := f.one(v, r, e)
		if f.all && !m {
			res = false
			break
		}
		if !f.all && m {
			res = true
			break
		}
	}
	if f.neq {
		return !res
	}
	return res
}

// The fieldref helpers fold both sides at match time (the needle is not
// known in advance). They walk runes with the same folding as the rest.
func hasPrefixEqualFold(s, p string) bool {
	_, ok := prefixFoldBoth(s, p)
	return ok
}

func prefixFoldBoth(s, p string) (int, bool) {
	i, j := 0, 0
	for j < len(p) {
		if i >= len(s) {
			return 0, false
		}
		a, b := s[i], p[j]
		if a < 0x80 && b < 0x80 {
			if lowerASCII[a] != lowerASCII[b] {
				return 0, false
			}
			i++
			j++
			continue
		}
		ra, sa := utf8.DecodeRuneInString(s[i:])
		rb, sb := utf8.DecodeRuneInString(p[j:])
		if foldRune(ra) != foldRune(rb) {
			return 0, false
		}
		i += sa
		j += sb
	}
	return i, true
}

func hasSuffixEqualFold(s, p string) bool {
	n := utf8.RuneCountInString(p)
	start := len(s)
	for k := 0; k < n; k++ {
		if start == 0 {
			return false
		}
		_, sz := utf8.DecodeLastRuneInString(s[:start])
		start -= sz
	}
	end, ok := prefixFoldBoth(s[start:], p)
	return ok && start+end == len(s)
}

func containsEqualFold(s, p string) bool {
	if p == "" {
		return true
	}
	for i := 0; i < len(s); {
		if _, ok := prefixFoldBoth(s[i:], p); ok {
			return true
		}
		_, sz := utf8.DecodeRuneInString(s[i:])
		i += sz
	}
	return false
}

// keywordNode searches every field value (and the message) of the event.
type keywordNode struct {
	groups [][]vmatch
	all    bool
}

func (k *keywordNode) any(e *event.Event, g []vmatch) bool {
	if e.Message != "" && matchGroup(g, e.Message, isASCIIFast(e.Message)) {
		return true
	}
	for _, v := range e.Fields {
		if matchGroup(g, v, isASCIIFast(v)) {
			return true
		}
	}
	return false
}

func (k *keywordNode) eval(e *event.Event) bool {
	if k.all {
		for _, g := range k.groups {
			if !k.any(e, g) {
				return false
			}
		}
		return len(k.groups) > 0
	}
	for _, g := range k.groups {
		if k.any(e, g) {
			return true
		}
	}
	return false
}

// Compile turns a detection rule into a Matcher for target t. Field names are
// rewritten through t.FieldMap; the Rule is not modified. Errors are *Error
// values positioned at the offending key or value.
func Compile(r *Rule, t Target, opts Options) (*Matcher, error) {
	if r == nil {
		return nil, errors.New("compile: nil rule")
	}
	if r.Correlation != nil {
		return nil, &Error{File: r.File, Line: r.Line, Err: errors.New("correlation rules are evaluated over matches of other rules and cannot be compiled into a single-event matcher")}
	}
	if r.Filter != nil {
		return nil, &Error{File: r.File, Line: r.Line, Err: errors.New("filter documents are applied to rules with ApplyFilters, not compiled")}
	}
	if r.det == nil || len(r.det.conds) == 0 {
		return nil, &Error{File: r.File, Line: r.Line, Err: errors.New("rule has no detection")}
	}
	c := &compiler{rule: r, t: t, opts: opts, searches: map[string]node{}}
	if c.opts.Regexes == nil {
		c.opts.Regexes = &RegexCache{}
	}
	var errs []error
	for _, name := range r.det.order {
		n, err := c.search(r.det.searches[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.searches[name] = n
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var roots []node
	for _, cd := range r.det.conds {
		roots = append(roots, c.cond(cd.root))
	}
	m := &Matcher{rule: r, target: t, tChan: t.Channel, tProv: t.Provider}
	if len(roots) == 1 {
		m.root = roots[0]
	} else {
		m.root = orNode(roots)
	}
	m.tIDs = append([]int(nil), t.EventIDs...)
	keys := make([]string, 0, len(t.Conditions))
	for k := range t.Conditions {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		m.tConds = append(m.tConds, fieldIn{field: k, vals: t.Conditions[k]})
	}
	m.ids = requiredEventIDs(r.det, t)
	if lits, ok := prefilterOf(m.root); ok {
		m.lits, m.litsOK = lits, true
	}
	return m, nil
}

type compiler struct {
	rule     *Rule
	t        Target
	opts     Options
	searches map[string]node
}

func (c *compiler) errAt(line, col int, format string, args ...any) error {
	return &Error{File: c.rule.File, Line: line, Col: col, Err: fmt.Errorf(format, args...)}
}

func (c *compiler) cond(x cexpr) node {
	switch x := x.(type) {
	case cAnd:
		out := make(andNode, len(x.xs))
		for i, y := range x.xs {
			out[i] = c.cond(y)
		}
		return out
	case cOr:
		out := make(orNode, len(x.xs))
		for i, y := range x.xs {
			out[i] = c.cond(y)
		}
		return out
	case cNot:
		return notNode{c.cond(x.x)}
	case cRef:
		return c.searches[x.name]
	case cOf:
		xs := make([]node, len(x.names))
		for i, n := range x.names {
			xs[i] = c.searches[n]
		}
		switch {
		case x.n == 0:
			return andNode(xs)
		case x.n == 1:
			return orNode(xs)
		}
		return ofNode{n: x.n, xs: xs}
	}
	panic(fmt.Sprintf("sigma: unknown condition node %T", x))
}

func (c *compiler) search(s *search) (node, error) {
	var alts orNode
	var errs []error
	for _, a := range s.alts {
		var items andNode
		for _, it := range a.items {
			n, err := c.item(it)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			items = append(items, n)
		}
		if len(items) == 1 {
			alts = append(alts, items[0])
		} else {
			alts = append(alts, items)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return alts, nil
}

func (c *compiler) mapField(f string) string {
	if to, ok := c.t.FieldMap[f]; ok && to != "" {
		return to
	}
	return f
}

func hasMod(mods []string, m string) bool { return slices.Contains(mods, m) }

// item compiles one field (or keyword) entry.
func (c *compiler) item(it *item) (node, error) {
	field := c.mapField(it.field)
	mods := it.mods
	all := hasMod(mods, "all")
	cased := hasMod(mods, "cased")
	neq := hasMod(mods, "neq")
	fail := func(line, col int, format string, args ...any) (node, error) {
		return nil, c.errAt(line, col, "field %q: "+format, append([]any{it.field}, args...)...)
	}

	if hasMod(mods, "exists") {
		return existsNode{field: field, want: it.values[0].s == "true"}, nil
	}

	// Null values and real values.
	nullOK := false
	var vals []value
	for _, v := range it.values {
		if v.kind == vNull {
			nullOK = true
			continue
		}
		vals = append(vals, v)
	}
	if len(vals) == 0 {
		return &fieldNode{field: field, nullOK: true}, nil
	}

	pat := ""
	for _, m := range mods {
		if m == "contains" || m == "startswith" || m == "endswith" {
			pat = m
		}
	}

	if hasMod(mods, "fieldref") {
		f := &fieldrefNode{field: field, cased: cased, all: all, neq: neq, op: opEq}
		switch pat {
		case "contains":
			f.op = opContains
		case "startswith":
			f.op = opPrefix
		case "endswith":
			f.op = opSuffix
		}
		for _, v := range vals {
			f.refs = append(f.refs, c.mapField(v.s))
		}
		if nullOK {
			return orNode{&fieldNode{field: field, nullOK: true}, f}, nil
		}
		return f, nil
	}

	var groups [][]vmatch
	for _, v := range vals {
		raws := []string{v.s}
		if hasMod(mods, "expand") {
			var err error
			raws, err = expandPlaceholders(v.s, c.opts.Placeholders)
			if err != nil {
				return fail(v.line, v.col, "%v", err)
			}
		}
		var g []vmatch
		for _, raw := range raws {
			ms, err := c.values(it, raw, v, pat, cased)
			if err != nil {
				return fail(v.line, v.col, "%v", err)
			}
			g = append(g, ms...)
		}
		groups = append(groups, g)
	}
	if !all && len(groups) > 1 {
		var flat []vmatch
		for _, g := range groups {
			flat = append(flat, g...)
		}
		groups = [][]vmatch{flat}
	}
	if it.keyword {
		return &keywordNode{groups: groups, all: all}, nil
	}
	return &fieldNode{field: field, groups: groups, all: all, nullOK: nullOK, neq: neq}, nil
}

// values compiles one raw value (after placeholder expansion) into the
// matchers of its variants.
func (c *compiler) values(it *item, raw string, v value, pat string, cased bool) ([]vmatch, error) {
	mods := it.mods
	for _, m := range mods {
		switch m {
		case "re":
			flags := ""
			for _, f := range mods {
				switch f {
				case "i", "ignorecase":
					flags += "i"
				case "m", "multiline":
					flags += "m"
				case "s", "dotall":
					flags += "s"
				}
			}
			expr := raw
			if flags != "" {
				expr = "(?" + flags + ")" + raw
			}
			re, err := c.opts.Regexes.Compile(expr)
			if err != nil {
				return nil, explainRegexError(raw, err)
			}
			return []vmatch{{op: opRe, re: re}}, nil
		case "cidr":
			p, err := netip.ParsePrefix(strings.TrimSpace(raw))
			if err != nil {
				return nil, fmt.Errorf("invalid CIDR %q: %w", raw, err)
			}
			return []vmatch{{op: opCIDR, prefix: p.Masked()}}, nil
		case "minute", "hour", "day", "week", "month", "year":
			n, _ := parseNumber(raw)
			cmp := ""
			for _, f := range mods {
				if isCmp(f) {
					cmp = f
				}
			}
			return []vmatch{{op: opTime, part: m, cmp: cmp, num: n}}, nil
		case "gt", "gte", "lt", "lte":
			n, ok := parseNumber(raw)
			if !ok {
				return nil, fmt.Errorf("modifier %s needs a number, got %q", m, raw)
			}
			return []vmatch{{op: opCmp, cmp: m, num: n}}, nil
		}
	}

	// Plain string: wildcards, then the transformations in the order given.
	var p pattern
	if v.kind == vString {
		p = parseWildcards(raw)
	} else {
		p = literalPattern(raw)
	}
	pats := []pattern{p}
	for _, m := range mods {
		var next []pattern
		switch m {
		case "windash":
			for _, q := range pats {
				next = append(next, windash(q)...)
			}
		case "wide", "utf16le":
			for _, q := range pats {
				next = append(next, encodeUTF16(q, binary.LittleEndian, false))
			}
		case "utf16be":
			for _, q := range pats {
				next = append(next, encodeUTF16(q, binary.BigEndian, false))
			}
		case "utf16":
			for _, q := range pats {
				next = append(next, encodeUTF16(q, binary.LittleEndian, true))
			}
		case "base64", "base64offset":
			for _, q := range pats {
				if q.hasWildcards() {
					return nil, fmt.Errorf("the %s modifier cannot encode a value with wildcards (%q)", m, raw)
				}
				if m == "base64" {
					next = append(next, literalPattern(base64.StdEncoding.EncodeToString([]byte(q.literal()))))
					continue
				}
				for _, s := range base64Offset(q.literal()) {
					next = append(next, literalPattern(s))
				}
			}
		default:
			continue
		}
		pats = next
	}
	if it.keyword && pat == "" {
		pat = "contains" // keywords are searched anywhere in a value
	}
	out := make([]vmatch, 0, len(pats))
	for _, q := range pats {
		toks := q.toks
		if pat == "contains" || pat == "endswith" {
			toks = append([]ptok{{kind: '*'}}, toks...)
		}
		if pat == "contains" || pat == "startswith" {
			toks = append(toks[:len(toks):len(toks)], ptok{kind: '*'})
		}
		out = append(out, newStringMatcher(pattern{toks: toks, raw: q.raw}, cased))
	}
	return out, nil
}

// requiredEventIDs intersects the target's event IDs with those every match
// of the detection needs.
func requiredEventIDs(d *detection, t Target) []int {
	var det []int
	constrained := false
	for i, cd := range d.conds {
		ids, ok := condIDs(cd.root, d)
		if !ok {
			constrained = false
			break
		}
		if i == 0 {
			det, constrained = ids, true
		} else {
			det = union(det, ids)
		}
	}
	switch {
	case constrained && len(t.EventIDs) > 0:
		out := []int{}
		for _, id := range sortedUnique(t.EventIDs) {
			if slices.Contains(det, id) {
				out = append(out, id)
			}
		}
		return out
	case constrained:
		return det
	case len(t.EventIDs) > 0:
		return sortedUnique(t.EventIDs)
	}
	return nil
}

func sortedUnique(xs []int) []int {
	out := append([]int(nil), xs...)
	slices.Sort(out)
	return slices.Compact(out)
}

func union(a, b []int) []int { return sortedUnique(append(append([]int(nil), a...), b...)) }

func intersect(a, b []int) []int {
	out := []int{}
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// condIDs returns the event IDs x requires, and whether it requires any.
func condIDs(x cexpr, d *detection) ([]int, bool) {
	combine := func(xs []cexpr, and bool) ([]int, bool) {
		var acc []int
		have := false
		for _, y := range xs {
			ids, ok := condIDs(y, d)
			switch {
			case and && ok && !have:
				acc, have = ids, true
			case and && ok:
				acc = intersect(acc, ids)
			case !and && !ok:
				return nil, false
			case !and:
				acc, have = union(acc, ids), true
			}
		}
		return acc, have
	}
	switch x := x.(type) {
	case cAnd:
		return combine(x.xs, true)
	case cOr:
		return combine(x.xs, false)
	case cNot:
		return nil, false
	case cRef:
		return searchIDs(d.searches[x.name])
	case cOf:
		xs := make([]cexpr, len(x.names))
		for i, n := range x.names {
			xs[i] = cRef{n}
		}
		return combine(xs, x.n == 0 || x.n == len(x.names))
	}
	return nil, false
}

func searchIDs(s *search) ([]int, bool) {
	var acc []int
	for _, a := range s.alts {
		ids, ok := conjIDs(a)
		if !ok {
			return nil, false
		}
		acc = union(acc, ids)
	}
	return acc, len(s.alts) > 0
}

func conjIDs(c *conj) ([]int, bool) {
	for _, it := range c.items {
		if it.field != event.FieldEventID || len(it.mods) > 0 {
			continue
		}
		var ids []int
		ok := true
		for _, v := range it.values {
			n := atoiField(v.s)
			if v.kind == vNull || n < 0 {
				ok = false
				break
			}
			ids = append(ids, n)
		}
		if ok && len(ids) > 0 {
			return sortedUnique(ids), true
		}
	}
	return nil, false
}
