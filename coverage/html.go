package coverage

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/ttpmap/ttpmap/coverage/svg"
)

// HTMLOptions are the settings of [WriteHTML].
type HTMLOptions struct {
	// Title is the page title; "ttpmap coverage" when empty.
	Title string
	// Presence is what the logs held, when coverage was measured with
	// --logs; it only feeds the summary (levels come from the techniques).
	Presence *Presence
	// MaxGaps caps the gaps table (0 means 100); MaxFixes the fixes table
	// (0 means 50). The summary counts them all.
	MaxGaps, MaxFixes int
}

// htmlTop is how many data sources and components the bar charts show.
const htmlTop = 15

// WriteHTML writes one self-contained HTML page (inline CSS, inline SVG, a
// few lines of inline JavaScript to sort tables; nothing loaded from the
// network) about the coverage cs: a summary by level, the ATT&CK matrix heat
// map, the top data sources and data components, the gaps ranked by groups,
// the fixes (when the levels were measured against logs) and a sortable
// table of every technique.
func WriteHTML(w io.Writer, k *Knowledge, cs []*Technique, opts HTMLOptions) error {
	page, err := newHTMLPage(k, cs, opts)
	if err != nil {
		return err
	}
	t, err := template.New("coverage").Parse(htmlTemplate)
	if err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, page); err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	return nil
}

// htmlPage is the data of the page template.
type htmlPage struct {
	Title                  string
	AttackVersion          string
	Total                  int
	Levels                 []htmlLevel
	Measured               bool
	Events, Pairs          int
	Rules                  int
	Matrix                 template.HTML
	Sources, Components    template.HTML
	Gaps                   []htmlGap
	GapsTotal, GapsShown   int
	Fixes                  []htmlFix
	FixesTotal, FixesShown int
	Techniques             []htmlTechnique
}

type htmlLevel struct {
	Name  string
	Count int
}

type htmlGap struct {
	Rank int
	htmlTechnique
	Why string
}

type htmlFix struct {
	Gained, Groups int
	Setting, GPO   string
	Events         string
	Techniques     []string
}

type htmlTechnique struct {
	ID, Name, URL string
	Level         string
	LevelN        int
	Tactics       string
	Groups        int
	Events        string
	EventCount    int
	Rules         []string
	Unobserved    string
}

func newHTMLPage(k *Knowledge, cs []*Technique, opts HTMLOptions) (*htmlPage, error) {
	p := &htmlPage{Title: opts.Title, AttackVersion: k.KB().Version(), Total: len(cs)}
	if p.Title == "" {
		p.Title = "ttpmap coverage"
	}
	counts := make([]int, len(LevelNames))
	rules := map[RuleRef]bool{}
	for _, c := range cs {
		counts[min(max(int(c.Level), 0), len(counts)-1)]++
		p.Measured = p.Measured || c.Measured
		for _, r := range c.Rules {
			rules[r] = true
		}
		p.Techniques = append(p.Techniques, htmlTech(c))
	}
	p.Rules = len(rules)
	for i, n := range LevelNames {
		p.Levels = append(p.Levels, htmlLevel{Name: n, Count: counts[i]})
	}
	if opts.Presence != nil {
		p.Measured = true
		p.Events, p.Pairs = opts.Presence.Events(), opts.Presence.Pairs()
	}

	var b bytes.Buffer
	if err := svg.MatrixHeatmap(&b, "ATT&CK coverage", MatrixColumns(k.KB(), cs), LevelNames); err != nil {
		return nil, fmt.Errorf("write html: %w", err)
	}
	p.Matrix = template.HTML(b.String()) // generated and escaped by package svg
	b.Reset()
	if err := svg.BarChart(&b, fmt.Sprintf("Top %d data sources by techniques", htmlTop), "techniques", TopBars(cs, true, htmlTop)); err != nil {
		return nil, fmt.Errorf("write html: %w", err)
	}
	p.Sources = template.HTML(b.String())
	b.Reset()
	if err := svg.BarChart(&b, fmt.Sprintf("Top %d data components by techniques", htmlTop), "techniques", TopBars(cs, false, htmlTop)); err != nil {
		return nil, fmt.Errorf("write html: %w", err)
	}
	p.Components = template.HTML(b.String())

	maxGaps, maxFixes := opts.MaxGaps, opts.MaxFixes
	if maxGaps <= 0 {
		maxGaps = 100
	}
	if maxFixes <= 0 {
		maxFixes = 50
	}
	gaps := Gaps(cs)
	p.GapsTotal = len(gaps)
	for i, g := range gaps[:min(maxGaps, len(gaps))] {
		p.Gaps = append(p.Gaps, htmlGap{Rank: i + 1, htmlTechnique: htmlTech(g), Why: gapReason(g)})
	}
	p.GapsShown = len(p.Gaps)
	if p.Measured {
		fixes := Fixes(gaps)
		p.FixesTotal = len(fixes)
		for _, f := range fixes[:min(maxFixes, len(fixes))] {
			p.Fixes = append(p.Fixes, htmlFix{Gained: len(f.Techniques), Groups: f.Groups, Setting: f.Setting,
				GPO: f.GPO, Events: strings.Join(f.Events, ", "), Techniques: f.Techniques})
		}
		p.FixesShown = len(p.Fixes)
	}
	return p, nil
}

