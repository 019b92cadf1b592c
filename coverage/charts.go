package coverage

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/coverage/svg"
)

// LevelNames are the level names, indexed by [Level], as picture legends.
var LevelNames = []string{"blind", "visible", "detected"}

// Edges returns the OSSEM source · relationship · target relationships of
// cs, for the network graph, weighted by the distinct events observing them.
func Edges(cs []*Technique) []svg.Edge {
	type key struct{ s, r, t string }
	events := map[key]map[string]bool{}
	var order []key
	for _, c := range cs {
		for _, r := range c.Rows {
			if r.Relationship == "" {
				continue
			}
			k := key{r.Source, r.Relationship, r.Target}
			if events[k] == nil {
				events[k] = map[string]bool{}
				order = append(order, k)
			}
			events[k][r.Channel+"|"+r.EventID] = true
		}
	}
	out := make([]svg.Edge, 0, len(order))
	for _, k := range order {
		out = append(out, svg.Edge{Source: k.s, Relationship: k.r, Target: k.t, Weight: len(events[k])})
	}
	return out
}

// TopBars counts the techniques of cs per data source (sources true) or
// data component, and returns the n largest counts, largest first.
func TopBars(cs []*Technique, sources bool, n int) []svg.Bar {
	count := map[string]int{}
	for _, c := range cs {
		seen := map[string]bool{}
		for _, cc := range c.Components {
			name := cc.Name
			if sources {
				name = cc.DataSource
			}
			if name == "" || seen[strings.ToLower(name)] {
				continue
			}
			seen[strings.ToLower(name)] = true
			count[name]++
		}
	}
	bars := make([]svg.Bar, 0, len(count))
	for name, v := range count {
		bars = append(bars, svg.Bar{Label: name, Value: v})
	}
	slices.SortFunc(bars, func(a, b svg.Bar) int { return cmp.Or(cmp.Compare(b.Value, a.Value), cmp.Compare(a.Label, b.Label)) })
	return bars[:min(max(n, 0), len(bars))]
}

// MatrixColumns lays cs out as the ATT&CK matrix of kb for
// [svg.MatrixHeatmap]: tactic columns in matrix order, sub-techniques folded
// under their parent, cell level = coverage level.
func MatrixColumns(kb *attack.KB, cs []*Technique) []svg.Column {
	byID := map[string]*Technique{}
	for _, c := range cs {
		byID[c.ID] = c
	}
	cell := func(c *Technique, name string) svg.Cell {
		note := strings.Join(c.EventIDs, ", ")
		if len(c.Rules) > 0 {
			note = fmt.Sprintf("%d rule(s); events %s", len(c.Rules), note)
		}
		return svg.Cell{TechniqueID: c.ID, Name: name, Level: int(c.Level), Note: note}
	}
	var cols []svg.Column
	for _, tac := range kb.Tactics() {
		col := svg.Column{Tactic: tac.Name}
		techs := kb.ByTactic(tac.ShortName)
		for _, t := range techs {
			if t.IsSub {
				continue
			}
			var subs []svg.Cell
			for _, s := range techs {
				if s.Parent == t.ID {
					if c, ok := byID[s.ID]; ok {
						subs = append(subs, cell(c, s.Name))
					}
				}
			}
			c, ok := byID[t.ID]
			if !ok && len(subs) == 0 {
				continue
			}
			var pc svg.Cell
			if ok {
				pc = cell(c, t.Name)
			} else {
				pc = svg.Cell{TechniqueID: t.ID, Name: t.Name}
			}
			pc.Sub = subs
			col.Cells = append(col.Cells, pc)
		}
		if len(col.Cells) > 0 {
			cols = append(cols, col)
		}
	}
	return cols
}
