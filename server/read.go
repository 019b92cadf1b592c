package server

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/store"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.cfg.Version})
}

// readyz checks the store and the external queue answer.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{}
	ok := true
	if _, err := s.cfg.Store.Count(r.Context()); err != nil {
		checks["store"] = "unavailable"
		ok = false
	} else {
		checks["store"] = "ok"
	}
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(r.Context()); err != nil {
			checks["queue"] = "unavailable"
			ok = false
		} else {
			checks["queue"] = "ok"
		}
	}
	code, status := http.StatusOK, "ready"
	if !ok {
		code, status = http.StatusServiceUnavailable, "not_ready"
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": checks})
}

// listResponse is a page of findings.
type listResponse struct {
	Events     any    `json:"events"`
	Count      int    `json:"count"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// listFindings serves GET /api/events/enriched: newest first, filters
// technique, severity, host, since; pages with cursor (keyset) or offset.
func (s *Server) listFindings(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query := store.Query{
		Cursor:    q.Get("cursor"),
		Technique: q.Get("technique"),
		Severity:  q.Get("severity"),
		Host:      q.Get("host"),
		Desc:      q.Get("order") != "asc",
	}
	var err error
	if query.Limit, err = intParam(q, "limit", store.DefaultLimit, 1, store.MaxLimit); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	offset, err := intParam(q, "offset", 0, 0, 100_000)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if offset > 0 && query.Cursor != "" {
		writeError(w, http.StatusBadRequest, "bad_request", "use either offset or cursor")
		return
	}
	if v := q.Get("since"); v != "" {
		if query.Since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "since: want an RFC 3339 time")
			return
		}
	}
	if query.Severity != "" && !severities[strings.ToLower(query.Severity)] {
		writeError(w, http.StatusBadRequest, "bad_request", "severity: want informational, low, medium, high or critical")
		return
	}
	// An offset walks the keyset pages; it is bounded above.
	for offset > 0 {
		step := query
		step.Limit = min(offset, store.MaxLimit)
		fs, next, err := s.cfg.Store.List(r.Context(), step)
		if err != nil {
			s.listFailed(w, err)
			return
		}
		if next == "" { // nothing after the skipped ones
			writeJSON(w, http.StatusOK, listResponse{Events: []any{}})
			return
		}
		offset -= len(fs)
		query.Cursor = next
	}
	fs, next, err := s.cfg.Store.List(r.Context(), query)
	if err != nil {
		s.listFailed(w, err)
		return
	}
	if fs == nil {
		writeJSON(w, http.StatusOK, listResponse{Events: []any{}})
		return
	}
	writeJSON(w, http.StatusOK, listResponse{Events: fs, Count: len(fs), NextCursor: next})
}

func (s *Server) listFailed(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrCursor) {
		writeError(w, http.StatusBadRequest, "bad_request", "invalid cursor")
		return
	}
	s.log.Error("list findings", "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "could not list findings")
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, errors.New(name + ": want an integer from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi))
	}
	return n, nil
}

func (s *Server) getFinding(w http.ResponseWriter, r *http.Request) {
	f, err := s.cfg.Store.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no finding with this event_id")
		return
	}
	if err != nil {
		s.log.Error("get finding", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "could not read the finding")
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (s *Server) deleteFinding(w http.ResponseWriter, r *http.Request) {
	err := s.cfg.Store.Delete(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no finding with this event_id")
		return
	}
	if err != nil {
		s.log.Error("delete finding", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "could not delete the finding")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ExporterStatus is one exporter's line in /api/siem/status. It never
// holds a credential.
type ExporterStatus struct {
	Name        string     `json:"-"`
	Enabled     bool       `json:"enabled"`
	Paused      bool       `json:"paused"`
	URL         string     `json:"url,omitempty"`
	LastSuccess *time.Time `json:"last_success"`
	Queued      int        `json:"queued"`
	Failed      int        `json:"failed"`
	Sent        int64      `json:"sent"`
	Retried     int64      `json:"retried"`
	LastError   string     `json:"last_error,omitempty"`
}

// ExporterStatuses reports every configured exporter (for the web UI too).
func (s *Server) ExporterStatuses(ctx context.Context) []ExporterStatus {
	return s.exporterStatuses(ctx)
}

func (s *Server) exporterStatuses(ctx context.Context) []ExporterStatus {
	var out []ExporterStatus
	for _, e := range s.cfg.Exporters {
		st := ExporterStatus{Name: e.Name, Enabled: true, URL: e.URL}
		queued, failed, last, err := s.outbox.OutboxStats(ctx, e.Name)
		if err != nil {
			st.LastError = "outbox unavailable"
		}
		st.Queued, st.Failed = queued, failed
		if !last.IsZero() {
			st.LastSuccess = &last
		}
		ls := e.Loop.Stats()
		st.Paused, st.Sent, st.Retried = ls.Paused, ls.Sent, ls.Retried
		if st.LastError == "" {
			st.LastError = ls.LastError
		}
		out = append(out, st)
	}
	return out
}

func (s *Server) siemStatus(w http.ResponseWriter, r *http.Request) {
	resp := map[string]any{
		"elastic": ExporterStatus{},
		"splunk":  ExporterStatus{},
	}
	running := false
	for i, st := range s.exporterStatuses(r.Context()) {
		resp[st.Name] = st
		if s.cfg.Exporters[i].Loop.Stats().Running && !st.Paused {
			running = true
		}
	}
	resp["export_running"] = running
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) exporter(w http.ResponseWriter, r *http.Request) (Exporter, bool) {
	name := r.PathValue("exporter")
	for _, e := range s.cfg.Exporters {
		if e.Name == name {
			return e, true
		}
	}
	writeError(w, http.StatusNotFound, "not_found", "no such exporter enabled")
	return Exporter{}, false
}

func (s *Server) deadLetters(w http.ResponseWriter, r *http.Request) {
	e, ok := s.exporter(w, r)
	if !ok {
		return
	}
	limit, err := intParam(r.URL.Query(), "limit", 100, 1, 1000)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	dl, err := s.cfg.DeadLetters(r.Context(), e.Name, limit)
	if err != nil {
		s.log.Error("dead letters", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "could not read dead letters")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"exporter": e.Name, "dead_letters": dl})
}

// redrive queues an exporter's dead letters again (admin), e.g. after a
// wrong SIEM credential was fixed: POST …/dead-letters/redrive?max=N.
func (s *Server) redrive(w http.ResponseWriter, r *http.Request) {
	e, ok := s.exporter(w, r)
	if !ok {
		return
	}
	limit, err := intParam(r.URL.Query(), "max", 0, 0, 1_000_000)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	n, err := s.cfg.Redrive(r.Context(), e.Name, limit)
	if err != nil {
		s.log.Error("redrive", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "could not re-queue the dead letters")
		return
	}
	s.log.Info("dead letters re-queued", "exporter", e.Name, "count", n)
	e.Loop.Notify()
	writeJSON(w, http.StatusOK, map[string]any{"exporter": e.Name, "requeued": n})
}

// setExporter pauses or resumes an exporter: PUT {"enabled": false}.
func (s *Server) setExporter(w http.ResponseWriter, r *http.Request) {
	e, ok := s.exporter(w, r)
	if !ok {
		return
	}
	var body struct {
		Enabled *bool `json:"enabled"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Enabled == nil {
		writeError(w, http.StatusBadRequest, "bad_request", `want {"enabled": true|false}`)
		return
	}
	e.Loop.Pause(!*body.Enabled)
	s.log.Info("exporter changed", "exporter", e.Name, "enabled", *body.Enabled)
	for _, st := range s.exporterStatuses(r.Context()) {
		if st.Name == e.Name {
			writeJSON(w, http.StatusOK, st)
			return
		}
	}
}

