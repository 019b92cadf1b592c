package sigma

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// filter parses the filter section of a meta filter document: rules (a list
// of ids/names, or "any"), search identifiers and a condition.
func (p *parser) filter(n *yaml.Node) (*Filter, *detection) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "filter: want a map, got %s", kindName(n))
		return nil, nil
	}
	f := &Filter{}
	var rulesNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Value == "rules" {
			rulesNode = v
			if v.Kind == yaml.ScalarNode && strings.EqualFold(v.Value, "any") {
				f.Any = true
			} else {
				f.Rules = p.strs(k, v)
			}
		}
	}
	if rulesNode == nil || (!f.Any && len(f.Rules) == 0) {
		p.errorf(n, "filter: missing rules (a list of rule ids or names, or \"any\")")
	}
	return f, p.detection(n, true)
}

// ApplyFilters returns rules with every meta filter applied, the way pySigma
// does it: a filter applies to a detection rule whose id or name it lists
// (or to every rule with rules: any) and whose log source matches every
// logsource field the filter sets; the rule's condition then becomes
// "(rule condition) and (filter condition)". Write filter conditions that
// exclude, e.g. "condition: not selection".
//
// The input rules are not modified: a filtered rule is a copy sharing the
// metadata. Rules no filter applies to are returned as they are. The error
// lists documents in filters that are not filters and filters that matched
// no rule; the result is complete either way.
func ApplyFilters(rules []*Rule, filters []*Rule) ([]*Rule, error) {
	var errs []error
	used := make([]bool, len(filters))
	out := make([]*Rule, len(rules))
	for i, r := range rules {
		out[i] = r
		if r == nil || !r.IsDetection() || r.det == nil {
			continue
		}
		for fi, f := range filters {
			if f == nil || f.Filter == nil || f.det == nil || !filterApplies(f, r) {
				continue
			}
			used[fi] = true
			out[i] = withFilter(out[i], f, fi)
		}
	}
	for fi, f := range filters {
		switch {
		case f == nil:
			continue
		case f.Filter == nil:
			errs = append(errs, &Error{File: f.File, Line: f.Line, Err: fmt.Errorf("%q is not a filter document", f.Title)})
		case !used[fi]:
			errs = append(errs, &Error{File: f.File, Line: f.Line, Err: fmt.Errorf("filter %q applies to no loaded rule", f.Title)})
		}
	}
	return out, errors.Join(errs...)
}

func filterApplies(f, r *Rule) bool {
	ls, rl := f.Logsource, r.Logsource
	for _, p := range [][2]string{{ls.Product, rl.Product}, {ls.Category, rl.Category}, {ls.Service, rl.Service}} {
		if p[0] != "" && !strings.EqualFold(p[0], p[1]) {
			return false
		}
	}
	if f.Filter.Any {
		return true
	}
	return (r.ID != "" && slices.Contains(f.Filter.Rules, r.ID)) || (r.Name != "" && slices.Contains(f.Filter.Rules, r.Name))
}

// withFilter returns a copy of r whose detection is ANDed with filter f's.
func withFilter(r, f *Rule, idx int) *Rule {
	prefix := fmt.Sprintf("_filter%d_", idx)
	nd := &detection{searches: make(map[string]*search, len(r.det.searches)+len(f.det.searches))}
	for _, name := range r.det.order {
		nd.searches[name] = r.det.searches[name]
		nd.order = append(nd.order, name)
	}
	rename := map[string]string{}
	for _, name := range f.det.order {
		nn := prefix + name
		for nd.searches[nn] != nil {
			nn = "_" + nn
		}
		rename[name] = nn
		nd.searches[nn] = f.det.searches[name]
		nd.order = append(nd.order, nn)
	}
	var fc []cexpr
	var fsrc []string
	for _, c := range f.det.conds {
		fc = append(fc, renameCond(c.root, rename))
		fsrc = append(fsrc, c.src)
	}
	var fRoot cexpr = cOr{fc}
	if len(fc) == 1 {
		fRoot = fc[0]
	}
	for _, c := range r.det.conds {
		nd.conds = append(nd.conds, &condition{
			src:  "(" + c.src + ") and (" + strings.Join(fsrc, " or ") + ")",
			line: c.line, col: c.col,
			root: cAnd{[]cexpr{c.root, fRoot}},
		})
	}
	cp := *r
	cp.det = nd
	return &cp
}

func renameCond(x cexpr, m map[string]string) cexpr {
	switch x := x.(type) {
	case cAnd:
		out := make([]cexpr, len(x.xs))
		for i, y := range x.xs {
			out[i] = renameCond(y, m)
		}
		return cAnd{out}
	case cOr:
		out := make([]cexpr, len(x.xs))
		for i, y := range x.xs {
			out[i] = renameCond(y, m)
		}
		return cOr{out}
	case cNot:
		return cNot{renameCond(x.x, m)}
	case cRef:
		return cRef{m[x.name]}
	case cOf:
		names := make([]string, len(x.names))
		for i, n := range x.names {
			names[i] = m[n]
		}
		return cOf{n: x.n, names: names}
	}
	return x
}
