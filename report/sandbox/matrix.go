package sandbox

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/finding"
)

// MatrixTactic is one column of the ATT&CK matrix: a tactic and the
// techniques detected under it.
type MatrixTactic struct {
	ID         string            `json:"id"` // TA0002
	Name       string            `json:"name"`
	ShortName  string            `json:"short_name"`
	Techniques []MatrixTechnique `json:"techniques"`
}

// MatrixTechnique is one detected technique with its evidence.
type MatrixTechnique struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	Count         int        `json:"count"` // findings naming the technique
	Evidence      []Evidence `json:"evidence"`
	EvidenceTotal int        `json:"evidence_total"` // Evidence is capped; this is the full count
}

// Evidence points at the event a signature fired on.
type Evidence struct {
	Timestamp   int64  `json:"timestamp"` // ns since epoch
	PID         int    `json:"pid"`
	ProcessName string `json:"process_name"`
	Event       string `json:"event"`
	Path        string `json:"path,omitempty"`
	Address     string `json:"address,omitempty"`
	RuleID      string `json:"rule_id"`
	RuleTitle   string `json:"rule_title"`
}

type techAcc struct {
	name     string
	tactics  []string
	count    int
	evidence []Evidence
}

type matrixBuilder struct {
	enabled  bool
	max      int
	findings int
	techs    map[string]*techAcc
}

func newMatrixBuilder(max int) *matrixBuilder {
	return &matrixBuilder{max: max, techs: map[string]*techAcc{}}
}

func (m *matrixBuilder) add(f *finding.Finding) {
	m.findings++
	ev := evidenceOf(f)
	for _, d := range f.Metadata.TechniqueDetails {
		t := m.techs[d.ID]
		if t == nil {
			t = &techAcc{name: d.Name}
			m.techs[d.ID] = t
		}
		t.tactics = mergeTactics(t.tactics, d.Tactics, f.Tactics)
		t.count++
		t.evidence = append(t.evidence, ev)
		if len(t.evidence) > 2*m.max {
			sortEvidence(t.evidence)
			t.evidence = t.evidence[:m.max]
		}
	}
}

// mergeTactics adds the technique's tactics, restricted to those the rule
// tagged when it tagged any of them.
func mergeTactics(have, tech, tagged []string) []string {
	var use []string
	for _, t := range tech {
		for _, g := range tagged {
			if g == t {
				use = append(use, t)
			}
		}
	}
	if len(use) == 0 {
		use = tech
	}
	for _, t := range use {
		found := false
		for _, h := range have {
			found = found || h == t
		}
		if !found {
			have = append(have, t)
		}
	}
	return have
}

func sortEvidence(ev []Evidence) {
	sort.SliceStable(ev, func(i, j int) bool {
		a, b := ev[i], ev[j]
		if a.Timestamp != b.Timestamp {
			return a.Timestamp < b.Timestamp
		}
		if a.PID != b.PID {
			return a.PID < b.PID
		}
		if a.RuleID != b.RuleID {
			return a.RuleID < b.RuleID
		}
		return a.Event+a.Path+a.Address < b.Event+b.Path+b.Address
	})
}

