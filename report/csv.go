package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/finding"
)

// csvHeader is the CSV report's header (DESIGN.md §2). Columns are never
// reordered or renamed; new ones may only be appended.
var csvHeader = [...]string{
	"timestamp", "host", "user", "source", "event_id", "rule_id", "tactic",
	"technique_id", "technique_name", "severity", "description", "raw_message",
}

// csvWriter writes the CSV report: one row per finding × technique, and
// one row with empty technique columns for a finding without techniques.
//
// Column values:
//
//   - timestamp: RFC 3339 in UTC, whole seconds; empty for a zero time.
//   - source: Finding.Source (the source address or workstation, e.g.
//     "10.0.0.7"), the same value as the JSON "source" field, so that a
//     column name means one thing in every format.
//   - event_id: the Windows event ID (Finding.WinEvent, e.g. 4625), which
//     is what analysts read as "Event ID"; empty when there is none (Linux
//     sources). The finding's stable id (Finding.EventID) is not in the
//     CSV; it is in the JSON formats.
//   - tactic: the technique's tactics from Metadata.TechniqueDetails,
//     joined with ";", else the finding's tactics.
//   - technique_name: from Metadata.TechniqueDetails, else from
//     Options.Techniques.
//   - description: Finding.Description, else Finding.RuleTitle.
//   - raw_message: Finding.Message, line breaks kept (the field is quoted);
//     when empty, Metadata.OriginalEvent as "key=value; key=value" sorted
//     by key, nested values as compact JSON.
//
// Every value has "\r\n" replaced by "\n": encoding/csv readers, and
// Excel, cannot tell them apart inside a quoted field (carriage returns
// piled up before a line feed go too). A value starting with '=', '+', '-'
// or '@' gets a leading single quote so that spreadsheet programs show it
// as text instead of evaluating it as a formula (CSV injection). Only those
// four characters trigger the guard, so other values are never altered;
// the cost is that a value such as "-1" reads back as "'-1". Rows end in
// "\n".
type csvWriter struct {
	cw     *csv.Writer
	opts   Options
	row    [len(csvHeader)]string
	closed bool
}

func newCSV(w io.Writer, opts Options) (Writer, error) {
	c := &csvWriter{cw: csv.NewWriter(w), opts: opts}
	if err := c.cw.Write(csvHeader[:]); err != nil {
		return nil, fmt.Errorf("write header: %w", err)
	}
	return c, nil
}

// Write adds one row per technique of f.
func (c *csvWriter) Write(f *finding.Finding) error {
	if c.closed {
		return fmt.Errorf("report csv: %w", errClosed)
	}
	if f == nil {
		return fmt.Errorf("report csv: %w", errNilFinding)
	}
	ts := ""
	if !f.Timestamp.IsZero() {
		ts = f.Timestamp.UTC().Format(time.RFC3339)
	}
	eventID := ""
	if f.WinEvent != 0 {
		eventID = strconv.Itoa(f.WinEvent)
	}
	desc := f.Description
	if desc == "" {
		desc = f.RuleTitle
	}
	raw := f.Message
	if raw == "" {
		raw = compactOriginal(f.Metadata.OriginalEvent)
	}

	row := &c.row
	row[0] = csvCell(ts)
	row[1] = csvCell(f.Host)
	row[2] = csvCell(f.User)
	row[3] = csvCell(f.Source)
	row[4] = csvCell(eventID)
	row[5] = csvCell(f.RuleID)
	row[9] = csvCell(f.Severity)
	row[10] = csvCell(desc)
	row[11] = csvCell(raw)

	ids := techniqueIDs(f)
	if len(ids) == 0 {
		row[6] = csvCell(strings.Join(f.Tactics, ";"))
		row[7], row[8] = "", ""
		if err := c.cw.Write(row[:]); err != nil {
			return fmt.Errorf("report csv: %w", err)
		}
		return nil
	}
	for _, id := range ids {
		tactics := f.Tactics
		if d := detail(f, id); d != nil && len(d.Tactics) > 0 {
			tactics = d.Tactics
		}
		row[6] = csvCell(strings.Join(tactics, ";"))
		row[7] = csvCell(id)
		row[8] = csvCell(techniqueName(f, id, c.opts.Techniques))
		if err := c.cw.Write(row[:]); err != nil {
			return fmt.Errorf("report csv: %w", err)
		}
	}
	return nil
}

// Close flushes the rows.
func (c *csvWriter) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	c.cw.Flush()
	if err := c.cw.Error(); err != nil {
		return fmt.Errorf("report csv: flush: %w", err)
	}
	return nil
}

// csvCell applies the CSV report's value rules: CRLF becomes LF, and a
// value that a spreadsheet would evaluate as a formula gets a leading
// single quote.
func csvCell(s string) string {
	if strings.Contains(s, "\r\n") {
		s = dropCRBeforeLF(s)
	}
	if s != "" {
		switch s[0] {
		case '=', '+', '-', '@':
			s = "'" + s
		}
	}
	return s
}

// compactOriginal renders an original event as "key=value; key=value",
// sorted by key. Strings are written as they are, other scalars with %v,
// maps and slices as compact JSON.
// dropCRBeforeLF removes every run of carriage returns that ends at a
// line feed ("\r\n" and "\r\r\n" both become "\n"); encoding/csv's
// reader turns "\r\n" into "\n" once per line, so only output without any
// "\r\n" reads back as written. Other carriage returns are kept.
func dropCRBeforeLF(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if s[i] != '\r' {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] == '\r' {
			j++
		}
		if j == len(s) || s[j] != '\n' {
			b.WriteString(s[i:j])
		}
		i = j
	}
	return b.String()
}

func compactOriginal(m map[string]any) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		switch v := m[k].(type) {
		case nil:
		case string:
			b.WriteString(v)
		case map[string]any, []any, map[string]string, []string:
			data, err := json.Marshal(v)
			if err != nil {
				fmt.Fprint(&b, v)
				continue
			}
			b.Write(data)
		default:
			fmt.Fprint(&b, v)
		}
	}
	return b.String()
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
