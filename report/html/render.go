package html

import (
	"cmp"
	_ "embed" // the page template
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/attack"
)

//go:embed page.html.tmpl
var pageText string

// page is parsed once; templates are safe for concurrent execution.
var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"ts":     fmtTime,
	"sev":    func(i int) string { return sevNames[i] },
	"pct":    func(n, total int) float64 { return 100 * float64(n) / float64(max(total, 1)) },
	"f1":     func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
	"join":   strings.Join,
	"unixts": func(t time.Time) int64 { return t.Unix() },
}).Parse(pageText))

const timeLayout = "2006-01-02 15:04:05"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// pageView is what the template renders.
type pageView struct {
	Title, Tool, Generated, Copyright, AttackVersion string
	Findings, NoTechnique                            int
	First, Last                                      string
	Severities                                       []countView
	Tactics                                          []countView
	TopHosts                                         []countView
	TacticMax, HostMax                               int
	Matrix                                           []columnView
	MatrixRows                                       int
	Other                                            []*techView
	Timeline                                         *timelineView
	Techniques                                       []*techView
	Rules                                            []ruleView
	Hosts                                            []hostView
	HostsLeft, RulesLeft                             int
	NumTechniques, NumTactics                        int
}

type countView struct {
	Name  string
	Class string
	Count int
}

type columnView struct {
	ID, Name, Short string
	Findings        int
	Detected        int
	Cells           []cellView
}

type cellView struct {
	ID, Name, URL string
	Count, Total  int
	Level         int
	Subs          []cellView
	NumSubs       int
}

type techView struct {
	ID, Name, URL, Description string
	Tactics                    []string
	ReportedAs                 []string
	Count                      int
	Worst                      string
	WorstRank                  int
	Hosts                      int
	HostsCapped                bool
	First, Last                string
	Rules                      []countView
	Groups                     []attack.Group
	GroupsLeft, GroupsTotal    int
	Evidence                   []evidenceView
	EvidenceLeft               int
	Level                      int
}

type evidenceView struct {
	Time, Sev, Host, User, Rule, Description string
	Unix                                     int64
}

type ruleView struct {
	ID, Title, Worst string
	WorstRank        int
	Count            int
	Techniques       []string
	First, Last      string
}

type hostView struct {
	Name, Worst string
	WorstRank   int
	Count       int
	Users       int
	First, Last string
}

// maxTableRows bounds the rows of the rules and hosts tables.
const maxTableRows = 500

// maxGroups bounds the groups named per technique.
const maxGroups = 30

