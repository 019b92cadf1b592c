package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxRuleSize caps what Parse reads from one input (a Sigma file is a few
// KiB; the largest SigmaHQ rule is under 100 KiB).
const maxRuleSize = 16 << 20

// detection is the parsed detection section (or a filter's selection).
type detection struct {
	searches map[string]*search
	order    []string     // search identifiers in document order
	conds    []*condition // OR-ed
}

// search is one search identifier: an OR of alternatives, each an AND of items.
type search struct {
	name      string
	line, col int
	alts      []*conj
}

// conj is an AND of items (one YAML map, or one keyword list).
type conj struct{ items []*item }

// item is one "field|mod|mod: values" entry, or a keyword list (field "").
type item struct {
	key       string // as written, for messages
	field     string // "" for keywords
	keyword   bool
	mods      []string // lower-cased, in order
	values    []value
	line, col int
}

type valueKind uint8

const (
	vString valueKind = iota
	vNumber
	vBool
	vNull
)

// value is one scalar of a rule, kept as written.
type value struct {
	s         string
	kind      valueKind
	line, col int
}

// condition is one condition string and its parsed form.
type condition struct {
	src       string
	line, col int
	root      cexpr
}

// docError builds a positioned error.
func posErr(file string, line, col int, format string, args ...any) *Error {
	return &Error{File: file, Line: line, Col: col, Err: fmt.Errorf(format, args...)}
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// Parse reads every YAML document of r (documents separated by ---) and
// returns the rules it could parse. Problems are *Error values (joined with
// errors.Join when there are several); rules that parsed are returned
// alongside them.
func Parse(r io.Reader, file string) (rules []*Rule, err error) {
	data, rerr := io.ReadAll(io.LimitReader(r, maxRuleSize+1))
	if rerr != nil {
		return nil, &Error{File: file, Err: fmt.Errorf("read rule: %w", rerr)}
	}
	if len(data) > maxRuleSize {
		return nil, &Error{File: file, Err: fmt.Errorf("rule file larger than %d bytes", maxRuleSize)}
	}
	defer func() {
		// yaml.v3 is mature, but a panic in a third-party parser must not
		// reach callers.
		if p := recover(); p != nil {
			rules = nil
			err = &Error{File: file, Err: fmt.Errorf("yaml parser panic: %v", p)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var errs []error
	for {
		var doc yaml.Node
		derr := dec.Decode(&doc)
		if derr == io.EOF {
			break
		}
		if derr != nil {
			e := &Error{File: file, Err: fmt.Errorf("invalid YAML: %w", derr)}
			if m := yamlLineRE.FindStringSubmatch(derr.Error()); m != nil {
				e.Line, _ = strconv.Atoi(m[1])
			}
			errs = append(errs, e)
			break // the decoder cannot resynchronise after a syntax error
		}
		if len(doc.Content) == 0 {
			continue // empty document
		}
		root := resolve(doc.Content[0])
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue
		}
		rule, perrs := parseDocument(root, file)
		errs = append(errs, perrs...)
		if rule != nil {
			rules = append(rules, rule)
		}
	}
	return rules, errors.Join(errs...)
}

// resolve follows YAML aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 32; i++ {
		n = n.Alias
	}
	return n
}

// parser collects the errors of one document.
type parser struct {
	file string
	errs []error
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	line, col := 0, 0
	if n != nil {
		line, col = n.Line, n.Column
	}
	p.errs = append(p.errs, posErr(p.file, line, col, format, args...))
}

func parseDocument(root *yaml.Node, file string) (*Rule, []error) {
	p := &parser{file: file}
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "a Sigma document must be a map, got %s", kindName(root))
		return nil, p.errs
	}
	r := &Rule{File: file, Line: root.Line}
	var detNode, corrNode, filtNode, lsNode *yaml.Node
	var titleNode *yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolve(root.Content[i+1])
		if seen[k.Value] {
			p.errorf(k, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		switch k.Value {
		case "title":
			titleNode = v
			r.Title = p.str(k, v)
		case "id":
			r.ID = p.str(k, v)
		case "name":
			r.Name = p.str(k, v)
		case "status":
			r.Status = p.str(k, v)
		case "level":
			r.Level = p.str(k, v)
		case "description":
			r.Description = p.str(k, v)
		case "author":
			r.Author = strings.Join(p.strs(k, v), ", ")
		case "date":
			r.Date = p.str(k, v)
		case "modified":
			r.Modified = p.str(k, v)
		case "tags":
			r.Tags = p.strs(k, v)
		case "references":
			r.References = p.strs(k, v)
		case "falsepositives":
			r.FalsePositives = p.strs(k, v)
		case "fields":
			r.Fields = p.strs(k, v)
		case "logsource":
			lsNode = v
		case "detection":
			detNode = v
		case "correlation":
			corrNode = v
		case "filter":
			filtNode = v
		}
	}
	if titleNode == nil || r.Title == "" {
		p.errorf(root, "missing title")
	}
	if lsNode != nil {
		r.Logsource = p.logsource(lsNode)
	}
	switch {
	case corrNode != nil && (detNode != nil || filtNode != nil):
		p.errorf(corrNode, "a document cannot have both correlation and detection/filter sections")
	case detNode != nil && filtNode != nil:
		p.errorf(filtNode, "a document cannot have both detection and filter sections")
	case corrNode != nil:
		r.Correlation = p.correlation(corrNode)
	case filtNode != nil:
		if lsNode == nil {
			p.errorf(root, "filter: missing logsource")
		}
		r.Filter, r.det = p.filter(filtNode)
	case detNode != nil:
		if lsNode == nil {
			p.errorf(root, "missing logsource")
		}
		r.det = p.detection(detNode, false)
	default:
		p.errorf(root, "missing detection (or correlation/filter) section")
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return r, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return "a scalar"
	}
	return "an unsupported node"
}

// str reads a scalar metadata value.
func (p *parser) str(k, v *yaml.Node) string {
	if v.Kind != yaml.ScalarNode {
		p.errorf(v, "%s: want a string, got %s", k.Value, kindName(v))
		return ""
	}
	if v.Tag == "!!null" {
		return ""
	}
	return v.Value
}

// strs reads a list of scalars (a single scalar is accepted as a list of one).
func (p *parser) strs(k, v *yaml.Node) []string {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return nil
		}
		return []string{v.Value}
	case yaml.SequenceNode:
		out := make([]string, 0, len(v.Content))
		for _, c := range v.Content {
			c = resolve(c)
			if c.Kind != yaml.ScalarNode {
				p.errorf(c, "%s: list items must be strings, got %s", k.Value, kindName(c))
				continue
			}
			if c.Tag != "!!null" {
				out = append(out, c.Value)
			}
		}
		return out
	}
	p.errorf(v, "%s: want a string or a list of strings, got %s", k.Value, kindName(v))
	return nil
}

