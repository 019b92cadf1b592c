package report

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ttpmap/ttpmap/finding"
)

// topN is how many hosts, users and rules the summary lists.
const topN = 10

// severities are the severity levels, most severe first (DESIGN.md §2).
var severities = [...]string{"critical", "high", "medium", "low", "informational"}

// tacticOrder is the ATT&CK Enterprise matrix order of tactics, by short
// name, with each tactic's ID so that "TA0006" sorts like
// "credential-access". ATT&CK v19 split defense-evasion into stealth and
// defense-impairment (SigmaHQ already tags them); they sit where their
// parent stands. Their v19 ids are not in the embedded v18.1 data.
var tacticOrder = [...]struct{ name, id string }{
	{"reconnaissance", "TA0043"},
	{"resource-development", "TA0042"},
	{"initial-access", "TA0001"},
	{"execution", "TA0002"},
	{"persistence", "TA0003"},
	{"privilege-escalation", "TA0004"},
	{"defense-evasion", "TA0005"},
	{"stealth", "-"},
	{"defense-impairment", "-"},
	{"credential-access", "TA0006"},
	{"discovery", "TA0007"},
	{"lateral-movement", "TA0008"},
	{"collection", "TA0009"},
	{"command-and-control", "TA0011"},
	{"exfiltration", "TA0010"},
	{"impact", "TA0040"},
}

// summaryWriter counts findings and prints an aligned text report on
// Close. It keeps counters, never findings: memory grows with the number
// of distinct hosts, users, techniques and rules, not with findings.
type summaryWriter struct {
	w    io.Writer
	opts Options

	findings    int
	noTechnique int
	first, last time.Time
	bySeverity  map[string]int
	byTactic    map[string]int
	byTechnique map[string]*techniqueCount
	byHost      map[string]int
	byUser      map[string]int
	byRule      map[string]*ruleCount
	tacticsSeen []string // scratch, reused per finding
	closed      bool
}

type techniqueCount struct {
	name    string
	count   int
	highest string
}

type ruleCount struct {
	title   string
	count   int
	highest string
}

func newSummary(w io.Writer, opts Options) (Writer, error) {
	return &summaryWriter{
		w:           w,
		opts:        opts,
		bySeverity:  map[string]int{},
		byTactic:    map[string]int{},
		byTechnique: map[string]*techniqueCount{},
		byHost:      map[string]int{},
		byUser:      map[string]int{},
		byRule:      map[string]*ruleCount{},
	}, nil
}

// Write counts one finding.
func (s *summaryWriter) Write(f *finding.Finding) error {
	if s.closed {
		return fmt.Errorf("report summary: %w", errClosed)
	}
	if f == nil {
		return fmt.Errorf("report summary: %w", errNilFinding)
	}
	s.findings++
	if t := f.Timestamp; !t.IsZero() {
		if s.first.IsZero() || t.Before(s.first) {
			s.first = t
		}
		if s.last.IsZero() || t.After(s.last) {
			s.last = t
		}
	}
	sev := normSeverity(f.Severity)
	s.bySeverity[sev]++
	if f.Host != "" {
		s.byHost[f.Host]++
	}
	if f.User != "" {
		s.byUser[f.User]++
	}

	// Tactics: the union of the finding's and its techniques' tactics,
	// each counted once per finding.
	s.tacticsSeen = s.tacticsSeen[:0]
	for _, t := range f.Tactics {
		s.addTactic(t)
	}
	for _, d := range f.Metadata.TechniqueDetails {
		for _, t := range d.Tactics {
			s.addTactic(t)
		}
	}
	for _, t := range s.tacticsSeen {
		s.byTactic[t]++
	}

	ids := techniqueIDs(f)
	if len(ids) == 0 {
		s.noTechnique++
	}
	for _, id := range ids {
		tc := s.byTechnique[id]
		if tc == nil {
			tc = &techniqueCount{highest: sev}
			s.byTechnique[id] = tc
		}
		if tc.name == "" {
			if d := detail(f, id); d != nil {
				tc.name = d.Name
			}
		}
		tc.count++
		if severityRank(sev) > severityRank(tc.highest) {
			tc.highest = sev
		}
	}

	if key := firstNonEmpty(f.RuleID, f.RuleTitle); key != "" {
		rc := s.byRule[key]
		if rc == nil {
			rc = &ruleCount{title: f.RuleTitle, highest: sev}
			s.byRule[key] = rc
		}
		rc.count++
		if severityRank(sev) > severityRank(rc.highest) {
			rc.highest = sev
		}
	}
	return nil
}

