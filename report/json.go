package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/ttpmap/ttpmap/finding"
)

// jsonWriter writes findings as JSON, either one compact object per line
// (ndjson) or one array with each element indented by two spaces (json).
// The array is streamed: "[" before the first finding, "," between, "]" on
// Close, and "[]" when there were none.
//
// Both write the Finding's own JSON (DESIGN.md §2) with two normalisations
// so consumers need no null checks: the timestamp is in UTC, and nil lists
// (technique_ids, tactics, related_indicators, technique_details,
// threat_actors, and the tactics and tags lists inside them) are written as
// [] and a nil
// original_event as {}. HTML characters are not escaped.
type jsonWriter struct {
	name   string // "json" or "ndjson", for errors
	array  bool
	bw     *bufio.Writer
	buf    bytes.Buffer
	enc    *json.Encoder
	n      int
	closed bool
	tmp    finding.Finding // normalised copy of the finding being written
}

func newJSON(w io.Writer, _ Options) (Writer, error) {
	j := &jsonWriter{name: "json", array: true, bw: bufio.NewWriter(w)}
	j.enc = json.NewEncoder(&j.buf)
	j.enc.SetEscapeHTML(false)
	j.enc.SetIndent("  ", "  ")
	return j, nil
}

func newNDJSON(w io.Writer, _ Options) (Writer, error) {
	j := &jsonWriter{name: "ndjson", bw: bufio.NewWriter(w)}
	j.enc = json.NewEncoder(&j.buf)
	j.enc.SetEscapeHTML(false)
	return j, nil
}

// Write encodes one finding.
func (j *jsonWriter) Write(f *finding.Finding) error {
	if j.closed {
		return fmt.Errorf("report %s: %w", j.name, errClosed)
	}
	if f == nil {
		return fmt.Errorf("report %s: %w", j.name, errNilFinding)
	}
	j.buf.Reset()
	normalize(&j.tmp, f)
	err := j.enc.Encode(&j.tmp)
	j.tmp = finding.Finding{} // hold no references to the caller's data
	if err != nil {
		return fmt.Errorf("report %s: encode finding %s: %w", j.name, f.EventID, err)
	}
	data := j.buf.Bytes()
	if j.array {
		data = bytes.TrimSuffix(data, []byte("\n"))
		sep := ",\n  "
		if j.n == 0 {
			sep = "[\n  "
		}
		if _, err := j.bw.WriteString(sep); err != nil {
			return fmt.Errorf("report %s: %w", j.name, err)
		}
	}
	if _, err := j.bw.Write(data); err != nil {
		return fmt.Errorf("report %s: %w", j.name, err)
	}
	j.n++
	return nil
}

// Close ends the array (json) and flushes.
func (j *jsonWriter) Close() error {
	if j.closed {
		return nil
	}
	j.closed = true
	if j.array {
		end := "\n]\n"
		if j.n == 0 {
			end = "[]\n"
		}
		if _, err := j.bw.WriteString(end); err != nil {
			return fmt.Errorf("report %s: %w", j.name, err)
		}
	}
	if err := j.bw.Flush(); err != nil {
		return fmt.Errorf("report %s: flush: %w", j.name, err)
	}
	return nil
}

// normalize sets *dst to a shallow copy of f with a UTC timestamp and empty
// (not nil) lists and original event. f is not modified.
func normalize(dst, f *finding.Finding) {
	*dst = *f
	c := dst
	c.Timestamp = f.Timestamp.UTC()
	c.TechniqueIDs = nonNil(c.TechniqueIDs)
	c.Tactics = nonNil(c.Tactics)
	if c.RelatedIndicators == nil {
		c.RelatedIndicators = []finding.Indicator{}
	}
	for i, ind := range c.RelatedIndicators {
		if ind.Tags == nil {
			c.RelatedIndicators = append([]finding.Indicator(nil), c.RelatedIndicators...)
			for k := i; k < len(c.RelatedIndicators); k++ {
				c.RelatedIndicators[k].Tags = nonNil(c.RelatedIndicators[k].Tags)
			}
			break
		}
	}
	if c.Metadata.TechniqueDetails == nil {
		c.Metadata.TechniqueDetails = []finding.TechniqueDetail{}
	}
	for i, d := range c.Metadata.TechniqueDetails {
		if d.Tactics == nil {
			c.Metadata.TechniqueDetails = append([]finding.TechniqueDetail(nil), c.Metadata.TechniqueDetails...)
			for k := i; k < len(c.Metadata.TechniqueDetails); k++ {
				c.Metadata.TechniqueDetails[k].Tactics = nonNil(c.Metadata.TechniqueDetails[k].Tactics)
			}
			break
		}
	}
	if c.Metadata.ThreatActors == nil {
		c.Metadata.ThreatActors = []finding.ThreatActor{}
	}
	if c.Metadata.OriginalEvent == nil {
		c.Metadata.OriginalEvent = map[string]any{}
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
