// Package report writes findings for people and tools: CSV for
// spreadsheets, JSON and NDJSON for programs, and a plain-text summary by
// severity, tactic and technique.
//
// Every format is a Writer that streams: Write is called once per finding,
// and Close flushes whatever the format keeps until the end (the closing
// bracket of a JSON array, the whole summary). Close never closes the
// underlying io.Writer, which belongs to the caller.
//
// Adding a format is one constructor plus one line in the formats map,
// which is the only list of formats (New and Formats read it).
//
// # csv
//
// The columns of DESIGN.md §2, one row per finding × technique (a finding
// without technique gets one row with empty technique columns):
//
//	timestamp,host,user,source,event_id,rule_id,tactic,technique_id,technique_name,severity,description,raw_message
//
// event_id is the Windows event ID (4625), the "Event ID" analysts know,
// empty for sources without one; the finding's stable id is only in the
// JSON formats. source is Finding.Source, as in JSON. timestamp is RFC 3339
// UTC. tactic is the technique's tactics joined with ";". raw_message is
// the record's message, line breaks kept, or else the original event as
// sorted "key=value; …". Values starting with = + - or @ get a leading
// single quote so spreadsheets do not run them as formulas; CRLF inside
// values becomes LF. See csvWriter for every rule.
//
// # json, ndjson
//
// The Finding's JSON: one array (json, elements indented) or one object per
// line (ndjson). Timestamps are UTC; nil lists are written as [].
//
// # summary
//
// An aligned text report printed on Close: totals, findings by severity
// (critical first), by tactic (ATT&CK matrix order), by technique, and the
// top 10 hosts, users and rules. It keeps counters, not findings.
// Options.Color colours severity words with ANSI escapes.
//
// # html
//
// One self-contained page (package report/html): summary, the ATT&CK
// matrix as a heat map of findings, a timeline, sortable tables and
// per-technique evidence. Written on Close from counters and a bounded
// number of evidence rows per technique.
//
// # navigator
//
// An ATT&CK Navigator layer (format 4.5, ATT&CK 18, enterprise-attack):
// one entry per technique × tactic, score = findings naming the technique,
// comment and metadata with the top rules and severities. Written on Close
// from counters. See navigatorWriter.
//
// # stix
//
// A STIX 2.1 bundle (package export/stix): an identity, attack-patterns,
// and per finding an indicator, "indicates" relationships and a sighting,
// with deterministic ids. Objects are stamped with the latest finding
// time, so the same input gives the same bytes. Written on Close.
package report

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/finding"
)

// Writer streams findings in one format. A Writer is not safe for
// concurrent use.
type Writer interface {
	// Write adds one finding. After an error from the underlying
	// io.Writer, every later call returns that error.
	Write(f *finding.Finding) error
	// Close writes what the format keeps until the end and flushes. It
	// does not close the underlying io.Writer. Write after Close is an
	// error; a second Close is a no-op.
	Close() error
}

// TechniqueNamer names ATT&CK techniques a finding carries by ID only (no
// matching entry in Metadata.TechniqueDetails). The attack package's
// knowledge base satisfies it through a small adapter; TechniqueNamerFunc
// adapts a plain function.
type TechniqueNamer interface {
	// TechniqueName returns the technique's name, e.g. "Password
	// Guessing" for "T1110.001", and false when the ID is unknown.
	TechniqueName(id string) (string, bool)
}

// TechniqueNamerFunc adapts a function to TechniqueNamer.
type TechniqueNamerFunc func(id string) (string, bool)

// TechniqueName calls fn(id).
func (fn TechniqueNamerFunc) TechniqueName(id string) (string, bool) { return fn(id) }

// Options tune every format; formats ignore the fields they have no use for.
type Options struct {
	// Color adds ANSI colours to severity words in the summary. Set it
	// only when the caller knows the output is a terminal.
	Color bool
	// Tool names the program and version in reports that carry a header,
	// e.g. "ttpmap 0.1.0". Empty leaves it out.
	Tool string
	// Techniques names techniques that a finding lists without details.
	// Nil leaves such names empty.
	Techniques TechniqueNamer
	// KB is the ATT&CK knowledge base of the html and navigator formats
	// (matrix, names, groups, tactics). Nil uses attack.Embedded().
	KB *attack.KB
}

// ErrUnknownFormat is wrapped by New's error for a format name it does not
// know.
var ErrUnknownFormat = errors.New("unknown report format")

// formats is the one list of report formats: name → constructor.
var formats = map[string]func(io.Writer, Options) (Writer, error){
	"csv":       newCSV,
	"html":      newHTML,
	"json":      newJSON,
	"navigator": newNavigator,
	"ndjson":    newNDJSON,
	"stix":      newSTIX,
	"summary":   newSummary,
}

// Formats returns the names of the known formats, sorted.
func Formats() []string {
	names := make([]string, 0, len(formats))
	for name := range formats {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// New returns a Writer for the named format (case-insensitive) that writes
// to w. An unknown name gives an error wrapping ErrUnknownFormat that lists
// the known ones.
func New(format string, w io.Writer, opts Options) (Writer, error) {
	name := strings.ToLower(strings.TrimSpace(format))
	ctor, ok := formats[name]
	if !ok {
		return nil, fmt.Errorf("report: %w %q (known: %s)", ErrUnknownFormat, format, strings.Join(Formats(), ", "))
	}
	if w == nil {
		return nil, fmt.Errorf("report %s: nil io.Writer", name)
	}
	rw, err := ctor(w, opts)
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", name, err)
	}
	return rw, nil
}

// errClosed is returned by Write after Close.
var errClosed = errors.New("write after close")

// errNilFinding is returned by Write(nil).
var errNilFinding = errors.New("nil finding")

// techniqueIDs returns the finding's technique IDs, without duplicates, in
// order. It falls back to the IDs of Metadata.TechniqueDetails when
// TechniqueIDs is empty.
func techniqueIDs(f *finding.Finding) []string {
	ids := f.TechniqueIDs
	if len(ids) == 0 {
		for _, d := range f.Metadata.TechniqueDetails {
			ids = append(ids, d.ID)
		}
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if id == "" || contains(out, id) {
			continue
		}
		out = append(out, id)
	}
	return out
}

// detail returns the finding's technique detail for id, or nil.
func detail(f *finding.Finding, id string) *finding.TechniqueDetail {
	for i := range f.Metadata.TechniqueDetails {
		if strings.EqualFold(f.Metadata.TechniqueDetails[i].ID, id) {
			return &f.Metadata.TechniqueDetails[i]
		}
	}
	return nil
}

// techniqueName names id from the finding's details, then from namer.
func techniqueName(f *finding.Finding, id string, namer TechniqueNamer) string {
	if d := detail(f, id); d != nil && d.Name != "" {
		return d.Name
	}
	if namer != nil {
		if name, ok := namer.TechniqueName(id); ok {
			return name
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