func (wr *Writer) view() *pageView {
	v := &pageView{
		Title: wr.opts.Title, Tool: wr.opts.Tool, Findings: wr.findings, NoTechnique: wr.noTechnique,
		Generated: wr.opts.Now().UTC().Format(timeLayout) + " UTC", Copyright: wr.kb.Copyright(),
		AttackVersion: wr.kb.Version(), First: fmtTime(wr.first), Last: fmtTime(wr.last),
		NumTechniques: len(wr.techs),
	}
	for i, n := range wr.bySeverity {
		if n > 0 {
			v.Severities = append(v.Severities, countView{Name: sevNames[i], Class: "s-" + sevNames[i], Count: n})
		}
	}

	// Tactics in matrix order, unknown names after.
	tactics := wr.kb.Tactics()
	known := map[string]bool{}
	for _, t := range tactics {
		known[t.ShortName] = true
		if n := wr.byTactic[t.ShortName]; n > 0 {
			v.Tactics = append(v.Tactics, countView{Name: t.Name, Count: n})
		}
	}
	var extra []countView
	for name, n := range wr.byTactic {
		if !known[name] {
			extra = append(extra, countView{Name: name, Count: n})
		}
	}
	slices.SortFunc(extra, func(a, b countView) int { return strings.Compare(a.Name, b.Name) })
	v.Tactics = append(v.Tactics, extra...)
	v.NumTactics = len(v.Tactics)
	for _, c := range v.Tactics {
		v.TacticMax = max(v.TacticMax, c.Count)
	}

	// Heat levels are relative to the largest cell total.
	totals := map[string]int{} // parent id → own + subs
	for id, ta := range wr.techs {
		totals[id] += ta.count
		if ta.tech != nil && ta.tech.IsSub {
			totals[ta.tech.Parent] += ta.count
		}
	}
	maxTotal := 0
	for _, n := range totals {
		maxTotal = max(maxTotal, n)
	}
	level := func(n int) int { return HeatLevel(n, maxTotal) }

	placed := map[string]bool{}
	for _, t := range tactics {
		col := columnView{ID: t.ID, Name: t.Name, Short: t.ShortName, Findings: wr.byTactic[t.ShortName]}
		for _, te := range wr.kb.ByTactic(t.ShortName) {
			if te.IsSub {
				continue
			}
			cell := cellView{ID: te.ID, Name: te.Name, URL: te.URL, Total: totals[te.ID]}
			if ta := wr.techs[te.ID]; ta != nil {
				cell.Count = ta.count
				placed[te.ID] = true
			}
			cell.Level = level(cell.Total)
			if cell.Total > 0 {
				col.Detected++
			}
			for _, ta := range wr.techs {
				if ta.tech != nil && ta.tech.IsSub && ta.tech.Parent == te.ID {
					cell.Subs = append(cell.Subs, cellView{ID: ta.id, Name: ta.tech.Name, URL: ta.tech.URL,
						Count: ta.count, Total: ta.count, Level: level(ta.count)})
					placed[ta.id] = true
				}
			}
			slices.SortFunc(cell.Subs, func(a, b cellView) int { return strings.Compare(a.ID, b.ID) })
			col.Cells = append(col.Cells, cell)
		}
		// Detected first, then by name, as Navigator sorts by score.
		slices.SortStableFunc(col.Cells, func(a, b cellView) int {
			if c := cmp.Compare(b.Total, a.Total); c != 0 {
				return c
			}
			return strings.Compare(a.Name, b.Name)
		})
		v.MatrixRows = max(v.MatrixRows, len(col.Cells))
		v.Matrix = append(v.Matrix, col)
	}

	// Techniques, most findings first.
	techs := make([]*techAcc, 0, len(wr.techs))
	for _, ta := range wr.techs {
		techs = append(techs, ta)
	}
	slices.SortFunc(techs, func(a, b *techAcc) int {
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	for _, ta := range techs {
		tv := wr.techView(ta)
		tv.Level = level(ta.count)
		v.Techniques = append(v.Techniques, tv)
		if !placed[ta.id] {
			v.Other = append(v.Other, tv)
		}
	}

	// Rules and hosts, most findings first, bounded.
	for _, ra := range wr.rules {
		v.Rules = append(v.Rules, ruleView{ID: ra.id, Title: ra.title, Worst: sevNames[ra.worst], WorstRank: numSev - ra.worst,
			Count: ra.count, Techniques: ra.techniques, First: fmtTime(ra.first), Last: fmtTime(ra.last)})
	}
	slices.SortFunc(v.Rules, func(a, b ruleView) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Title, b.Title)
	})
	if len(v.Rules) > maxTableRows {
		v.RulesLeft = len(v.Rules) - maxTableRows
		v.Rules = v.Rules[:maxTableRows]
	}
	for name, ha := range wr.hosts {
		v.Hosts = append(v.Hosts, hostView{Name: name, Worst: sevNames[ha.worst], WorstRank: numSev - ha.worst,
			Count: ha.count, Users: len(ha.users), First: fmtTime(ha.first), Last: fmtTime(ha.last)})
	}
	slices.SortFunc(v.Hosts, func(a, b hostView) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	for i, h := range v.Hosts {
		if i == 8 {
			break
		}
		v.TopHosts = append(v.TopHosts, countView{Name: h.Name, Count: h.Count})
		v.HostMax = max(v.HostMax, h.Count)
	}
	if len(v.Hosts) > maxTableRows {
		v.HostsLeft = len(v.Hosts) - maxTableRows
		v.Hosts = v.Hosts[:maxTableRows]
	}
	v.Timeline = wr.timeline.view(wr.first, wr.last)
	return v
}

func (wr *Writer) techView(ta *techAcc) *techView {
	tv := &techView{ID: ta.id, Count: ta.count, ReportedAs: ta.reportedAs, Hosts: len(ta.hosts),
		HostsCapped: len(ta.hosts) >= maxHostsPerTechnique, First: fmtTime(ta.first), Last: fmtTime(ta.last)}
	for i, n := range ta.bySev {
		if n > 0 {
			tv.Worst, tv.WorstRank = sevNames[i], numSev-i
			break
		}
	}
	if te := ta.tech; te != nil {
		tv.Name, tv.URL, tv.Description, tv.Tactics = te.Name, te.URL, te.Description, te.Tactics
		tv.GroupsTotal = len(te.Groups)
		tv.Groups = te.Groups[:min(len(te.Groups), maxGroups)]
		tv.GroupsLeft = len(te.Groups) - len(tv.Groups)
	}
	for rule, n := range ta.rules {
		tv.Rules = append(tv.Rules, countView{Name: rule, Count: n})
	}
	slices.SortFunc(tv.Rules, func(a, b countView) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	ev := slices.Clone(ta.evidence)
	slices.SortStableFunc(ev, func(a, b evidence) int { return a.time.Compare(b.time) })
	for _, e := range ev {
		tv.Evidence = append(tv.Evidence, evidenceView{Time: fmtTime(e.time), Unix: e.time.Unix(), Sev: sevNames[e.sev],
			Host: e.host, User: e.user, Rule: e.rule, Description: e.description})
	}
	tv.EvidenceLeft = ta.count - len(ev)
	return tv
}

// HeatLevel maps n to a colour class 0..6 on a log scale relative to max;
// 0 only for no findings.
func HeatLevel(n, max int) int {
	if n <= 0 || max <= 0 {
		return 0
	}
	if max == 1 {
		return 6
	}
	l := 1 + int(math.Round(5*math.Log(float64(n))/math.Log(float64(max))))
	return min(l, 6)
}