func (p *parser) logsource(n *yaml.Node) Logsource {
	var ls Logsource
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "logsource: want a map, got %s", kindName(n))
		return ls
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		switch k.Value {
		case "product":
			ls.Product = p.str(k, v)
		case "category":
			ls.Category = p.str(k, v)
		case "service":
			ls.Service = p.str(k, v)
		case "definition":
			ls.Definition = p.str(k, v)
		}
	}
	return ls
}

// detection parses a detection section. In a filter (inFilter) the
// non-search keys are "rules" (handled by the caller) and "condition".
func (p *parser) detection(n *yaml.Node, inFilter bool) *detection {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "detection: want a map, got %s", kindName(n))
		return nil
	}
	d := &detection{searches: map[string]*search{}}
	var condNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		switch {
		case k.Value == "condition":
			condNode = v
			continue
		case k.Value == "timeframe" && !inFilter:
			// Sigma 1.x aggregation window; meaningless without the
			// aggregation syntax, which the condition parser rejects.
			continue
		case k.Value == "rules" && inFilter:
			continue
		}
		if _, dup := d.searches[k.Value]; dup {
			p.errorf(k, "duplicate search identifier %q", k.Value)
			continue
		}
		if k.Value == "" {
			p.errorf(k, "empty search identifier")
			continue
		}
		s := p.search(k, v)
		if s != nil {
			d.searches[k.Value] = s
			d.order = append(d.order, k.Value)
		}
	}
	if condNode == nil {
		p.errorf(n, "detection: missing condition")
		return d
	}
	var conds []*yaml.Node
	switch condNode.Kind {
	case yaml.ScalarNode:
		conds = []*yaml.Node{condNode}
	case yaml.SequenceNode:
		for _, c := range condNode.Content {
			conds = append(conds, resolve(c))
		}
		if len(conds) == 0 {
			p.errorf(condNode, "condition: empty list")
		}
	default:
		p.errorf(condNode, "condition: want a string or a list of strings, got %s", kindName(condNode))
	}
	for _, c := range conds {
		if c.Kind != yaml.ScalarNode || c.Tag == "!!null" {
			p.errorf(c, "condition: want a string, got %s", kindName(c))
			continue
		}
		root, err := parseCondition(c.Value, d)
		if err != nil {
			var ce *condError
			col := c.Column
			if errors.As(err, &ce) && c.Style&(yaml.LiteralStyle|yaml.FoldedStyle) == 0 && !strings.Contains(c.Value, "\n") {
				col += ce.off
				if c.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 {
					col++
				}
			}
			p.errs = append(p.errs, &Error{File: p.file, Line: c.Line, Col: col, Err: fmt.Errorf("condition %q: %w", c.Value, err)})
			continue
		}
		d.conds = append(d.conds, &condition{src: c.Value, line: c.Line, col: c.Column, root: root})
	}
	return d
}

