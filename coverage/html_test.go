package coverage

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/sigma"
)

func TestWriteHTML(t *testing.T) {
	evil := `<script>alert("x")</script> & co`
	k := newKnowledge(t, &sigma.Rule{ID: "r1", Title: evil, Tags: []string{"attack.t1059.001"}})
	measured := &Presence{}
	measured.Add(&event.Event{Channel: "Microsoft-Windows-PowerShell/Operational", EventID: 4104})
	measured.Add(&event.Event{Channel: "Security", EventID: 4688})

	tests := []struct {
		name     string
		p        *Presence
		want     []string
		wantNot  []string
		detected string // a technique whose row must read "detected"
	}{
		{
			name: "assumed",
			want: []string{`id="summary"`, "Presence <b>not measured</b>", `<div class="chart" id="matrix"><svg`,
				`<div class="chart" id="sources"><svg`, `<div class="chart" id="components"><svg`,
				`id="gaps"`, `id="techniques"`, `<table class="sortable">`, "Top 15 data sources", "Top 15 data components",
				"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co"},
			wantNot:  []string{`id="fixes"`, evil, "<script>alert"},
			detected: "T1059.001",
		},
		{
			name: "measured",
			p:    measured,
			want: []string{"Presence <b>measured</b>", "2 events, 2 distinct (channel, event ID) pairs", `id="fixes"`,
				"Sysmon event 1 (ProcessCreate)", "&lt;script&gt;"},
			wantNot:  []string{"<script>alert"},
			detected: "T1059.001",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := k.All(tt.p)
			var b bytes.Buffer
			if err := WriteHTML(&b, k, cs, HTMLOptions{Presence: tt.p}); err != nil {
				t.Fatal(err)
			}
			page := b.String()
			for _, s := range tt.want {
				if !strings.Contains(page, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, s := range tt.wantNot {
				if strings.Contains(page, s) {
					t.Errorf("page contains %q", s)
				}
			}
			// exactly one script element: the table sorter
			if n := strings.Count(page, "<script"); n != 1 {
				t.Errorf("%d <script elements, want 1", n)
			}
			for _, bad := range []string{"http://", "<link", "@import", "src="} {
				if bad == "http://" {
					// the SVG namespace is the only http URL allowed
					page := strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, "")
					if strings.Contains(page, bad) {
						t.Errorf("page references %q: not self-contained", bad)
					}
					continue
				}
				if strings.Contains(page, bad) {
					t.Errorf("page has %q: not self-contained", bad)
				}
			}
			rows := regexp.MustCompile(`<tr data-technique="([^"]+)" data-level="([a-z]+)">`).FindAllStringSubmatch(page, -1)
			if len(rows) != len(cs) {
				t.Errorf("%d technique rows, want %d", len(rows), len(cs))
			}
			levels := map[string]string{}
			for _, r := range rows {
				levels[r[1]] = r[2]
			}
			if levels[tt.detected] != "detected" {
				t.Errorf("%s row level %q, want detected", tt.detected, levels[tt.detected])
			}
			counts := map[Level]int{}
			for _, c := range cs {
				counts[c.Level]++
			}
			for l, n := range counts {
				card := `data-level="` + l.String() + `"><div class="n">`
				if !strings.Contains(page, card+strconv.Itoa(n)+"<") {
					t.Errorf("summary card %s does not read %d", l, n)
				}
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteHTMLError(t *testing.T) {
	k := newKnowledge(t)
	c, err := k.Assess("T1003.001", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = WriteHTML(failWriter{}, k, []*Technique{c}, HTMLOptions{})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("err = %v, want the writer's error", err)
	}
}

func TestWriteHTMLEmpty(t *testing.T) {
	k := newKnowledge(t)
	var b bytes.Buffer
	if err := WriteHTML(&b, k, nil, HTMLOptions{Title: "Nothing <here>"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"<title>Nothing &lt;here&gt;</title>", "no data", "No gaps."} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("empty page lacks %q", s)
		}
	}
}
