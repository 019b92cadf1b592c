package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ttpmap/ttpmap/alert"
	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/sigma"
	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/all"
)

// enricher maps posted events to findings with one long-lived engine, so
// correlation rules (a brute force over many posts) see the whole stream.
type enricher struct {
	mu      sync.Mutex // the engine's ordered path is single-threaded
	engine  *detect.Engine
	builder *finding.Builder
	// scorer grades alert-rule matches by what carried them (a signature
	// or category beats free text); swapped with the rules.
	scorer atomic.Pointer[alert.Scorer]
}

// setRules builds the alert scorer for a new rule set.
func (e *enricher) setRules(rs []*sigma.Rule) error {
	sc, errs := alert.NewScorer(rs)
	if len(errs) > 0 {
		return fmt.Errorf("alert rules: %w", errors.Join(errs...))
	}
	e.scorer.Store(sc)
	return nil
}

// errNotEvent says a posted object is neither a generic alert nor a record
// any reader recognises.
var errNotEvent = errors.New("not a recognised event")

// enrich turns one posted object — `{"event": {...}, "source_service": …}`
// as in brief 001, or a raw Windows/Linux record in any shape `scan`
// reads — into findings, best first. An event no rule maps gives one
// finding with no technique.
func (e *enricher) enrich(ctx context.Context, raw json.RawMessage) ([]*finding.Finding, error) {
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	if obj == nil {
		return nil, fmt.Errorf("%w: want a JSON object", errNotEvent)
	}
	service := ""
	inner := obj
	if ev, ok := envelope(obj); ok {
		inner = ev
		service, _ = obj["source_service"].(string)
	}
	var evs []*event.Event
	generic := alert.IsGeneric(inner)
	if generic {
		ev, err := alert.ToEvent(inner, service)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	} else {
		body := raw
		if len(inner) != len(obj) {
			b, err := json.Marshal(inner)
			if err != nil {
				return nil, fmt.Errorf("decode event: %w", err)
			}
			body = b
		}
		var err error
		if evs, err = readRecords(ctx, body); err != nil {
			return nil, err
		}
	}

	received := time.Now().UTC()
	var out []*finding.Finding
	for _, ev := range evs {
		fs, err := e.match(ctx, ev)
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			if service != "" {
				f.SourceService = service
			}
			if f.Timestamp.IsZero() {
				// No time in the event: when we received it is the best
				// we know (the id does not depend on it).
				f.Timestamp = received
			}
			if generic {
				applyAlert(f, inner)
			}
		}
		out = append(out, fs...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ConfidenceScore > out[j].ConfidenceScore })
	return out, nil
}

// envelope returns the event of brief 001's request shape {"event": {...},
// "source_service": "..."}. A record that merely has an "event" object
// among other keys (ECS, winlogbeat) is not an envelope.
func envelope(obj map[string]any) (map[string]any, bool) {
	ev, ok := obj["event"].(map[string]any)
	if !ok {
		return nil, false
	}
	for k := range obj {
		if k != "event" && k != "source_service" {
			return nil, false
		}
	}
	return ev, true
}

// match runs one event through the engine.
func (e *enricher) match(ctx context.Context, ev *event.Event) ([]*finding.Finding, error) {
	var fs []*finding.Finding
	e.mu.Lock()
	scorer := e.scorer.Load()
	err := e.engine.Process(ctx, ev, func(ctx context.Context, m detect.Match) error {
		f := e.builder.Build(m)
		if scorer != nil && alert.IsAlertRule(m.Rule) && !m.Correlation {
			f.ConfidenceScore = scorer.Score(m.Rule, m.Event, f.ConfidenceScore)
		}
		fs = append(fs, f)
		return nil
	})
	e.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("match: %w", err)
	}
	if len(fs) == 0 {
		fs = append(fs, e.builder.Unmatched(ev))
	}
	return fs, nil
}