// techniqueResponse describes one ATT&CK technique.
type techniqueResponse struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	URL           string            `json:"url"`
	Tactics       []string          `json:"tactics"`
	Description   string            `json:"description,omitempty"`
	Platforms     []string          `json:"platforms,omitempty"`
	Parent        string            `json:"parent,omitempty"`
	Subtechniques []string          `json:"subtechniques,omitempty"`
	Groups        []attack.Group    `json:"groups"`
	Software      []attack.Software `json:"software"`
	RevokedBy     string            `json:"revoked_by,omitempty"`
	Findings      int               `json:"findings"`
}

func techniqueFrom(kb *attack.KB, t *attack.Technique) techniqueResponse {
	resp := techniqueResponse{
		ID: t.ID, Name: t.Name, URL: t.URL, Tactics: t.Tactics, Description: t.Description,
		Platforms: t.Platforms, Parent: t.Parent, Groups: t.Groups, Software: t.Software, RevokedBy: t.RevokedBy,
	}
	if resp.Groups == nil {
		resp.Groups = []attack.Group{}
	}
	if resp.Software == nil {
		resp.Software = []attack.Software{}
	}
	if !t.IsSub {
		for _, c := range kb.Techniques() {
			if c.Parent == t.ID && !c.Revoked && !c.Deprecated {
				resp.Subtechniques = append(resp.Subtechniques, c.ID)
			}
		}
	}
	return resp
}

func (s *Server) technique(w http.ResponseWriter, r *http.Request) {
	t, ok := s.cfg.KB.Technique(strings.ToUpper(r.PathValue("id")))
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no ATT&CK technique with this id")
		return
	}
	resp := techniqueFrom(s.cfg.KB, t)
	if n, err := s.cfg.Store.CountTechnique(r.Context(), t.ID); err == nil {
		resp.Findings = n
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) coverage(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Coverage == nil {
		writeError(w, http.StatusNotFound, "not_found", "coverage is not enabled")
		return
	}
	doc, err := s.cfg.Coverage(r.Context(), *s.rules.Load())
	if err != nil {
		s.log.Error("coverage", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "could not compute coverage")
		return
	}
	// The document runs to megabytes; compress it for clients that accept it.
	if !acceptsGzip(r) {
		writeJSON(w, http.StatusOK, doc)
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Add("Vary", "Accept-Encoding")
	zw := gzip.NewWriter(w)
	writeJSON(zipWriter{w, zw}, http.StatusOK, doc)
	zw.Close()
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// zipWriter writes the body through a gzip stream, headers to w.
type zipWriter struct {
	http.ResponseWriter
	zw *gzip.Writer
}

func (z zipWriter) Write(b []byte) (int, error) { return z.zw.Write(b) }

func (s *Server) reloadRules(w http.ResponseWriter, r *http.Request) {
	n, skipped, err := s.Reload()
	if err != nil {
		s.log.Error("reload rules", "err", err)
		writeError(w, http.StatusUnprocessableEntity, "reload_failed", err.Error())
		return
	}
	s.log.Info("rules reloaded", "rules", n, "skipped", skipped)
	writeJSON(w, http.StatusOK, map[string]int{"rules": n, "skipped": skipped})
}
