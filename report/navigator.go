package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/finding"
)

// Navigator layer constants: the layer format, the Navigator release it
// targets and the ATT&CK version whose ids it uses. Navigator knows only
// v18 technique ids, so v19 ids are mapped back (see navigatorWriter).
const (
	navigatorLayerVersion = "4.5"
	navigatorVersion      = "5.1.0"
	navigatorAttack       = "18"
	navigatorDomain       = "enterprise-attack"
)

// navigatorTopRules is how many rules a technique's comment names.
const navigatorTopRules = 5

// navigatorMaxRules bounds the distinct rules counted per technique.
const navigatorMaxRules = 1000

// navigatorMaxUnknown bounds the unknown technique ids named in the layer
// description.
const navigatorMaxUnknown = 20

// Gradient colours, light to dark, the html report's heat scale.
var navigatorGradient = []string{"#fff1d6", "#fdae61", "#d73027"}

// navigatorWriter counts findings per technique and writes an ATT&CK
// Navigator layer (format 4.5) on Close:
//
//   - one technique entry per technique × tactic (the technique's v18
//     tactics from the knowledge base), sub-techniques as entries of
//     their own; a parent of a scored sub-technique gets unscored entries
//     with showSubtechniques so Navigator unfolds it;
//   - score = findings naming the technique (its sub-techniques' findings
//     are not added to the parent);
//   - comment and metadata name the findings, severities, top rules and
//     the first and last time seen;
//   - ATT&CK v19 ids (T1685 …) are mapped to the v18 technique they
//     replaced (the knowledge base's V18IDs[0]) with metadata "reported
//     as"; revoked ids to their replacement; ids ATT&CK does not know are
//     left out and named in the layer description.
//
// It keeps counters, never findings.
type navigatorWriter struct {
	w      io.Writer
	opts   Options
	kb     *attack.KB
	techs  map[string]*navTechnique
	order  []string // technique keys in first-seen order, for determinism
	unk    []string // unknown ids, bounded
	nunk   int      // findings naming only unknown ids
	total  int
	closed bool
}

type navTechnique struct {
	tech        *attack.Technique
	count       int
	bySeverity  map[string]int
	rules       map[string]int
	first, last time.Time
	reportedAs  []string
}

func newNavigator(w io.Writer, opts Options) (Writer, error) {
	kb := opts.KB
	if kb == nil {
		var err error
		if kb, err = attack.Embedded(); err != nil {
			return nil, err
		}
	}
	return &navigatorWriter{w: w, opts: opts, kb: kb, techs: map[string]*navTechnique{}}, nil
}

// Write counts one finding.
func (n *navigatorWriter) Write(f *finding.Finding) error {
	if n.closed {
		return fmt.Errorf("report navigator: %w", errClosed)
	}
	if f == nil {
		return fmt.Errorf("report navigator: %w", errNilFinding)
	}
	n.total++
	sev := normSeverity(f.Severity)
	rule := f.RuleTitle
	if rule == "" {
		rule = f.RuleID
	}
	known := false
	var seen []string
	for _, id := range techniqueIDs(f) {
		t, ok := n.kb.Technique(id)
		if !ok {
			id = strings.ToUpper(id)
			if !contains(n.unk, id) && len(n.unk) < navigatorMaxUnknown {
				n.unk = append(n.unk, id)
			}
			continue
		}
		if t.Version == attack.Version19 && len(t.V18IDs) > 0 {
			v18, ok := n.kb.Technique(t.V18IDs[0])
			if !ok {
				continue
			}
			t = v18
		}
		known = true
		if contains(seen, t.ID) {
			continue
		}
		seen = append(seen, t.ID)
		nt := n.techs[t.ID]
		if nt == nil {
			nt = &navTechnique{tech: t, bySeverity: map[string]int{}, rules: map[string]int{}}
			n.techs[t.ID] = nt
			n.order = append(n.order, t.ID)
		}
		if up := strings.ToUpper(strings.TrimSpace(id)); up != t.ID && !contains(nt.reportedAs, up) && len(nt.reportedAs) < 8 {
			nt.reportedAs = append(nt.reportedAs, up)
		}
		nt.count++
		nt.bySeverity[sev]++
		if _, ok := nt.rules[rule]; ok || len(nt.rules) < navigatorMaxRules {
			nt.rules[rule]++
		}
		if ts := f.Timestamp; !ts.IsZero() {
			if nt.first.IsZero() || ts.Before(nt.first) {
				nt.first = ts
			}
			if nt.last.IsZero() || ts.After(nt.last) {
				nt.last = ts
			}
		}
	}
	if !known && len(techniqueIDs(f)) > 0 {
		n.nunk++
	}
	return nil
}

