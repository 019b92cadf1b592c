package sigma

import (
	"fmt"
	"strconv"
	"strings"
)

// cexpr is a parsed condition expression.
type cexpr interface{ isCexpr() }

type (
	cAnd struct{ xs []cexpr }
	cOr  struct{ xs []cexpr }
	cNot struct{ x cexpr }
	cRef struct{ name string }
	// cOf is "N of pattern" / "all of pattern": at least n (or all when
	// n == 0) of names must match.
	cOf struct {
		n     int
		names []string
	}
)

func (cAnd) isCexpr() {}
func (cOr) isCexpr()  {}
func (cNot) isCexpr() {}
func (cRef) isCexpr() {}
func (cOf) isCexpr()  {}

// condError is a condition syntax error at byte offset off of the condition.
type condError struct {
	off int
	msg string
}

func (e *condError) Error() string { return fmt.Sprintf("at offset %d: %s", e.off, e.msg) }

type ctoken struct {
	s   string
	off int
}

// maxConditionDepth bounds nesting so hostile input cannot exhaust the stack.
const maxConditionDepth = 200

func lexCondition(s string) ([]ctoken, error) {
	var toks []ctoken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			toks = append(toks, ctoken{s[i : i+1], i})
			i++
		case c == '|':
			return nil, &condError{i, "aggregation expressions (| count() …) are Sigma 1.x syntax; write a correlation rule instead"}
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()|", rune(s[j])) {
				j++
			}
			toks = append(toks, ctoken{s[i:j], i})
			i = j
		}
	}
	return toks, nil
}

type condParser struct {
	src   string
	toks  []ctoken
	pos   int
	det   *detection
	depth int
}

// parseCondition parses one condition against the search identifiers of d.
func parseCondition(src string, d *detection) (cexpr, error) {
	toks, err := lexCondition(src)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, &condError{0, "empty condition"}
	}
	p := &condParser{src: src, toks: toks, det: d}
	x, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		t := p.toks[p.pos]
		return nil, &condError{t.off, fmt.Sprintf("unexpected %q", t.s)}
	}
	return x, nil
}

func (p *condParser) peek() (ctoken, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return ctoken{off: len(p.src)}, false
}

func (p *condParser) isKw(t ctoken, kw string) bool { return strings.EqualFold(t.s, kw) }

func (p *condParser) or() (cexpr, error) {
	x, err := p.and()
	if err != nil {
		return nil, err
	}
	xs := []cexpr{x}
	for {
		t, ok := p.peek()
		if !ok || !p.isKw(t, "or") {
			break
		}
		p.pos++
		y, err := p.and()
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	if len(xs) == 1 {
		return x, nil
	}
	return cOr{xs}, nil
}

func (p *condParser) and() (cexpr, error) {
	x, err := p.not()
	if err != nil {
		return nil, err
	}
	xs := []cexpr{x}
	for {
		t, ok := p.peek()
		if !ok || !p.isKw(t, "and") {
			break
		}
		p.pos++
		y, err := p.not()
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	if len(xs) == 1 {
		return x, nil
	}
	return cAnd{xs}, nil
}

func (p *condParser) not() (cexpr, error) {
	t, ok := p.peek()
	if ok && p.isKw(t, "not") {
		p.pos++
		p.depth++
		if p.depth > maxConditionDepth {
			return nil, &condError{t.off, "condition nested too deeply"}
		}
		x, err := p.not()
		p.depth--
		if err != nil {
			return nil, err
		}
		return cNot{x}, nil
	}
	return p.primary()
}

var reservedWords = map[string]bool{"and": true, "or": true, "not": true, "of": true, "them": true, "all": true, "any": true}

func (p *condParser) primary() (cexpr, error) {
	t, ok := p.peek()
	if !ok {
		return nil, &condError{t.off, "unexpected end of condition"}
	}
	switch {
	case t.s == "(":
		p.pos++
		p.depth++
		if p.depth > maxConditionDepth {
			return nil, &condError{t.off, "condition nested too deeply"}
		}
		x, err := p.or()
		p.depth--
		if err != nil {
			return nil, err
		}
		c, ok := p.peek()
		if !ok || c.s != ")" {
			return nil, &condError{c.off, fmt.Sprintf("missing ) for ( at offset %d", t.off)}
		}
		p.pos++
		return x, nil
	case t.s == ")":
		return nil, &condError{t.off, "unexpected )"}
	}
	// Quantifier: "1 of x", "all of x", "any of x", "N of x".
	if p.pos+1 < len(p.toks) && p.isKw(p.toks[p.pos+1], "of") {
		return p.quantifier()
	}
	lw := strings.ToLower(t.s)
	if reservedWords[lw] {
		return nil, &condError{t.off, fmt.Sprintf("unexpected keyword %q", t.s)}
	}
	if strings.Contains(t.s, "*") {
		return nil, &condError{t.off, fmt.Sprintf("wildcard identifier %q needs \"1 of\" or \"all of\"", t.s)}
	}
	if _, ok := p.det.searches[t.s]; !ok {
		return nil, &condError{t.off, fmt.Sprintf("unknown search identifier %q", t.s)}
	}
	p.pos++
	return cRef{t.s}, nil
}

func (p *condParser) quantifier() (cexpr, error) {
	q := p.toks[p.pos]
	p.pos += 2 // quantifier and "of"
	n := 0
	switch lq := strings.ToLower(q.s); lq {
	case "all":
		n = 0
	case "any":
		n = 1
	default:
		v, err := strconv.Atoi(lq)
		if err != nil || v < 1 {
			return nil, &condError{q.off, fmt.Sprintf("invalid quantifier %q (want 1, any, all or a positive number)", q.s)}
		}
		n = v
	}
	t, ok := p.peek()
	if !ok || t.s == "(" || t.s == ")" {
		return nil, &condError{t.off, fmt.Sprintf("%q of: missing search identifier pattern or \"them\"", q.s)}
	}
	p.pos++
	var names []string
	if p.isKw(t, "them") {
		for _, name := range p.det.order {
			if !strings.HasPrefix(name, "_") {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			return nil, &condError{t.off, "\"them\" matches no search identifier"}
		}
	} else {
		for _, name := range p.det.order {
			if wildcardMatch(t.s, name) {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			if strings.Contains(t.s, "*") {
				return nil, &condError{t.off, fmt.Sprintf("pattern %q matches no search identifier", t.s)}
			}
			return nil, &condError{t.off, fmt.Sprintf("unknown search identifier %q", t.s)}
		}
	}
	if n > len(names) {
		return nil, &condError{q.off, fmt.Sprintf("%d of %q: only %d search identifiers match", n, t.s, len(names))}
	}
	return cOf{n: n, names: names}, nil
}

// wildcardMatch matches name against pattern where * is any run of
// characters (greedy with single backtrack point: linear-ish, no recursion).
func wildcardMatch(pattern, name string) bool {
	pi, ni := 0, 0
	star, mark := -1, 0
	for ni < len(name) {
		switch {
		case pi < len(pattern) && pattern[pi] == '*':
			star, mark = pi, ni
			pi++
		case pi < len(pattern) && pattern[pi] == name[ni]:
			pi++
			ni++
		case star >= 0:
			mark++
			ni = mark
			pi = star + 1
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}