// search parses the value of one search identifier.
func (p *parser) search(k, v *yaml.Node) *search {
	s := &search{name: k.Value, line: k.Line, col: k.Column}
	switch v.Kind {
	case yaml.MappingNode:
		if c := p.conj(k.Value, v); c != nil {
			s.alts = append(s.alts, c)
		}
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			p.errorf(v, "search identifier %q: empty list", k.Value)
			return nil
		}
		var kw *item
		for _, e := range v.Content {
			e = resolve(e)
			switch e.Kind {
			case yaml.MappingNode:
				if c := p.conj(k.Value, e); c != nil {
					s.alts = append(s.alts, c)
				}
			case yaml.ScalarNode:
				if kw == nil {
					kw = &item{key: k.Value, keyword: true, line: e.Line, col: e.Column}
					s.alts = append(s.alts, &conj{items: []*item{kw}})
				}
				val := scalarValue(e)
				if val.kind == vNull {
					p.errorf(e, "search identifier %q: null is not a valid keyword", k.Value)
					continue
				}
				kw.values = append(kw.values, val)
			default:
				p.errorf(e, "search identifier %q: list items must be maps or strings, got %s", k.Value, kindName(e))
			}
		}
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			p.errorf(v, "search identifier %q: empty", k.Value)
			return nil
		}
		s.alts = append(s.alts, &conj{items: []*item{{key: k.Value, keyword: true, line: v.Line, col: v.Column, values: []value{scalarValue(v)}}}})
	default:
		p.errorf(v, "search identifier %q: unsupported value", k.Value)
		return nil
	}
	return s
}

func scalarValue(n *yaml.Node) value {
	v := value{s: n.Value, line: n.Line, col: n.Column}
	switch n.Tag {
	case "!!null":
		v.kind, v.s = vNull, ""
	case "!!int", "!!float":
		v.kind = vNumber
	case "!!bool":
		v.kind = vBool
		if b, err := strconv.ParseBool(strings.ToLower(n.Value)); err == nil {
			v.s = strconv.FormatBool(b)
		} else {
			v.s = strings.ToLower(n.Value)
		}
	}
	return v
}

// conj parses one map of field conditions.
func (p *parser) conj(name string, m *yaml.Node) *conj {
	c := &conj{}
	if len(m.Content) == 0 {
		p.errorf(m, "search identifier %q: empty map", name)
		return nil
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], resolve(m.Content[i+1])
		if seen[k.Value] {
			p.errorf(k, "search identifier %q: duplicate key %q", name, k.Value)
			continue
		}
		seen[k.Value] = true
		it := p.item(k, v)
		if it != nil {
			c.items = append(c.items, it)
		}
	}
	if len(c.items) == 0 {
		return nil
	}
	return c
}

// modifier classes.
const (
	modPattern   = iota + 1 // contains startswith endswith
	modType                 // re cidr exists fieldref gt gte lt lte
	modTime                 // minute hour day week month year
	modTransform            // windash base64 base64offset wide utf16*
	modReFlag               // i m s
	modGeneric              // all cased neq expand
)

var modifiers = map[string]int{
	"contains": modPattern, "startswith": modPattern, "endswith": modPattern,
	"re": modType, "cidr": modType, "exists": modType, "fieldref": modType,
	"gt": modType, "gte": modType, "lt": modType, "lte": modType,
	"minute": modTime, "hour": modTime, "day": modTime, "week": modTime, "month": modTime, "year": modTime,
	"windash": modTransform, "base64": modTransform, "base64offset": modTransform,
	"wide": modTransform, "utf16le": modTransform, "utf16be": modTransform, "utf16": modTransform,
	"i": modReFlag, "ignorecase": modReFlag, "m": modReFlag, "multiline": modReFlag, "s": modReFlag, "dotall": modReFlag,
	"all": modGeneric, "cased": modGeneric, "neq": modGeneric, "expand": modGeneric,
}

func isCmp(m string) bool { return m == "gt" || m == "gte" || m == "lt" || m == "lte" }