// readRecords reads a raw record through the same format readers as scan.
func readRecords(ctx context.Context, body []byte) ([]*event.Event, error) {
	var evs []*event.Event
	var errs []error
	w := &source.Walker{
		Formats: all.Formats(),
		Stdin:   bytes.NewReader(body),
		OnError: func(err error) { errs = append(errs, err) },
		OnSkip:  func(string, error) { errs = append(errs, errNotEvent) },
	}
	err := w.Walk(ctx, []string{"-"}, func(in source.Input) error {
		for {
			ev, err := in.Reader.Read()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				errs = append(errs, err)
				var rerr *source.RecordError
				if errors.As(err, &rerr) {
					continue
				}
				return nil
			}
			ev.File = "api"
			evs = append(evs, ev)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read event: %w", err)
	}
	if len(evs) == 0 {
		if len(errs) > 0 {
			return nil, fmt.Errorf("%w: %w", errNotEvent, errs[0])
		}
		return nil, errNotEvent
	}
	return evs, nil
}

// enrichResponse is the answer to POST /api/events/enrich.
type enrichResponse struct {
	EnrichedEvent *finding.Finding   `json:"enriched_event"`
	Findings      []*finding.Finding `json:"findings"`
	Message       string             `json:"message"`
}

func (s *Server) enrichOne(w http.ResponseWriter, r *http.Request) {
	if !wantsJSON(r) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		bodyError(w, err)
		return
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		writeError(w, http.StatusBadRequest, "bad_request", "one event per request here; send arrays to /api/events/enrich/batch")
		return
	}
	fs, err := s.enricher.enrich(r.Context(), body)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid_event", err.Error())
		return
	}
	s.count(fs, 1)
	if err := s.store(r.Context(), fs); err != nil {
		s.log.Error("store findings", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "could not store the findings; retry")
		return
	}
	writeJSON(w, http.StatusOK, enrichResponse{EnrichedEvent: fs[0], Findings: fs, Message: s.acceptedMessage(fs)})
}

// count updates the enrichment counters.
func (s *Server) count(fs []*finding.Finding, events int) {
	s.metrics.enriched.Add(int64(events))
	for _, f := range fs {
		if len(f.TechniqueIDs) == 0 {
			s.metrics.unmapped.Add(1)
		}
	}
}

func (s *Server) acceptedMessage(fs []*finding.Finding) string {
	mapped := 0
	for _, f := range fs {
		if len(f.TechniqueIDs) > 0 {
			mapped++
		}
	}
	msg := "Event stored without an ATT&CK mapping"
	if mapped > 0 {
		msg = fmt.Sprintf("Event enriched: %d finding(s) mapped to ATT&CK and stored", mapped)
	}
	if names := s.exporterNames(); len(names) > 0 {
		msg += "; queued for export to " + strings.Join(names, ", ")
	}
	return msg
}

// batchItem is one event's outcome in a batch response.
type batchItem struct {
	Index        int      `json:"index"`
	EventIDs     []string `json:"event_ids,omitempty"`
	TechniqueIDs []string `json:"technique_ids"`
	Error        string   `json:"error,omitempty"`
}

type batchResponse struct {
	Received int         `json:"received"`
	Stored   int         `json:"stored"`
	Failed   int         `json:"failed"`
	Results  []batchItem `json:"results"`
}

func (s *Server) enrichBatch(w http.ResponseWriter, r *http.Request) {
	if !wantsJSON(r) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send a JSON array or NDJSON")
		return
	}
	limit := s.cfg.MaxBody * int64(min(s.cfg.MaxBatch, 64))
	items, err := splitBatch(http.MaxBytesReader(w, r.Body, limit), s.cfg.MaxBatch, s.cfg.MaxBody)
	if err != nil {
		var tooMany *tooManyError
		if errors.As(err, &tooMany) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", err.Error())
			return
		}
		bodyError(w, err)
		return
	}
	resp := batchResponse{Received: len(items), Results: make([]batchItem, len(items))}
	var all []*finding.Finding
	for i, raw := range items {
		it := batchItem{Index: i, TechniqueIDs: []string{}}
		fs, err := s.enricher.enrich(r.Context(), raw)
		if err != nil {
			it.Error = err.Error()
			resp.Failed++
		} else {
			for _, f := range fs {
				it.EventIDs = append(it.EventIDs, f.EventID)
				it.TechniqueIDs = append(it.TechniqueIDs, f.TechniqueIDs...)
			}
			all = append(all, fs...)
		}
		resp.Results[i] = it
	}
	s.count(all, len(items)-resp.Failed)
	if err := s.store(r.Context(), all); err != nil {
		s.log.Error("store findings", "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "could not store the findings; retry the batch")
		return
	}
	resp.Stored = len(all)
	writeJSON(w, http.StatusOK, resp)
}

