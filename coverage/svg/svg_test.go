package svg

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/internal/golden"
)

// wellFormed decodes every token of doc and fails on the first XML error.
func wellFormed(t *testing.T, name string, doc []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("%s: not well-formed XML: %v", name, err)
		}
	}
}

// texts returns the character data of every element named local.
func texts(t *testing.T, doc []byte, local string) []string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var out []string
	var stack []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			stack = append(stack, tk.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 && stack[len(stack)-1] == local {
				out = append(out, string(tk))
			}
		}
	}
}

var (
	sampleBars = []Bar{
		{"Process", 339}, {"Command", 251}, {"File", 196}, {"Network Traffic", 119},
		{"Windows Registry", 67}, {"Module", 55},
	}
	sampleCols = []Column{
		{Tactic: "Execution", Cells: []Cell{
			{TechniqueID: "T1059", Name: "Command and Scripting Interpreter", Level: 2, Note: "rules: 14", Sub: []Cell{
				{TechniqueID: "T1059.001", Name: "PowerShell", Level: 3},
				{TechniqueID: "T1059.003", Name: "Windows Command Shell", Level: 2},
				{TechniqueID: "T1059.005", Name: "Visual Basic", Level: 0},
			}},
			{TechniqueID: "T1047", Name: "Windows Management Instrumentation", Level: 1},
		}},
		{Tactic: "Credential Access", Cells: []Cell{
			{TechniqueID: "T1003", Name: "OS Credential Dumping", Level: 3, Note: "events: Sysmon 10, Security 4656/4663", Sub: []Cell{
				{TechniqueID: "T1003.001", Name: "LSASS Memory", Level: 3},
			}},
			{TechniqueID: "T1110", Name: "Brute Force", Level: 0},
		}},
	}
	sampleLegend = []string{"blind", "visible", "detected", "detected by several rules"}
	sampleEdges  = []Edge{
		{"user", "created", "user account", 1},
		{"user", "deleted", "user account", 1},
		{"process", "created", "process", 3},
		{"process", "accessed", "process", 2},
		{"process", "connected to", "ip", 4},
		{"user", "logged on", "host", 5},
		{"process", "created", "file", 2},
		{"process", "loaded", "module", 1},
	}
)

func TestGolden(t *testing.T) {
	tests := []struct {
		name   string
		render func(io.Writer) error
		svg    bool
	}{
		{"bar.svg", func(w io.Writer) error { return BarChart(w, "Top data sources", "techniques", sampleBars) }, true},
		{"bar-zero.svg", func(w io.Writer) error {
			return BarChart(w, "All zero", "", []Bar{{"a", 0}, {"b", -3}})
		}, true},
		{"bar-empty.svg", func(w io.Writer) error { return BarChart(w, "Top data sources", "techniques", nil) }, true},
		{"matrix.svg", func(w io.Writer) error { return MatrixHeatmap(w, "Coverage", sampleCols, sampleLegend) }, true},
		{"matrix-empty.svg", func(w io.Writer) error { return MatrixHeatmap(w, "Coverage", []Column{{Tactic: "Impact"}}, nil) }, true},
		{"graph.svg", func(w io.Writer) error { return GraphSVG(w, "OSSEM relationships", sampleEdges) }, true},
		{"graph-empty.svg", func(w io.Writer) error { return GraphSVG(w, "", nil) }, true},
		{"graph.dot", func(w io.Writer) error { return GraphDOT(w, "ossem", sampleEdges) }, false},
		{"graph.graphml", func(w io.Writer) error { return GraphML(w, sampleEdges) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a, b bytes.Buffer
			if err := tt.render(&a); err != nil {
				t.Fatal(err)
			}
			if err := tt.render(&b); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatal("output is not deterministic")
			}
			if tt.svg {
				wellFormed(t, tt.name, a.Bytes())
			}
			golden.Check(t, filepath.Join("testdata", tt.name+".golden"), a.Bytes())
		})
	}
}