// navLayer is the Navigator layer format 4.5.
type navLayer struct {
	Name                          string         `json:"name"`
	Versions                      navVersions    `json:"versions"`
	Domain                        string         `json:"domain"`
	Description                   string         `json:"description"`
	Sorting                       int            `json:"sorting"`
	Layout                        navLayout      `json:"layout"`
	HideDisabled                  bool           `json:"hideDisabled"`
	Techniques                    []navEntry     `json:"techniques"`
	Gradient                      navGradient    `json:"gradient"`
	LegendItems                   []navLegend    `json:"legendItems"`
	Metadata                      []navMeta      `json:"metadata"`
	Links                         []navLink      `json:"links"`
	ShowTacticRowBackground       bool           `json:"showTacticRowBackground"`
	TacticRowBackground           string         `json:"tacticRowBackground"`
	SelectTechniquesAcrossTactics bool           `json:"selectTechniquesAcrossTactics"`
	SelectSubtechniquesWithParent bool           `json:"selectSubtechniquesWithParent"`
	SelectVisibleTechniques       bool           `json:"selectVisibleTechniques"`
	Filters                       map[string]any `json:"filters,omitempty"`
}

type navVersions struct {
	Attack    string `json:"attack"`
	Navigator string `json:"navigator"`
	Layer     string `json:"layer"`
}

type navLayout struct {
	Layout                string `json:"layout"`
	AggregateFunction     string `json:"aggregateFunction"`
	ShowID                bool   `json:"showID"`
	ShowName              bool   `json:"showName"`
	ShowAggregateScores   bool   `json:"showAggregateScores"`
	CountUnscored         bool   `json:"countUnscored"`
	ExpandedSubtechniques string `json:"expandedSubtechniques"`
}

type navEntry struct {
	TechniqueID       string    `json:"techniqueID"`
	Tactic            string    `json:"tactic"`
	Score             *int      `json:"score,omitempty"`
	Color             string    `json:"color"`
	Comment           string    `json:"comment"`
	Enabled           bool      `json:"enabled"`
	Metadata          []navMeta `json:"metadata"`
	Links             []navLink `json:"links"`
	ShowSubtechniques bool      `json:"showSubtechniques"`
}

type navGradient struct {
	Colors   []string `json:"colors"`
	MinValue int      `json:"minValue"`
	MaxValue int      `json:"maxValue"`
}

type navLegend struct {
	Label string `json:"label"`
	Color string `json:"color"`
}

type navMeta struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type navLink struct {
	Label string `json:"label"`
	URL   string `json:"url"`
}

// Close writes the layer.
func (n *navigatorWriter) Close() error {
	if n.closed {
		return nil
	}
	n.closed = true
	layer := n.layer()
	data, err := json.MarshalIndent(layer, "", "  ")
	if err != nil {
		return fmt.Errorf("report navigator: %w", err)
	}
	data = append(data, '\n')
	if _, err := n.w.Write(data); err != nil {
		return fmt.Errorf("report navigator: %w", err)
	}
	return nil
}

