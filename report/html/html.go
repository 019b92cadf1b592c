// Package html writes findings as one self-contained HTML report: a
// summary (findings by severity, tactic and host), the ATT&CK matrix as a
// heat map of findings, a timeline, sortable tables of techniques, rules and
// hosts, and per-technique details with evidence rows.
//
// The file needs nothing from the network: CSS and SVG are inline, and a
// little inline JavaScript sorts and filters the tables (the page reads
// fine without it). Everything that comes from logs is escaped by
// html/template.
//
// The Writer keeps counters, not findings: memory grows with the number of
// distinct techniques, rules, hosts and time buckets, plus at most
// Options.MaxEvidence evidence rows per technique. The page is written on
// Close.
//
// Matrix cells carry data attributes for tools and tests:
//
//	<a class="cell h3" data-technique="T1110.001" data-count="1" data-total="1">
//
// data-count is the findings naming the technique itself, data-total adds
// those of its sub-techniques (parents only). ATT&CK v19 technique ids
// (T1685 …) are placed on the v18 technique they replaced, since the
// matrix is v18's.
package html

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/finding"
)

// DefaultMaxEvidence is the evidence rows kept per technique when
// Options.MaxEvidence is 0.
const DefaultMaxEvidence = 50

// maxField bounds the bytes kept of one log-derived string in an evidence
// row, so a huge description cannot blow up memory.
const maxField = 600

// Options tune the report.
type Options struct {
	// Title heads the page; empty gives "ttpmap findings report".
	Title string
	// Tool names the program and version in the footer, e.g.
	// "ttpmap 0.1.0". Empty leaves it out.
	Tool string
	// KB is the ATT&CK knowledge base for the matrix, names and groups.
	// Nil uses attack.Embedded().
	KB *attack.KB
	// MaxEvidence bounds the evidence rows kept per technique; 0 means
	// DefaultMaxEvidence. When more findings arrive, rows of higher
	// severity replace rows of lower severity.
	MaxEvidence int
	// Now gives the generation time printed in the footer; nil uses
	// time.Now.
	Now func() time.Time
}

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("html report: write after close")

// Writer accumulates findings and writes the HTML page on Close. It is not
// safe for concurrent use.
type Writer struct {
	w    io.Writer
	opts Options
	kb   *attack.KB

	findings    int
	noTechnique int
	first, last time.Time
	bySeverity  [numSev]int
	byTactic    map[string]int // v18 short name (or raw name when unknown) → findings
	techs       map[string]*techAcc
	rules       map[string]*ruleAcc
	hosts       map[string]*hostAcc
	timeline    timeline
	scratch     []string
	closed      bool
}

// Severity levels, most severe first; sevUnknown collects anything else.
const (
	sevCritical = iota
	sevHigh
	sevMedium
	sevLow
	sevInfo
	sevUnknown
	numSev
)

var sevNames = [numSev]string{"critical", "high", "medium", "low", "informational", "unknown"}

func sevIndex(s string) int {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical":
		return sevCritical
	case "high":
		return sevHigh
	case "medium":
		return sevMedium
	case "low":
		return sevLow
	case "informational", "info":
		return sevInfo
	}
	return sevUnknown
}

// techAcc counts one technique (keyed by its v18 id, or the raw id when
// ATT&CK does not know it).
type techAcc struct {
	id          string
	tech        *attack.Technique // nil when unknown
	reportedAs  []string          // other ids findings used for it (v19 ids), bounded
	count       int
	bySev       [numSev]int
	first, last time.Time
	rules       map[string]int
	hosts       map[string]struct{}
	evidence    []evidence
}

// maxHostsPerTechnique bounds the host set kept per technique; beyond it
// the table says "≥ N".
const maxHostsPerTechnique = 1000

type evidence struct {
	time        time.Time
	sev         int
	host, user  string
	rule        string
	description string
}

type ruleAcc struct {
	id, title   string
	count       int
	worst       int
	first, last time.Time
	techniques  []string // first seen, bounded
}