// addTactic adds t to the finding's tactics unless already there.
func (s *summaryWriter) addTactic(t string) {
	if t = normTactic(t); t != "" && !contains(s.tacticsSeen, t) {
		s.tacticsSeen = append(s.tacticsSeen, t)
	}
}

// Close prints the report.
func (s *summaryWriter) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	ew := &errWriter{w: s.w}
	tw := tabwriter.NewWriter(ew, 0, 8, 2, ' ', 0)
	s.print(tw)
	if err := tw.Flush(); err != nil && ew.err == nil {
		ew.err = err
	}
	if ew.err != nil {
		return fmt.Errorf("report summary: %w", ew.err)
	}
	return nil
}

func (s *summaryWriter) print(tw io.Writer) {
	title := "Findings summary"
	if s.opts.Tool != "" {
		title += " (" + s.opts.Tool + ")"
	}
	fmt.Fprintf(tw, "%s\n\n", title)
	if s.findings == 0 {
		fmt.Fprintln(tw, "no findings")
		return
	}

	fmt.Fprintf(tw, "Findings:\t%d\n", s.findings)
	fmt.Fprintf(tw, "Hosts:\t%d\n", len(s.byHost))
	fmt.Fprintf(tw, "Users:\t%d\n", len(s.byUser))
	fmt.Fprintf(tw, "Techniques:\t%d\n", len(s.byTechnique))
	fmt.Fprintf(tw, "Rules:\t%d\n", len(s.byRule))
	if s.noTechnique > 0 {
		fmt.Fprintf(tw, "Without technique:\t%d\n", s.noTechnique)
	}
	if !s.first.IsZero() {
		fmt.Fprintf(tw, "First:\t%s\n", s.first.UTC().Format(time.RFC3339))
		fmt.Fprintf(tw, "Last:\t%s\n", s.last.UTC().Format(time.RFC3339))
	}

	fmt.Fprint(tw, "\nBy severity\n")
	var other []string
	for sev := range s.bySeverity {
		if severityRank(sev) < 0 {
			other = append(other, sev)
		}
	}
	slices.Sort(other)
	for _, sev := range slices.Concat(severities[:], other) {
		n := s.bySeverity[sev]
		fmt.Fprintf(tw, "  %s\t%d\t%5.1f%%\n", s.paint(sev), n, 100*float64(n)/float64(s.findings))
	}

	if len(s.byTactic) > 0 {
		fmt.Fprint(tw, "\nBy tactic\n")
		tactics := make([]string, 0, len(s.byTactic))
		for t := range s.byTactic {
			tactics = append(tactics, t)
		}
		slices.SortFunc(tactics, func(a, b string) int {
			return cmp.Or(cmp.Compare(tacticRank(a), tacticRank(b)), cmp.Compare(a, b))
		})
		for _, t := range tactics {
			fmt.Fprintf(tw, "  %s\t%d\n", t, s.byTactic[t])
		}
	}

	if len(s.byTechnique) > 0 {
		fmt.Fprint(tw, "\nBy technique\n")
		fmt.Fprint(tw, "  ID\tNAME\tFINDINGS\tHIGHEST\n")
		ids := make([]string, 0, len(s.byTechnique))
		for id := range s.byTechnique {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b string) int {
			return cmp.Or(cmp.Compare(s.byTechnique[b].count, s.byTechnique[a].count), cmp.Compare(a, b))
		})
		for _, id := range ids {
			tc := s.byTechnique[id]
			name := tc.name
			if name == "" && s.opts.Techniques != nil {
				name, _ = s.opts.Techniques.TechniqueName(id)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\n", clean(id), dash(name), tc.count, s.paint(tc.highest))
		}
	}

	s.printTop(tw, "Top hosts", "HOST", s.byHost)
	s.printTop(tw, "Top users", "USER", s.byUser)

	if len(s.byRule) > 0 {
		fmt.Fprint(tw, "\nTop rules\n")
		fmt.Fprint(tw, "  RULE\tTITLE\tFINDINGS\tHIGHEST\n")
		keys := make([]string, 0, len(s.byRule))
		for k := range s.byRule {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			return cmp.Or(cmp.Compare(s.byRule[b].count, s.byRule[a].count), cmp.Compare(a, b))
		})
		for _, k := range keys[:min(topN, len(keys))] {
			rc := s.byRule[k]
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\n", clean(k), dash(rc.title), rc.count, s.paint(rc.highest))
		}
	}
}