func TestEmptyInputsSayNoData(t *testing.T) {
	tests := []struct {
		name   string
		render func(io.Writer) error
	}{
		{"bar", func(w io.Writer) error { return BarChart(w, "t", "x", nil) }},
		{"matrix nil", func(w io.Writer) error { return MatrixHeatmap(w, "t", nil, nil) }},
		{"matrix empty columns", func(w io.Writer) error {
			return MatrixHeatmap(w, "t", []Column{{Tactic: "Execution"}, {Tactic: "Impact"}}, sampleLegend)
		}},
		{"graph", func(w io.Writer) error { return GraphSVG(w, "t", []Edge{}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.render(&b); err != nil {
				t.Fatal(err)
			}
			wellFormed(t, tt.name, b.Bytes())
			if !strings.HasPrefix(b.String(), "<svg ") {
				t.Errorf("not an SVG: %.40q", b.String())
			}
			if !strings.Contains(strings.Join(texts(t, b.Bytes(), "text"), "|"), "no data") {
				t.Errorf("no \"no data\" text in %s", b.String())
			}
		})
	}
}

func TestEscaping(t *testing.T) {
	const evil = `a<b & "c" 'd'>`
	tests := []struct {
		name   string
		render func(io.Writer) error
	}{
		{"bar", func(w io.Writer) error { return BarChart(w, evil, evil, []Bar{{evil, 3}}) }},
		{"matrix", func(w io.Writer) error {
			return MatrixHeatmap(w, evil, []Column{{Tactic: evil, Cells: []Cell{
				{TechniqueID: evil, Name: evil, Note: evil, Sub: []Cell{{TechniqueID: evil, Name: evil}}},
			}}}, []string{evil})
		}},
		{"graph", func(w io.Writer) error { return GraphSVG(w, evil, []Edge{{evil, evil, evil, 1}, {evil, "x", "y", 1}}) }},
		{"graphml", func(w io.Writer) error { return GraphML(w, []Edge{{evil, evil, evil, 1}}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.render(&b); err != nil {
				t.Fatal(err)
			}
			wellFormed(t, tt.name, b.Bytes())
			if strings.Contains(b.String(), evil) {
				t.Error("label written unescaped")
			}
			found := false
			for _, local := range []string{"text", "title", "data"} {
				for _, s := range texts(t, b.Bytes(), local) {
					if strings.Contains(s, evil) {
						found = true
					}
				}
			}
			if !found {
				t.Error("escaped label does not decode back to the original text")
			}
		})
	}
}

func TestTruncationKeepsFullTextInTooltip(t *testing.T) {
	long := "Adversary-in-the-Middle via Extremely Long Data Component Name That Never Ends"
	var b bytes.Buffer
	if err := BarChart(&b, "t", "x", []Bar{{long, 5}, {"short", 2}}); err != nil {
		t.Fatal(err)
	}
	wellFormed(t, "bar", b.Bytes())
	var cut, full bool
	for _, s := range texts(t, b.Bytes(), "text") {
		if strings.HasSuffix(s, "…") && strings.HasPrefix(long, strings.TrimSuffix(s, "…")) {
			cut = true
		}
	}
	for _, s := range texts(t, b.Bytes(), "title") {
		if s == long {
			full = true
		}
	}
	if !cut || !full {
		t.Errorf("truncated label %v, full text in <title> %v", cut, full)
	}
	if got := truncate("short", 12, 500); got != "short" {
		t.Errorf("truncate(short) = %q", got)
	}
	if got := truncate(long, 12, 100); textWidth(got, 12) > 100 || !strings.HasSuffix(got, "…") {
		t.Errorf("truncate(long, 100px) = %q (%.0fpx)", got, textWidth(got, 12))
	}
}

func TestBarChartScale(t *testing.T) {
	tests := []struct {
		max       int
		wantTicks string // last tick label
	}{
		{7, "8"}, {10, "10"}, {339, "400"}, {1, "1"}, {0, "1"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.max), func(t *testing.T) {
			var b bytes.Buffer
			if err := BarChart(&b, "t", "x", []Bar{{"a", tt.max}}); err != nil {
				t.Fatal(err)
			}
			var ticks []string
			for _, s := range texts(t, b.Bytes(), "text") {
				ticks = append(ticks, s)
			}
			// texts: title, tick labels…, x label, bar label, value
			if last := ticks[len(ticks)-4]; last != tt.wantTicks {
				t.Errorf("last tick = %q, want %q (texts %q)", last, tt.wantTicks, ticks)
			}
		})
	}
}

func TestMatrixHeatmapCells(t *testing.T) {
	var b bytes.Buffer
	if err := MatrixHeatmap(&b, "Coverage", sampleCols, sampleLegend); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(texts(t, b.Bytes(), "text"), "|")
	for _, want := range []string{"Execution", "Credential Access", "T1059", "+3 sub", "T1003", "+1 sub", "blind", "detected by several rules", "2 techniques"} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in texts %q", want, all)
		}
	}
	// columns keep the given order
	if strings.Index(all, "Execution") > strings.Index(all, "Credential Access") {
		t.Error("tactic columns reordered")
	}
	// one sub square per sub-technique, coloured by its level
	if n := strings.Count(b.String(), `class="sub"`); n != 4 {
		t.Errorf("%d sub squares, want 4", n)
	}
	tips := strings.Join(texts(t, b.Bytes(), "title"), "|")
	for _, want := range []string{"T1059.001 PowerShell — detected by several rules", "T1003 OS Credential Dumping — detected by several rules\nevents: Sysmon 10"} {
		if !strings.Contains(tips, want) {
			t.Errorf("missing tooltip %q", want)
		}
	}
}

