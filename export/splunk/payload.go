package splunk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/ttpmap/ttpmap/finding"
)

// hecEvent is one event object of the HEC /services/collector/event body
// (https://docs.splunk.com/Documentation/Splunk/latest/Data/FormateventsforHTTPEventCollector).
// Empty metadata is omitted so HEC applies the token's defaults.
type hecEvent struct {
	Time       json.Number      `json:"time,omitempty"` // epoch seconds, millisecond fraction
	Host       string           `json:"host,omitempty"`
	Source     string           `json:"source,omitempty"`
	Sourcetype string           `json:"sourcetype,omitempty"`
	Index      string           `json:"index,omitempty"`
	Event      *finding.Finding `json:"event"`
	Fields     *hecFields       `json:"fields,omitempty"`
}

// hecFields are indexed fields: HEC accepts only strings and arrays of
// strings, and rejects empty values, hence omitempty everywhere.
type hecFields struct {
	TechniqueIDs []string `json:"technique_ids,omitempty"`
	Severity     string   `json:"severity,omitempty"`
	RuleID       string   `json:"rule_id,omitempty"`
}

// buildPayload renders batch as stacked HEC event objects, one per line.
// The finding itself, including its event_id, is the event body, so Splunk
// searches can deduplicate resent events with `dedup event_id`.
func (s *Sink) buildPayload(batch []*finding.Finding) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // Encode appends "\n": HEC accepts whitespace between objects
	for i, f := range batch {
		if f == nil {
			return nil, fmt.Errorf("build splunk payload: finding %d is nil", i)
		}
		ev := hecEvent{
			Time:       epochTime(f),
			Host:       f.Host,
			Source:     s.cfg.Source,
			Sourcetype: s.cfg.Sourcetype,
			Index:      s.cfg.Index,
			Event:      f,
		}
		if ev.Source == "" {
			ev.Source = f.SourceService
		}
		if fl := (hecFields{TechniqueIDs: nonEmpty(f.TechniqueIDs), Severity: f.Severity, RuleID: f.RuleID}); fl.TechniqueIDs != nil || fl.Severity != "" || fl.RuleID != "" {
			ev.Fields = &fl
		}
		if err := enc.Encode(&ev); err != nil {
			return nil, fmt.Errorf("build splunk payload: finding %d (event_id %s): %w", i, f.EventID, err)
		}
	}
	return buf.Bytes(), nil
}

// epochTime formats the finding's timestamp as HEC wants it: seconds since
// the epoch with a millisecond fraction ("1795416146.123"). A zero or
// pre-epoch timestamp is omitted and Splunk uses the receipt time.
func epochTime(f *finding.Finding) json.Number {
	if f.Timestamp.IsZero() {
		return ""
	}
	ms := f.Timestamp.UnixMilli()
	if ms < 0 {
		return ""
	}
	frac := strconv.FormatInt(1000+ms%1000, 10)[1:] // zero-padded to 3 digits
	return json.Number(strconv.FormatInt(ms/1000, 10) + "." + frac)
}

// nonEmpty drops empty strings, returning nil when none are left.
func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
