package server

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/server/auth"
)

//go:embed openapi.json
var openAPI []byte

// routes builds the mux. Every /api route, /metrics and TAXII need a
// credential; analyst may enrich and read, admin may also change exporters,
// reload rules and delete data.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	count := func(reason string) { s.metrics.refused(reason) }
	analyst := auth.Middleware(s.cfg.Verifier, s.cfg.Keys, auth.Analyst, count)
	admin := auth.Middleware(s.cfg.Verifier, s.cfg.Keys, auth.Admin, count)
	handle := func(pattern string, guard func(http.Handler) http.Handler, h http.HandlerFunc) {
		var next http.Handler = h
		if guard != nil {
			next = guard(next)
		}
		mux.Handle(pattern, s.instrument(pattern, next))
	}

	handle("GET /healthz", nil, s.healthz)
	handle("GET /readyz", nil, s.readyz)
	handle("GET /metrics", analyst, s.serveMetrics)
	handle("GET /api/openapi.json", analyst, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})

	handle("POST /api/events/enrich", analyst, s.enrichOne)
	handle("POST /api/events/enrich/batch", analyst, s.enrichBatch)
	handle("GET /api/events/enriched", analyst, s.listFindings)
	handle("GET /api/events/enriched/{id}", analyst, s.getFinding)
	handle("DELETE /api/events/enriched/{id}", admin, s.deleteFinding)
	handle("POST /api/scan", analyst, s.startScan)
	handle("GET /api/scan/{id}", analyst, s.scanStatus)
	handle("GET /api/siem/status", analyst, s.siemStatus)
	handle("GET /api/siem/{exporter}/dead-letters", admin, s.deadLetters)
	handle("POST /api/siem/{exporter}/dead-letters/redrive", admin, s.redrive)
	handle("PUT /api/siem/{exporter}", admin, s.setExporter)
	handle("GET /api/attack/techniques/{id}", analyst, s.technique)
	handle("GET /api/coverage", analyst, s.coverage)
	handle("POST /api/rules/reload", admin, s.reloadRules)

	// Unknown API paths answer JSON, not the web UI's log-in redirect.
	mux.Handle("/api/", s.instrument("/api/", analyst(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such route")
	}))))
	if s.cfg.TAXII != nil {
		mux.Handle("/taxii2/", s.instrument("/taxii2/", analyst(s.cfg.TAXII)))
	}
	if s.cfg.Web != nil {
		mux.Handle("/", s.cfg.Web) // the web UI checks its own session cookie
	} else {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, "not_found", "no such route")
		})
	}
	return securityHeaders(mux)
}

// securityHeaders sets headers every response should carry.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status code for metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// instrument counts requests by route and status and times them.
func (s *Server) instrument(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		d := time.Since(start)
		s.metrics.request(route, sw.code, d)
		// The path, never the query or headers: no credential reaches the log.
		level := slog.LevelDebug
		switch {
		case sw.code >= 500:
			level = slog.LevelWarn
		case sw.code == http.StatusUnauthorized || sw.code == http.StatusForbidden:
			level = slog.LevelInfo
		}
		s.log.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path, "status", sw.code, "ms", d.Milliseconds(), "remote", r.RemoteAddr)
	})
}

// apiError is the body of every error response.
type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, kind, msg string) {
	writeJSON(w, code, apiError{Error: kind, Message: msg})
}

// bodyError answers a failed body read: 413 when over the limit, else 400.
func bodyError(w http.ResponseWriter, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body over %d bytes", tooBig.Limit))
		return
	}
	writeError(w, http.StatusBadRequest, "bad_request", err.Error())
}

// wantsJSON rejects bodies that say they are something else. curl -d's
// default form type is let through: the body is parsed as JSON either way.
func wantsJSON(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return true
	}
	ct = strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
	return ct == "application/json" || ct == "application/x-ndjson" || ct == "application/ndjson" || strings.HasSuffix(ct, "+json") || ct == "text/plain" || ct == "application/x-www-form-urlencoded"
}