func htmlTech(c *Technique) htmlTechnique {
	t := htmlTechnique{
		ID: c.ID, Name: c.Name, URL: techniqueURL(c.ID),
		Level: c.Level.String(), LevelN: int(c.Level),
		Tactics: strings.Join(c.Tactics, ", "), Groups: c.Groups,
		Events: eventList(c, 12), EventCount: len(c.Events),
		Unobserved: strings.Join(c.Unobserved, ", "),
	}
	for _, r := range c.Rules {
		t.Rules = append(t.Rules, r.Title)
	}
	return t
}

// techniqueURL is a technique's page on attack.mitre.org.
func techniqueURL(id string) string {
	return "https://attack.mitre.org/techniques/" + strings.Replace(id, ".", "/", 1) + "/"
}

const htmlTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1a1a1a;background:#fff;margin:0;padding:16px 24px;line-height:1.4}
h1{font-size:1.6em;margin:0 0 4px}
h2{font-size:1.25em;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
p.muted,.muted{color:#555}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{border:1px solid #ccc;border-radius:6px;padding:8px 16px;min-width:110px}
.card .n{font-size:1.8em;font-weight:bold}
.chart{overflow-x:auto;border:1px solid #e2e2e2;border-radius:4px;margin:8px 0;background:#fff}
.chart svg{display:block}
.charts{display:flex;flex-wrap:wrap;gap:16px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #d0d0d0;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3;position:sticky;top:0}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[aria-sort=ascending]::after{content:" \25B2"}
table.sortable th[aria-sort=descending]::after{content:" \25BC"}
td.num{text-align:right}
tr:nth-child(even) td{background:#fafafa}
.lvl{display:inline-block;padding:0 6px;border-radius:3px;border:1px solid #999;color:#1a1a1a}
.lvl-blind{background:#eeeeee}.lvl-visible{background:#c6dbef}.lvl-detected{background:#6baed6}
code{font-size:12px;background:#f3f3f3;padding:1px 3px;border-radius:2px;word-break:break-all}
ul.rules{margin:0;padding-left:16px}
a{color:#1d4f91}
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="muted">Generated by ttpmap from MITRE ATT&amp;CK {{.AttackVersion}}, OSSEM-DM and the loaded Sigma rules. Levels: <b>blind</b> = no telemetry for the technique, <b>visible</b> = telemetry but no rule, <b>detected</b> = telemetry and a rule.</p>

<section id="summary">
<h2>Summary</h2>
<div class="cards">
<div class="card"><div class="n">{{.Total}}</div>techniques</div>
{{range .Levels}}<div class="card lvl-{{.Name}}" data-level="{{.Name}}"><div class="n">{{.Count}}</div>{{.Name}}</div>
{{end}}<div class="card"><div class="n">{{.Rules}}</div>rules</div>
</div>
{{if .Measured}}<p id="presence">Presence <b>measured</b> with <code>--logs</code>{{if .Events}}: {{.Events}} events, {{.Pairs}} distinct (channel, event ID) pairs{{end}}.</p>
{{else}}<p id="presence">Presence <b>not measured</b>: every known event is assumed collected. Pass <code>--logs PATH</code> to measure which events your logs hold.</p>
{{end}}</section>

<section>
<h2>ATT&amp;CK matrix</h2>
<p class="muted">One cell per technique, sub-techniques as small squares under their parent; hover for details.</p>
<div class="chart" id="matrix">{{.Matrix}}</div>
</section>

<section>
<h2>Data sources and components</h2>
<div class="charts">
<div class="chart" id="sources">{{.Sources}}</div>
<div class="chart" id="components">{{.Components}}</div>
</div>
</section>

<section id="gaps">
<h2>Gaps</h2>
<p class="muted">Techniques not detected, blind first, then by the number of groups known to use them{{if lt .GapsShown .GapsTotal}} (first {{.GapsShown}} of {{.GapsTotal}}){{else}} ({{.GapsTotal}}){{end}}.</p>
{{if .Gaps}}<table class="sortable">
<thead><tr><th>#</th><th>Technique</th><th>Name</th><th>Level</th><th>Groups</th><th>Why</th></tr></thead>
<tbody>
{{range .Gaps}}<tr data-technique="{{.ID}}"><td class="num">{{.Rank}}</td><td><a href="{{.URL}}">{{.ID}}</a></td><td>{{.Name}}</td><td data-sort="{{.LevelN}}"><span class="lvl lvl-{{.Level}}">{{.Level}}</span></td><td class="num">{{.Groups}}</td><td>{{.Why}}</td></tr>
{{end}}</tbody>
</table>{{else}}<p>No gaps.</p>{{end}}
</section>
{{if .Measured}}
<section id="fixes">
<h2>Fixes</h2>
<p class="muted">Log settings that would make blind techniques visible, ranked by techniques gained{{if lt .FixesShown .FixesTotal}} (first {{.FixesShown}} of {{.FixesTotal}}){{end}}.</p>
{{if .Fixes}}<table class="sortable">
<thead><tr><th>Gained</th><th>Groups</th><th>Turn on</th><th>Events</th><th>Techniques</th></tr></thead>
<tbody>
{{range .Fixes}}<tr><td class="num">{{.Gained}}</td><td class="num">{{.Groups}}</td><td><code>{{.Setting}}</code>{{if .GPO}}<br><span class="muted">GPO: {{.GPO}}</span>{{end}}</td><td>{{.Events}}</td><td>{{range $i, $t := .Techniques}}{{if $i}}, {{end}}{{$t}}{{end}}</td></tr>
{{end}}</tbody>
</table>{{else}}<p>Nothing to turn on.</p>{{end}}
</section>
{{end}}
<section id="techniques">
<h2>Techniques</h2>
<p class="muted">Click a column heading to sort.</p>
<table class="sortable">
<thead><tr><th>Technique</th><th>Name</th><th>Level</th><th>Tactics</th><th>Groups</th><th>Event IDs</th><th>Rules</th><th>Unobserved components</th></tr></thead>
<tbody>
{{range .Techniques}}<tr data-technique="{{.ID}}" data-level="{{.Level}}"><td><a href="{{.URL}}">{{.ID}}</a></td><td>{{.Name}}</td><td data-sort="{{.LevelN}}"><span class="lvl lvl-{{.Level}}">{{.Level}}</span></td><td>{{.Tactics}}</td><td class="num">{{.Groups}}</td><td data-sort="{{.EventCount}}">{{.Events}}</td><td data-sort="{{len .Rules}}">{{if .Rules}}<ul class="rules">{{range .Rules}}<li>{{.}}</li>{{end}}</ul>{{end}}</td><td>{{.Unobserved}}</td></tr>
{{end}}</tbody>
</table>
</section>
<script>
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], i = th.cellIndex;
    var asc = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var key = function (row) {
      var c = row.cells[i], v = c.getAttribute("data-sort");
      return v === null ? c.textContent.trim() : v;
    };
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b), nx = Number(x), ny = Number(y);
      var d = (x !== "" && y !== "" && !isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y, undefined, {numeric: true});
      return asc ? d : -d;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
</script>
</body>
</html>
`