// evidenceOf describes the (first) event a finding was built from.
func evidenceOf(f *finding.Finding) Evidence {
	o := f.Metadata.OriginalEvent
	if evs, ok := o["events"].([]any); ok && len(evs) > 0 {
		if first, ok := evs[0].(map[string]any); ok {
			o = first
		}
	}
	get := func(k string) string {
		if v, ok := o[k].(string); ok {
			return v
		}
		return ""
	}
	e := Evidence{
		PID:         atoi(get("ProcessId")),
		ProcessName: get("ProcessName"),
		Event:       get("EventName"),
		RuleID:      f.RuleID,
		RuleTitle:   f.RuleTitle,
	}
	if !f.Timestamp.IsZero() {
		e.Timestamp = f.Timestamp.UnixNano()
	}
	fields := make(map[string]string, 8)
	for _, k := range []string{"TargetFilename", "pathname", "newpath", "filename", "path", "oldpath"} {
		fields[k] = get(k)
	}
	e.Path = PathOf(fields)
	if e.Path == "" && (e.Event == "sched_process_exec" || e.Event == "execve" || e.Event == "execveat") {
		if img := get("Image"); img != "" {
			e.Path = img
		}
	}
	if ip := get("DestinationIp"); ip != "" {
		e.Address = ip
		if p := get("DestinationPort"); p != "" {
			e.Address = joinHostPort(ip, p)
		}
	} else if q := get("QueryName"); q != "" {
		e.Address = q
	}
	return e
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// build returns the matrix: tactics in ATT&CK matrix order, techniques by
// count (then id), evidence by time, capped.
func (m *matrixBuilder) build(kb *attack.KB) []MatrixTactic {
	byTactic := map[string][]MatrixTechnique{}
	for id, t := range m.techs {
		ev := append([]Evidence{}, t.evidence...)
		sortEvidence(ev)
		if len(ev) > m.max {
			ev = ev[:m.max]
		}
		mt := MatrixTechnique{ID: id, Name: t.name, Count: t.count, Evidence: ev, EvidenceTotal: t.count}
		tactics := t.tactics
		if len(tactics) == 0 {
			tactics = []string{""}
		}
		for _, tac := range tactics {
			byTactic[tac] = append(byTactic[tac], mt)
		}
	}
	sortTechs := func(l []MatrixTechnique) {
		sort.Slice(l, func(i, j int) bool {
			if l[i].Count != l[j].Count {
				return l[i].Count > l[j].Count
			}
			return l[i].ID < l[j].ID
		})
	}
	out := []MatrixTactic{}
	if kb != nil {
		for _, tac := range kb.Tactics() {
			l, ok := byTactic[tac.ShortName]
			if !ok {
				continue
			}
			delete(byTactic, tac.ShortName)
			sortTechs(l)
			out = append(out, MatrixTactic{ID: tac.ID, Name: tac.Name, ShortName: tac.ShortName, Techniques: l})
		}
	}
	// Tactics the knowledge base does not know (or no KB): by name, the
	// untagged column last.
	rest := make([]string, 0, len(byTactic))
	for k := range byTactic {
		rest = append(rest, k)
	}
	sort.Slice(rest, func(i, j int) bool {
		if (rest[i] == "") != (rest[j] == "") {
			return rest[j] == ""
		}
		return rest[i] < rest[j]
	})
	for _, k := range rest {
		l := byTactic[k]
		sortTechs(l)
		name := k
		if name == "" {
			name = "Unknown tactic"
		}
		out = append(out, MatrixTactic{Name: name, ShortName: k, Techniques: l})
	}
	return out
}

// Matrix layout of WriteMatrix.
const (
	colWidth   = 30 // characters per tactic column
	colsPerRow = 4  // tactic columns per band
)

const (
	ansiReset  = "\x1b[0m"
	ansiHeader = "\x1b[1;36m" // bold cyan
	ansiID     = "\x1b[33m"   // yellow
	ansiCount  = "\x1b[1;31m" // bold red
)

// WriteMatrix renders the matrix for a terminal: tactic columns in matrix
// order (bands of four), each technique as "ID name (count)" under its
// tactic. ANSI colour only when color is true.
func WriteMatrix(w io.Writer, matrix []MatrixTactic, color bool) error {
	var b strings.Builder
	if len(matrix) == 0 {
		b.WriteString("ATT&CK matrix: no techniques detected\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	techs, total := 0, 0
	for _, t := range matrix {
		techs += len(t.Techniques)
		for _, x := range t.Techniques {
			total += x.Count
		}
	}
	fmt.Fprintf(&b, "ATT&CK matrix: %d tactics, %d technique entries, %d findings\n", len(matrix), techs, total)
	for start := 0; start < len(matrix); start += colsPerRow {
		band := matrix[start:min(start+colsPerRow, len(matrix))]
		b.WriteByte('\n')
		header := ""
		for i, t := range band {
			cell := fit(t.Name, colWidth)
			if color {
				cell = ansiHeader + cell + ansiReset
			}
			header += cell
			if i < len(band)-1 {
				header += " │ "
			}
		}
		b.WriteString(strings.TrimRight(header, " "))
		b.WriteByte('\n')
		for i := range band {
			b.WriteString(strings.Repeat("─", colWidth))
			if i < len(band)-1 {
				b.WriteString("─┼─")
			}
		}
		b.WriteByte('\n')
		rows := 0
		for _, t := range band {
			rows = max(rows, len(t.Techniques))
		}
		for r := 0; r < rows; r++ {
			line := ""
			for i, t := range band {
				line += techCell(t.Techniques, r, color)
				if i < len(band)-1 {
					line += " │ "
				}
			}
			b.WriteString(strings.TrimRight(line, " "))
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// techCell renders row r of a column, padded to colWidth.
func techCell(l []MatrixTechnique, r int, color bool) string {
	if r >= len(l) {
		return strings.Repeat(" ", colWidth)
	}
	t := l[r]
	count := "(" + strconv.Itoa(t.Count) + ")"
	room := colWidth - utf8.RuneCountInString(t.ID) - len(count) - 2
	name := fit(t.Name, max(room, 0))
	name = strings.TrimRight(name, " ")
	plainLen := utf8.RuneCountInString(t.ID) + 1 + utf8.RuneCountInString(name) + 1 + len(count)
	if name == "" {
		plainLen--
	}
	pad := strings.Repeat(" ", max(colWidth-plainLen, 0))
	id, cnt := t.ID, count
	if color {
		id, cnt = ansiID+id+ansiReset, ansiCount+cnt+ansiReset
	}
	if name == "" {
		return id + " " + cnt + pad
	}
	return id + " " + name + " " + cnt + pad
}

// fit pads or truncates s to exactly n runes (truncation marked with …).
func fit(s string, n int) string {
	if n <= 0 {
		return ""
	}
	rs := []rune(s)
	if len(rs) > n {
		return string(rs[:n-1]) + "…"
	}
	return s + strings.Repeat(" ", n-len(rs))
}