type hostAcc struct {
	count       int
	worst       int
	first, last time.Time
	users       map[string]struct{}
}

// maxUsersPerHost bounds the user set kept per host.
const maxUsersPerHost = 1000

// New returns a Writer that writes the page to w on Close.
func New(w io.Writer, opts Options) (*Writer, error) {
	if w == nil {
		return nil, errors.New("html report: nil io.Writer")
	}
	kb := opts.KB
	if kb == nil {
		var err error
		if kb, err = attack.Embedded(); err != nil {
			return nil, fmt.Errorf("html report: %w", err)
		}
	}
	if opts.MaxEvidence <= 0 {
		opts.MaxEvidence = DefaultMaxEvidence
	}
	if opts.Title == "" {
		opts.Title = "ttpmap findings report"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	wr := &Writer{
		w: w, opts: opts, kb: kb,
		byTactic: map[string]int{},
		techs:    map[string]*techAcc{},
		rules:    map[string]*ruleAcc{},
		hosts:    map[string]*hostAcc{},
	}
	wr.timeline.init()
	return wr, nil
}

// Write counts one finding. It never writes to the underlying io.Writer.
func (wr *Writer) Write(f *finding.Finding) error {
	if wr.closed {
		return ErrClosed
	}
	if f == nil {
		return errors.New("html report: nil finding")
	}
	wr.findings++
	sev := sevIndex(f.Severity)
	wr.bySeverity[sev]++
	ts := f.Timestamp.UTC()
	if !ts.IsZero() {
		wr.first, wr.last = widen(wr.first, wr.last, ts)
		wr.timeline.add(ts, sev)
	}

	// Tactics: the finding's and its techniques', once per finding, as v18
	// short names.
	wr.scratch = wr.scratch[:0]
	for _, t := range f.Tactics {
		wr.addTactic(t)
	}
	for _, d := range f.Metadata.TechniqueDetails {
		for _, t := range d.Tactics {
			wr.addTactic(t)
		}
	}
	for _, t := range wr.scratch {
		wr.byTactic[t]++
	}

	host := clip(f.Host)
	ev := evidence{time: ts, sev: sev, host: host, user: clip(f.User),
		rule: clip(firstNonEmpty(f.RuleTitle, f.RuleID)), description: clip(f.Description)}
	ids := techniqueIDs(f)
	if len(ids) == 0 {
		wr.noTechnique++
	}
	seen := wr.scratch[:0:0]
	for _, raw := range ids {
		key, tech, asID := wr.resolve(raw)
		if containsString(seen, key) {
			continue
		}
		seen = append(seen, key)
		ta := wr.techs[key]
		if ta == nil {
			ta = &techAcc{id: key, tech: tech, rules: map[string]int{}, hosts: map[string]struct{}{}}
			wr.techs[key] = ta
		}
		if asID != key && !containsString(ta.reportedAs, asID) && len(ta.reportedAs) < 8 {
			ta.reportedAs = append(ta.reportedAs, asID)
		}
		ta.count++
		ta.bySev[sev]++
		if !ts.IsZero() {
			ta.first, ta.last = widen(ta.first, ta.last, ts)
		}
		if len(ta.rules) < 1000 || ta.rules[ev.rule] > 0 {
			ta.rules[ev.rule]++
		}
		if host != "" && len(ta.hosts) < maxHostsPerTechnique {
			ta.hosts[host] = struct{}{}
		}
		ta.addEvidence(ev, wr.opts.MaxEvidence)
	}

	ruleKey := firstNonEmpty(f.RuleID, f.RuleTitle)
	ra := wr.rules[ruleKey]
	if ra == nil {
		ra = &ruleAcc{id: clip(f.RuleID), title: clip(firstNonEmpty(f.RuleTitle, f.RuleID)), worst: sev}
		wr.rules[ruleKey] = ra
	}
	ra.count++
	ra.worst = min(ra.worst, sev)
	if !ts.IsZero() {
		ra.first, ra.last = widen(ra.first, ra.last, ts)
	}
	for _, id := range seen {
		if !containsString(ra.techniques, id) && len(ra.techniques) < 16 {
			ra.techniques = append(ra.techniques, id)
		}
	}

	if host != "" {
		ha := wr.hosts[host]
		if ha == nil {
			ha = &hostAcc{worst: sev, users: map[string]struct{}{}}
			wr.hosts[host] = ha
		}
		ha.count++
		ha.worst = min(ha.worst, sev)
		if !ts.IsZero() {
			ha.first, ha.last = widen(ha.first, ha.last, ts)
		}
		if ev.user != "" && len(ha.users) < maxUsersPerHost {
			ha.users[ev.user] = struct{}{}
		}
	}
	return nil
}

// Close writes the page and flushes. It does not close the underlying
// io.Writer. A second Close is a no-op.
func (wr *Writer) Close() error {
	if wr.closed {
		return nil
	}
	wr.closed = true
	bw := bufio.NewWriterSize(wr.w, 32<<10)
	if err := page.Execute(bw, wr.view()); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	return nil
}

// addTactic adds a tactic name, as its v18 short name, to wr.scratch once.
func (wr *Writer) addTactic(name string) {
	name = strings.TrimSpace(name)
	if name == "" {
		return
	}
	key := strings.ToLower(name)
	if t, ok := wr.kb.Tactic(name); ok {
		key = t.ShortName
		if t.V18 != "" {
			if v18, ok := wr.kb.Tactic(t.V18); ok {
				key = v18.ShortName
			}
		}
	}
	if !containsString(wr.scratch, key) {
		wr.scratch = append(wr.scratch, key)
	}
}

// resolve maps a technique id to the key it is counted under: its v18 id
// (a v19 id maps to the v18 technique it replaced, a revoked id to its
// replacement), or the upper-cased id when ATT&CK does not know it. asID
// is the id ATT&CK resolved id to before the v19 mapping.
func (wr *Writer) resolve(id string) (key string, tech *attack.Technique, asID string) {
	t, ok := wr.kb.Technique(id)
	if !ok {
		key = strings.ToUpper(clip(id))
		return key, nil, key
	}
	if t.Version == attack.Version19 && len(t.V18IDs) > 0 {
		if v18, ok := wr.kb.Technique(t.V18IDs[0]); ok {
			return v18.ID, v18, t.ID
		}
	}
	return t.ID, t, t.ID
}

// addEvidence keeps at most max rows; when full, a row of higher severity
// replaces the least severe, latest row.
func (ta *techAcc) addEvidence(ev evidence, max int) {
	if len(ta.evidence) < max {
		ta.evidence = append(ta.evidence, ev)
		return
	}
	worst := -1
	for i, e := range ta.evidence {
		if worst < 0 || e.sev > ta.evidence[worst].sev ||
			(e.sev == ta.evidence[worst].sev && e.time.After(ta.evidence[worst].time)) {
			worst = i
		}
	}
	if worst >= 0 && ev.sev < ta.evidence[worst].sev {
		ta.evidence[worst] = ev
	}
}

// techniqueIDs returns the finding's technique ids, falling back to the
// ids of Metadata.TechniqueDetails.
func techniqueIDs(f *finding.Finding) []string {
	if len(f.TechniqueIDs) > 0 {
		return f.TechniqueIDs
	}
	ids := make([]string, 0, len(f.Metadata.TechniqueDetails))
	for _, d := range f.Metadata.TechniqueDetails {
		ids = append(ids, d.ID)
	}
	return ids
}

func widen(first, last, t time.Time) (time.Time, time.Time) {
	if first.IsZero() || t.Before(first) {
		first = t
	}
	if last.IsZero() || t.After(last) {
		last = t
	}
	return first, last
}

// clip trims s and cuts it to maxField bytes on a rune boundary.
func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxField {
		return s
	}
	cut := maxField
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func firstNonEmpty(a, b string) string {
	if strings.TrimSpace(a) != "" {
		return a
	}
	return b
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