// printTop prints the topN keys of counts by count, then name.
func (s *summaryWriter) printTop(tw io.Writer, title, column string, counts map[string]int) {
	if len(counts) == 0 {
		return
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	fmt.Fprintf(tw, "\n%s\n", title)
	fmt.Fprintf(tw, "  %s\tFINDINGS\n", column)
	for _, k := range keys[:min(topN, len(keys))] {
		fmt.Fprintf(tw, "  %s\t%d\n", clean(k), counts[k])
	}
}

// paint colours a severity word when Options.Color is set. Every colour
// sequence has the same length (7 bytes on, 4 off), so a column made only
// of painted words stays aligned by tabwriter, which counts the escape
// bytes as width. A painted word is therefore only ever placed in a column
// where every row is painted, or in the last column.
func (s *summaryWriter) paint(sev string) string {
	if !s.opts.Color {
		return sev
	}
	code := "\x1b[0;39m" // default colour for unknown levels
	switch sev {
	case "critical":
		code = "\x1b[1;31m" // bold red
	case "high":
		code = "\x1b[0;31m" // red
	case "medium":
		code = "\x1b[0;33m" // yellow
	case "low":
		code = "\x1b[0;36m" // cyan
	case "informational":
		code = "\x1b[0;32m" // green
	}
	return code + sev + "\x1b[0m"
}

// normSeverity lower-cases a severity, maps "info" to "informational" and
// an empty one to "unknown".
func normSeverity(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "":
		return "unknown"
	case "info":
		return "informational"
	}
	return clean(s)
}

// severityRank orders severities: informational 0 … critical 4, others -1.
func severityRank(s string) int {
	for i, v := range severities {
		if v == s {
			return len(severities) - 1 - i
		}
	}
	return -1
}

// normTactic turns "Credential Access", "credential_access" and "TA0006"
// into the ATT&CK short name "credential-access". Unknown tactics keep
// their lower-cased, hyphenated form.
func normTactic(t string) string {
	t = strings.TrimSpace(t)
	for _, o := range tacticOrder {
		if strings.EqualFold(t, o.id) {
			return o.name
		}
	}
	if tacticRank(t) < len(tacticOrder) {
		return t // already a short name: the common case
	}
	t = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '_', '\t':
			return '-'
		}
		return unicode.ToLower(r)
	}, t)
	return clean(t)
}

// tacticRank is a tactic's position in the matrix, or len(tacticOrder)
// for tactics outside it.
func tacticRank(t string) int {
	for i, o := range tacticOrder {
		if o.name == t {
			return i
		}
	}
	return len(tacticOrder)
}

// clean makes text from the logs safe to print in the table: tabs and line
// breaks (which would break the layout) become spaces, other control
// characters (ANSI escape sequences included, which could drive the
// reader's terminal) become '?', and invalid UTF-8 (whose 0xff byte is
// tabwriter's escape character) becomes U+FFFD.
func clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r):
			return '?'
		}
		return r
	}, s)
}

// dash returns clean(s), or "-" when it is empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return clean(s)
}

// errWriter remembers the first write error, which text/tabwriter would
// otherwise report only from the call that triggered a flush.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}