// tooManyError says a batch holds more events than allowed.
type tooManyError struct{ max int }

func (e *tooManyError) Error() string { return fmt.Sprintf("batch over %d events", e.max) }

// splitBatch reads a JSON array or NDJSON into one raw object per event.
func splitBatch(r io.Reader, maxItems int, maxItem int64) ([]json.RawMessage, error) {
	br := bufio.NewReader(r)
	for {
		b, err := br.Peek(1)
		if err != nil {
			if err == io.EOF {
				return nil, errors.New("empty batch")
			}
			return nil, err
		}
		if b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n' {
			br.ReadByte()
			continue
		}
		break
	}
	var items []json.RawMessage
	add := func(raw json.RawMessage) error {
		if len(items) == maxItems {
			return &tooManyError{maxItems}
		}
		if int64(len(raw)) > maxItem {
			return fmt.Errorf("event %d over %d bytes", len(items), maxItem)
		}
		items = append(items, raw)
		return nil
	}
	if b, _ := br.Peek(1); b[0] == '[' {
		dec := json.NewDecoder(br)
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("batch: %w", err)
		}
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("batch event %d: %w", len(items), err)
			}
			if err := add(raw); err != nil {
				return nil, err
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("batch: %w", err)
		}
		return items, nil
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 64<<10), int(maxItem)+1)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if err := add(json.RawMessage(bytes.Clone(b))); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("batch line %d: %w", line+1, err)
	}
	return items, nil
}

// eventTypes are the event_type values of the finding format.
var eventTypes = map[string]bool{"threat": true, "anomaly": true, "alert": true, "decoy_triggered": true}

// severities are the severity values of the finding format.
var severities = map[string]bool{"informational": true, "low": true, "medium": true, "high": true, "critical": true}

// applyAlert keeps what the sensor said about its own alert: its source and
// destination, its description, and its severity and event type when they
// are values of the finding format. The rule decides the techniques and
// the confidence.
func applyAlert(f *finding.Finding, a map[string]any) {
	str := func(k string) string {
		v, _ := a[k].(string)
		return strings.TrimSpace(v)
	}
	if v := str("source"); v != "" {
		f.Source = v
	}
	if v := str("destination"); v != "" {
		f.Destination = v
	}
	if v := str("description"); v != "" {
		if f.RuleTitle != "" {
			f.Description = f.RuleTitle + ": " + v
		} else {
			f.Description = v
		}
	}
	if v := strings.ToLower(str("severity")); severities[v] {
		f.Severity = v
	}
	if v := strings.ToLower(str("event_type")); eventTypes[v] {
		f.EventType = v
	}
}

// EnrichText maps free text (a shared indicator's name, description and
// pattern) to ATT&CK techniques with the alert rules, without storing
// anything; it returns the techniques and the best confidence.
func (s *Server) EnrichText(ctx context.Context, text string) ([]string, float64) {
	ev, err := alert.ToEvent(map[string]any{"description": text}, "taxii")
	if err != nil {
		return nil, 0
	}
	fs, err := s.enricher.match(ctx, ev)
	if err != nil {
		return nil, 0
	}
	var ids []string
	best := 0.0
	for _, f := range fs {
		for _, id := range f.TechniqueIDs {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		best = max(best, f.ConfidenceScore)
	}
	return ids, best
}