// item parses one "field|mods: value(s)" entry.
func (p *parser) item(k, v *yaml.Node) *item {
	parts := strings.Split(k.Value, "|")
	it := &item{key: k.Value, field: parts[0], line: k.Line, col: k.Column}
	it.keyword = it.field == ""
	bad := false
	var pattern, typ, timeMod string
	var transform, reFlag bool
	seen := map[string]bool{}
	for _, m := range parts[1:] {
		lm := strings.ToLower(strings.TrimSpace(m))
		class, ok := modifiers[lm]
		if !ok {
			p.errorf(k, "field %q: unknown modifier %q", it.field, m)
			bad = true
			continue
		}
		if seen[lm] {
			p.errorf(k, "field %q: modifier %q given twice", it.field, lm)
			bad = true
			continue
		}
		seen[lm] = true
		it.mods = append(it.mods, lm)
		switch class {
		case modPattern:
			if pattern != "" {
				p.errorf(k, "field %q: modifiers %q and %q cannot be combined", it.field, pattern, lm)
				bad = true
			}
			pattern = lm
		case modType:
			switch {
			case typ == "":
				typ = lm
			case isCmp(typ) || isCmp(lm):
				p.errorf(k, "field %q: modifiers %q and %q cannot be combined", it.field, typ, lm)
				bad = true
			default:
				p.errorf(k, "field %q: modifiers %q and %q cannot be combined", it.field, typ, lm)
				bad = true
			}
		case modTime:
			if timeMod != "" {
				p.errorf(k, "field %q: modifiers %q and %q cannot be combined", it.field, timeMod, lm)
				bad = true
			}
			timeMod = lm
		case modTransform:
			transform = true
		case modReFlag:
			reFlag = true
		}
	}
	if bad {
		return nil
	}
	fail := func(format string, args ...any) *item {
		p.errorf(k, "field %q: "+format, append([]any{it.field}, args...)...)
		return nil
	}
	switch {
	case reFlag && typ != "re":
		return fail("regular expression flags (i, m, s) need the re modifier")
	case typ == "re" && (pattern != "" || transform):
		return fail("the re modifier cannot be combined with contains/startswith/endswith or value transformations")
	case (typ == "cidr" || typ == "exists" || isCmp(typ)) && (pattern != "" || transform):
		return fail("the %s modifier cannot be combined with contains/startswith/endswith or value transformations", typ)
	case typ == "fieldref" && transform:
		return fail("the fieldref modifier cannot be combined with value transformations")
	case timeMod != "" && typ != "" && !isCmp(typ):
		return fail("the %s modifier can only be combined with gt/gte/lt/lte", timeMod)
	case timeMod != "" && (pattern != "" || transform):
		return fail("the %s modifier cannot be combined with string modifiers", timeMod)
	case typ == "exists" && len(it.mods) > 1:
		return fail("the exists modifier cannot be combined with other modifiers")
	case it.keyword && (typ == "exists" || typ == "fieldref" || isCmp(typ) || timeMod != ""):
		return fail("modifier %q needs a field name", typ+timeMod)
	}

	// Values.
	switch v.Kind {
	case yaml.ScalarNode:
		it.values = []value{scalarValue(v)}
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			return fail("empty list of values")
		}
		for _, e := range v.Content {
			e = resolve(e)
			if e.Kind != yaml.ScalarNode {
				p.errorf(e, "field %q: list items must be plain values, got %s", it.field, kindName(e))
				return nil
			}
			it.values = append(it.values, scalarValue(e))
		}
	default:
		return fail("value must be a scalar or a list of scalars, got %s", kindName(v))
	}

	// Value types per modifier.
	for _, val := range it.values {
		verr := func(format string, args ...any) *item {
			p.errorf(&yaml.Node{Line: val.line, Column: val.col}, "field %q: "+format, append([]any{it.field}, args...)...)
			return nil
		}
		switch {
		case typ == "exists":
			if val.kind != vBool {
				return verr("the exists modifier needs true or false, got %q", val.s)
			}
			if len(it.values) != 1 {
				return verr("the exists modifier takes a single value")
			}
		case val.kind == vNull:
			if it.keyword {
				return verr("null is not a valid keyword")
			}
			if typ != "" || pattern != "" || transform || timeMod != "" {
				return verr("null cannot be used with modifiers")
			}
		case isCmp(typ) || timeMod != "":
			if _, ok := parseNumber(val.s); !ok {
				return verr("modifier %s needs a number, got %q", typ+timeMod, val.s)
			}
		case typ == "cidr":
			if _, err := netip.ParsePrefix(strings.TrimSpace(val.s)); err != nil {
				return verr("invalid CIDR %q: %v", val.s, err)
			}
		case typ == "fieldref":
			if val.s == "" {
				return verr("fieldref needs a field name")
			}
		}
	}
	return it
}

// parseNumber parses a decimal (integer or float) or 0x-prefixed hex number.
func parseNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		n, err := strconv.ParseUint(s[2:], 16, 64)
		return float64(n), err == nil
	}
	// Cheap pre-check so non-numeric event values do not allocate a
	// *strconv.NumError on the match path.
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && c != '.' && c != '-' && c != '+' && c != 'e' && c != 'E' {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}