func (n *navigatorWriter) layer() *navLayer {
	ids := slices.Clone(n.order)
	slices.Sort(ids)
	maxScore := 1
	for _, nt := range n.techs {
		maxScore = max(maxScore, nt.count)
	}
	desc := fmt.Sprintf("%d finding%s over %d technique%s; score = findings naming the technique.",
		n.total, plural(n.total), len(ids), plural(len(ids)))
	if len(n.unk) > 0 {
		desc += fmt.Sprintf(" Technique ids unknown to ATT&CK %s left out: %s (%d finding%s named no known technique).",
			n.kb.Version(), strings.Join(n.unk, ", "), n.nunk, plural(n.nunk))
	}
	layer := &navLayer{
		Name:        "ttpmap findings",
		Versions:    navVersions{Attack: navigatorAttack, Navigator: navigatorVersion, Layer: navigatorLayerVersion},
		Domain:      navigatorDomain,
		Description: desc,
		Sorting:     3, // score, descending
		Layout: navLayout{Layout: "side", AggregateFunction: "average", ShowID: true, ShowName: true,
			ExpandedSubtechniques: "annotated"},
		Techniques:                    []navEntry{},
		Gradient:                      navGradient{Colors: navigatorGradient, MinValue: 0, MaxValue: maxScore},
		LegendItems:                   []navLegend{{Label: "1 finding", Color: navigatorGradient[0]}, {Label: fmt.Sprintf("%d findings", maxScore), Color: navigatorGradient[len(navigatorGradient)-1]}},
		Metadata:                      []navMeta{{Name: "findings", Value: strconv.Itoa(n.total)}},
		Links:                         []navLink{},
		SelectTechniquesAcrossTactics: true,
		TacticRowBackground:           "#dddddd",
	}
	if n.opts.Tool != "" {
		layer.Metadata = append(layer.Metadata, navMeta{Name: "generated by", Value: n.opts.Tool})
	}

	// Parents of scored sub-techniques unfold in Navigator.
	parents := map[string]bool{}
	for _, id := range ids {
		if t := n.techs[id].tech; t.IsSub {
			parents[t.Parent] = true
		}
	}
	for p := range parents {
		if _, ok := n.techs[p]; !ok {
			ids = append(ids, p)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		nt := n.techs[id]
		if nt == nil { // unscored parent
			t, ok := n.kb.Technique(id)
			if !ok {
				continue
			}
			for _, tac := range t.Tactics {
				layer.Techniques = append(layer.Techniques, navEntry{TechniqueID: id, Tactic: tac, Enabled: true,
					Metadata: []navMeta{}, Links: []navLink{}, ShowSubtechniques: true})
			}
			continue
		}
		score := nt.count
		comment, meta := nt.describe()
		for _, tac := range nt.tech.Tactics {
			layer.Techniques = append(layer.Techniques, navEntry{
				TechniqueID: id, Tactic: tac, Score: &score, Comment: comment, Enabled: true,
				Metadata: meta, Links: []navLink{{Label: "ATT&CK", URL: nt.tech.URL}},
				ShowSubtechniques: parents[id],
			})
		}
	}
	return layer
}

// describe returns the technique's comment and metadata.
func (nt *navTechnique) describe() (string, []navMeta) {
	var sevs []string
	for _, s := range severities {
		if c := nt.bySeverity[s]; c > 0 {
			sevs = append(sevs, fmt.Sprintf("%s %d", s, c))
		}
	}
	for s, c := range nt.bySeverity {
		if !contains(severities[:], s) {
			sevs = append(sevs, fmt.Sprintf("%s %d", s, c))
		}
	}
	type rc struct {
		name string
		n    int
	}
	rules := make([]rc, 0, len(nt.rules))
	for name, c := range nt.rules {
		rules = append(rules, rc{name, c})
	}
	slices.SortFunc(rules, func(a, b rc) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	var top []string
	for i, r := range rules {
		if i == navigatorTopRules {
			top = append(top, fmt.Sprintf("and %d more", len(rules)-i))
			break
		}
		top = append(top, fmt.Sprintf("%s (%d)", r.name, r.n))
	}
	comment := fmt.Sprintf("%d finding%s (%s); rules: %s", nt.count, plural(nt.count),
		strings.Join(sevs, ", "), strings.Join(top, "; "))
	meta := []navMeta{
		{Name: "findings", Value: strconv.Itoa(nt.count)},
		{Name: "severities", Value: strings.Join(sevs, ", ")},
		{Name: "rules", Value: strings.Join(top, "; ")},
	}
	if !nt.first.IsZero() {
		meta = append(meta,
			navMeta{Name: "first seen", Value: nt.first.UTC().Format(time.RFC3339)},
			navMeta{Name: "last seen", Value: nt.last.UTC().Format(time.RFC3339)})
	}
	if len(nt.reportedAs) > 0 {
		meta = append(meta, navMeta{Name: "reported as", Value: strings.Join(nt.reportedAs, ", ") + " (mapped to ATT&CK v18)"})
	}
	return comment, meta
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