func TestGraphDOTQuoting(t *testing.T) {
	var b bytes.Buffer
	err := GraphDOT(&b, `my "graph"`, []Edge{{`C:\Windows\"x"`, "line1\nline2", "b", 0}})
	if err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		`digraph "my \"graph\"" {`,
		`"C:\\Windows\\\"x\"" -> "b" [label="line1\nline2", weight=1,`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in\n%s", want, got)
		}
	}
}

func TestGraphMLRoundTrip(t *testing.T) {
	var b bytes.Buffer
	if err := GraphML(&b, sampleEdges); err != nil {
		t.Fatal(err)
	}
	var doc gmlDoc
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.XMLName.Space != "http://graphml.graphdrawing.org/xmlns" {
		t.Errorf("namespace %q", doc.XMLName.Space)
	}
	var relKey bool
	for _, k := range doc.Keys {
		if k.ID == "relationship" && k.For == "edge" && k.AttrType == "string" {
			relKey = true
		}
	}
	if !relKey {
		t.Error("no relationship edge key")
	}
	if len(doc.Graph.Edges) != len(sampleEdges) || len(doc.Graph.Nodes) != 7 {
		t.Fatalf("%d nodes %d edges", len(doc.Graph.Nodes), len(doc.Graph.Edges))
	}
	label := map[string]string{}
	for _, n := range doc.Graph.Nodes {
		label[n.ID] = n.Data[0].Value
	}
	e := doc.Graph.Edges[0]
	if label[e.Source] != "user" || label[e.Target] != "user account" || e.Data[0].Value != "created" {
		t.Errorf("edge 0 = %s -%s-> %s", label[e.Source], e.Data[0].Value, label[e.Target])
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrors(t *testing.T) {
	for name, err := range map[string]error{
		"bar":     BarChart(failWriter{}, "t", "x", sampleBars),
		"matrix":  MatrixHeatmap(failWriter{}, "t", sampleCols, nil),
		"graph":   GraphSVG(failWriter{}, "t", sampleEdges),
		"dot":     GraphDOT(failWriter{}, "t", sampleEdges),
		"graphml": GraphML(failWriter{}, sampleEdges),
	} {
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// TestOSSEMGraph draws the real OSSEM relationship network when the dataset
// is present; set SVG_OUT=dir to keep the picture.
func TestOSSEMGraph(t *testing.T) {
	path := "../../../shared/datasets/ossem/relationships/_all_ossem_relationships.json"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("dataset %s absent", path)
	}
	var rels []struct {
		Behavior struct {
			Source, Relationship string
			Target               *string
		}
		SecurityEvents []json.RawMessage `json:"security_events"`
	}
	if err := json.Unmarshal(data, &rels); err != nil {
		t.Fatal(err)
	}
	var edges []Edge
	for _, r := range rels {
		target := "(none)"
		if r.Behavior.Target != nil {
			target = *r.Behavior.Target
		}
		edges = append(edges, Edge{r.Behavior.Source, r.Behavior.Relationship, target, len(r.SecurityEvents)})
	}
	var b bytes.Buffer
	if err := GraphSVG(&b, "OSSEM source · relationship · target", edges); err != nil {
		t.Fatal(err)
	}
	wellFormed(t, "ossem graph", b.Bytes())
	if dir := os.Getenv("SVG_OUT"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "ossem-graph.svg"), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDocsImages keeps docs/img/coverage-datasources.svg and
// coverage-matrix.svg in step with the renderer (rewrite with -update). The
// bar chart uses realistic fake counts; the matrix is the embedded ATT&CK
// matrix with fake levels derived from each technique's data components.
func TestDocsImages(t *testing.T) {
	bars := []Bar{
		{"Process", 339}, {"Command", 251}, {"File", 196}, {"Network Traffic", 119},
		{"Windows Registry", 67}, {"Module", 55}, {"Application Log", 52}, {"Logon Session", 49},
		{"User Account", 40}, {"Script", 36}, {"Cloud Service", 27}, {"Firewall", 21},
		{"Scheduled Job", 17}, {"Active Directory", 16}, {"Instance", 12},
	}
	var b bytes.Buffer
	if err := BarChart(&b, "Top 15 data sources by number of techniques", "techniques observed", bars); err != nil {
		t.Fatal(err)
	}
	wellFormed(t, "datasources", b.Bytes())
	golden.Check(t, "../../docs/img/coverage-datasources.svg", b.Bytes())

	kb, err := attack.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	level := func(tech *attack.Technique) int {
		if len(tech.DataComponents) == 0 {
			return 0
		}
		h := fnv.New32a()
		h.Write([]byte(tech.ID))
		return 1 + int(h.Sum32()%3)
	}
	var cols []Column
	for _, ta := range kb.Tactics() {
		col := Column{Tactic: ta.Name}
		techs := kb.ByTactic(ta.ID)
		subs := map[string][]Cell{}
		for _, tech := range techs {
			if tech.IsSub {
				subs[tech.Parent] = append(subs[tech.Parent], Cell{TechniqueID: tech.ID, Name: tech.Name, Level: level(tech)})
			}
		}
		for _, tech := range techs {
			if !tech.IsSub {
				col.Cells = append(col.Cells, Cell{TechniqueID: tech.ID, Name: tech.Name, Level: level(tech),
					Note: fmt.Sprintf("%d data components", len(tech.DataComponents)), Sub: subs[tech.ID]})
			}
		}
		cols = append(cols, col)
	}
	b.Reset()
	if err := MatrixHeatmap(&b, "ATT&CK coverage of the example logs ("+kb.Version()+")", cols,
		[]string{"blind: no telemetry", "visible: telemetry present", "detected: a rule fires on it", "detected by 3+ rules"}); err != nil {
		t.Fatal(err)
	}
	wellFormed(t, "matrix", b.Bytes())
	golden.Check(t, "../../docs/img/coverage-matrix.svg", b.Bytes())
}

// FuzzLabels checks that any label text gives well-formed SVG and GraphML.
func FuzzLabels(f *testing.F) {
	for _, s := range []string{"Process", `a<b & "c"`, "\x00\xff\ufffe", "]]>", strings.Repeat("W", 200)} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		var b bytes.Buffer
		render := []func() error{
			func() error { return BarChart(&b, s, s, []Bar{{s, n}, {"x", 1}}) },
			func() error {
				return MatrixHeatmap(&b, s, []Column{{Tactic: s, Cells: []Cell{{TechniqueID: s, Name: s, Level: n, Note: s, Sub: []Cell{{Name: s, Level: -n}}}}}}, []string{s})
			},
			func() error { return GraphSVG(&b, s, []Edge{{s, s, "t", n}, {"t", s, s, 1}}) },
			func() error { return GraphML(&b, []Edge{{s, s, s, n}}) },
		}
		for i, r := range render {
			b.Reset()
			if err := r(); err != nil {
				t.Fatal(err)
			}
			wellFormed(t, fmt.Sprint(i), b.Bytes())
		}
	})
}
