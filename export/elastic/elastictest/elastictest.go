// Package elastictest is a fake Elasticsearch for tests: an httptest server
// that speaks the _bulk API the way a real cluster does, records what it
// stores, and injects faults through export/sinktest.Faults.
//
// Faithful to Elasticsearch 8.x:
//   - every answer carries "X-Elastic-Product: Elasticsearch";
//   - authentication on every endpoint: "Authorization: ApiKey <key>"
//     and/or HTTP basic, 401 security_exception with WWW-Authenticate
//     otherwise (WithoutAuth turns security off: any header is accepted);
//   - GET / and HEAD / answer the cluster info a client pings, and
//     GET /_cluster/health answers green;
//   - POST or PUT /_bulk and /{index}/_bulk with Content-Type
//     application/x-ndjson or application/json (406 otherwise): NDJSON
//     action/source pairs, the body must end with a newline, an empty
//     body or an action without an index fails the whole request (400);
//   - actions index (201 "created", or 200 "updated" for an existing _id:
//     an overwrite, counted), create (201, or 409
//     version_conflict_engine_exception for an existing _id) and delete
//     (200 "deleted" or 404 "not_found"); a missing _id gets a generated
//     one; a source that is not a JSON object is a per-item 400
//     mapper_parsing_exception;
//   - the response is {"errors","took","items"} with one item per action,
//     in order, each with _index, _id, _version, result, _shards, _seq_no,
//     _primary_term and status, or status and error{type,reason} for a
//     failed item; "errors" is true when any item failed;
//   - a body larger than WithMaxContentLength is answered 413 with an
//     empty body, as http.max_content_length does.
//
// Not faithful: documents are kept per _id across all indices (the same
// _id in two indices is one document); the update action is refused per
// item (400); query parameters (refresh, pipeline, routing …) are ignored;
// blank lines between actions are skipped; nothing but the endpoints above
// exists (400 "no handler found", as Elasticsearch answers); there is no
// mapping, so any JSON object is accepted as a source.
//
// Faults (sinktest.Fault) apply to _bulk requests only, after the
// authentication and Content-Type checks: Delay, Drop, Status (with
// Elasticsearch's error body for the status), Partial (the items at odd
// positions get that per-item status, errors: true) and LoseResponse (the
// request is processed, then the connection is closed unanswered). The
// per-item hook (WithItemStatus, SetItemStatus) fails chosen _ids.
package elastictest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/ttpmap/ttpmap/export/sinktest"
)

// DefaultAPIKey is the API key a Server expects unless WithAPIKey says
// otherwise: base64 of "elastictest:secret", the form Elasticsearch
// issues (id:api_key).
const DefaultAPIKey = "ZWxhc3RpY3Rlc3Q6c2VjcmV0"

// Option configures a Server.
type Option func(*Server)

// WithAPIKey makes the server accept "Authorization: ApiKey <key>"
// (DefaultAPIKey by default); "" accepts no API key.
func WithAPIKey(key string) Option { return func(s *Server) { s.APIKey = key } }

// WithBasicAuth makes the server accept HTTP basic authentication with
// user and password as well (the API key stays accepted unless
// WithAPIKey("") is also given).
func WithBasicAuth(user, password string) Option {
	return func(s *Server) { s.Username, s.Password = user, password }
}

// WithoutAuth turns security off: requests need no credentials and any
// Authorization header is ignored.
func WithoutAuth() Option { return func(s *Server) { s.noAuth = true } }

// WithFaults makes the server consult f (for instance one shared with
// another fake) instead of a Faults of its own.
func WithFaults(f *sinktest.Faults) Option { return func(s *Server) { s.Faults = f } }

// WithItemStatus sets the per-item hook: fn(_id) returning a status other
// than 0 fails that item with it (see SetItemStatus).
func WithItemStatus(fn func(id string) int) Option { return func(s *Server) { s.itemStatus = fn } }

// WithMaxContentLength answers 413 to _bulk bodies larger than n bytes
// (Elasticsearch's http.max_content_length, 100mb by default; 0 = no
// limit, the fake's default).
func WithMaxContentLength(n int) Option { return func(s *Server) { s.maxBody = n } }

// Server is a fake Elasticsearch. Its fields are set by New and must not
// be changed; its methods are safe for concurrent use.
type Server struct {
	*sinktest.Server // URL, Close, Client
	// APIKey is the API key accepted ("" = none).
	APIKey string
	// Username and Password are the basic credentials accepted ("" = none).
	Username, Password string
	// Faults is consulted once per _bulk request.
	Faults *sinktest.Faults

	noAuth  bool
	maxBody int

	mu         sync.Mutex
	itemStatus func(id string) int
	docs       map[string]*doc
	created    map[string]int
	overwrites map[string]int
	requests   int
	seqNo      int64
	autoID     int
}

type doc struct {
	index   string
	source  json.RawMessage
	version int64
}

// New starts a fake Elasticsearch, closed when t's test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		APIKey:     DefaultAPIKey,
		docs:       map[string]*doc{},
		created:    map[string]int{},
		overwrites: map[string]int{},
	}
	for _, o := range opts {
		o(s)
	}
	if s.Faults == nil {
		s.Faults = &sinktest.Faults{}
	}
	s.Server = sinktest.Serve(t, http.HandlerFunc(s.serve))
	return s
}

// SetItemStatus replaces the per-item hook: for each index or create
// action, fn(_id) returning a status other than 0 fails that item with
// that status (error type chosen after it: 429
// es_rejected_execution_exception, 400 mapper_parsing_exception, 409
// version_conflict_engine_exception, …) and nothing is stored for it. nil
// removes the hook.
func (s *Server) SetItemStatus(fn func(id string) int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.itemStatus = fn
}

// Docs returns the stored documents: _id → source JSON.
func (s *Server) Docs() map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]json.RawMessage, len(s.docs))
	for id, d := range s.docs {
		out[id] = d.source
	}
	return out
}

// Indices returns how many stored documents each index holds.
func (s *Server) Indices() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, d := range s.docs {
		out[d.index]++
	}
	return out
}

// Created returns, per _id, how many times a document was created (1 for
// every _id unless it was deleted and created again).
func (s *Server) Created() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.created)
}

// Overwrites returns, per _id, how many times an index action replaced an
// existing document (a resend of something already stored); _ids never
// overwritten are absent.
func (s *Server) Overwrites() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.overwrites)
}

// Requests returns how many authenticated _bulk requests arrived,
// including those answered with a fault.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Stored lists the stored _ids, one entry per creation (the
// sinktest.Harness Stored contract).
func (s *Server) Stored() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, n := range s.created {
		if _, ok := s.docs[id]; !ok {
			continue
		}
		for range n {
			out = append(out, id)
		}
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	if !s.authenticate(w, r) {
		return
	}
	path := strings.Trim(r.URL.Path, "/")
	index, isBulk := strings.CutSuffix(path, "_bulk")
	index = strings.TrimSuffix(index, "/")
	isBulk = isBulk && (index == "" || path == index+"/_bulk") && !strings.Contains(index, "/")
	switch {
	case path == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.info(w, r)
	case path == "_cluster/health" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"cluster_name": "elastictest", "status": "green", "timed_out": false,
			"number_of_nodes": 1, "number_of_data_nodes": 1, "active_shards_percent_as_number": 100.0})
	case isBulk && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		s.bulk(w, r, index)
	default:
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"error":  fmt.Sprintf("no handler found for uri [%s] and method [%s]", r.URL.RequestURI(), r.Method),
			"status": http.StatusBadRequest})
	}
}

// authenticate checks the credentials and answers 401 when they fail.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) bool {
	if s.noAuth {
		return true
	}
	auth := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(auth, " ")
	switch {
	case strings.EqualFold(scheme, "ApiKey") && s.APIKey != "" && cred == s.APIKey:
		return true
	case strings.EqualFold(scheme, "Basic") && s.Username != "":
		if b, err := base64.StdEncoding.DecodeString(cred); err == nil && string(b) == s.Username+":"+s.Password {
			return true
		}
	}
	reason := "unable to authenticate with provided credentials and anonymous access is not allowed for this request"
	if auth == "" {
		reason = "missing authentication credentials for REST request [" + r.URL.RequestURI() + "]"
	}
	w.Header().Add("WWW-Authenticate", `Basic realm="security", charset="UTF-8"`)
	w.Header().Add("WWW-Authenticate", "ApiKey")
	writeError(w, http.StatusUnauthorized, "security_exception", reason)
	return false
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name":         "elastictest-node-1",
		"cluster_name": "elastictest",
		"cluster_uuid": "2mAqBdTnTZqHdxsD0AJSaA",
		"version": map[string]any{
			"number": "8.15.0", "build_flavor": "default", "build_type": "docker",
			"build_hash": "1a77947f34deddb41af25e6f0ddb8e830159c179", "build_date": "2024-08-05T10:05:34.233336849Z",
			"build_snapshot": false, "lucene_version": "9.11.1",
			"minimum_wire_compatibility_version": "7.17.0", "minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "You Know, for Search",
	})
}

// bulkItem is one entry of a _bulk response's items.
type bulkItem struct {
	Index       string     `json:"_index"`
	ID          string     `json:"_id"`
	Version     int64      `json:"_version,omitempty"`
	Result      string     `json:"result,omitempty"`
	Shards      *shards    `json:"_shards,omitempty"`
	SeqNo       *int64     `json:"_seq_no,omitempty"`
	PrimaryTerm int64      `json:"_primary_term,omitempty"`
	Status      int        `json:"status"`
	Error       *itemError `json:"error,omitempty"`
}

type shards struct {
	Total      int `json:"total"`
	Successful int `json:"successful"`
	Failed     int `json:"failed"`
}

type itemError struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
	Index  string `json:"index,omitempty"`
}

type bulkResponse struct {
	Errors bool                  `json:"errors"`
	Took   int                   `json:"took"`
	Items  []map[string]bulkItem `json:"items"`
}

// action is one parsed action line with its source.
type action struct {
	op     string
	index  string
	id     string
	source []byte
}

func (s *Server) bulk(w http.ResponseWriter, r *http.Request, pathIndex string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err == nil && (mt == "application/x-ndjson" || mt == "application/json" ||
		mt == "application/vnd.elasticsearch+x-ndjson" || mt == "application/vnd.elasticsearch+json"):
	default:
		writeJSON(w, http.StatusNotAcceptable, map[string]any{
			"error":  fmt.Sprintf("Content-Type header [%s] is not supported", r.Header.Get("Content-Type")),
			"status": http.StatusNotAcceptable})
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away
	}
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	fault, _ := s.Faults.Next()
	if fault.Apply(w, s.Stopped(), respond) {
		return
	}
	if s.maxBody > 0 && len(body) > s.maxBody {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	actions, status, etype, reason := parseBulk(body, pathIndex)
	if status != 0 {
		if fault.LoseResponse {
			sinktest.Hangup(w)
			return
		}
		writeError(w, status, etype, reason)
		return
	}
	resp := s.execute(actions, fault.Partial)
	if fault.LoseResponse {
		sinktest.Hangup(w)
		return
	}
	if fault.RetryAfter != "" && fault.Partial != 0 {
		w.Header().Set("Retry-After", fault.RetryAfter)
	}
	writeJSON(w, http.StatusOK, resp)
}

// parseBulk splits an NDJSON _bulk body into actions, or returns the
// status, type and reason of a whole-request error.
func parseBulk(body []byte, pathIndex string) ([]action, int, string, string) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: no requests added;"
	}
	if body[len(body)-1] != '\n' {
		return nil, http.StatusBadRequest, "illegal_argument_exception", `The bulk request must be terminated by a newline [\n]`
	}
	lines := bytes.Split(body[:len(body)-1], []byte("\n"))
	var out []action
	for i := 0; i < len(lines); i++ {
		line := bytes.TrimSpace(lines[i])
		if len(line) == 0 {
			continue
		}
		var meta map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(line, &meta); err != nil || len(meta) != 1 {
			return nil, http.StatusBadRequest, "x_content_parse_exception",
				fmt.Sprintf("[%d:1] Malformed action/metadata line [%d], expected a simple object with one action", i+1, i+1)
		}
		var a action
		for op, m := range meta {
			a = action{op: op, index: m.Index, id: m.ID}
		}
		switch a.op {
		case "index", "create", "update", "delete":
		default:
			return nil, http.StatusBadRequest, "illegal_argument_exception",
				fmt.Sprintf("Malformed action/metadata line [%d], expected field [create], [delete], [index] or [update] but found [%s]", i+1, a.op)
		}
		if a.index == "" {
			a.index = pathIndex
		}
		if a.index == "" {
			return nil, http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: index is missing;"
		}
		if a.op != "delete" {
			if i+1 >= len(lines) {
				return nil, http.StatusBadRequest, "illegal_argument_exception",
					fmt.Sprintf("The bulk request must be terminated by a newline [\\n] (no source after action line [%d])", i+1)
			}
			i++
			a.source = bytes.Clone(bytes.TrimSpace(lines[i]))
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: no requests added;"
	}
	return out, 0, "", ""
}

// execute applies actions in order; items at odd positions fail with
// partial when it is not 0.
func (s *Server) execute(actions []action, partial int) bulkResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := bulkResponse{Took: 1 + len(actions)/100, Items: make([]map[string]bulkItem, 0, len(actions))}
	for i, a := range actions {
		if a.id == "" && a.op != "delete" {
			s.autoID++
			a.id = fmt.Sprintf("elastictest%09d", s.autoID)
		}
		status := 0
		if s.itemStatus != nil && a.op != "delete" {
			status = s.itemStatus(a.id)
		}
		if status == 0 && partial != 0 && i%2 == 1 {
			status = partial
		}
		var it bulkItem
		if status != 0 {
			it = failed(a, status, itemErrorFor(status, a))
		} else {
			it = s.apply(a)
		}
		if it.Error != nil {
			resp.Errors = true
		}
		resp.Items = append(resp.Items, map[string]bulkItem{a.op: it})
	}
	return resp
}

// apply performs one action on the store; s.mu is held.
func (s *Server) apply(a action) bulkItem {
	d, exists := s.docs[a.id]
	switch a.op {
	case "update":
		return failed(a, http.StatusBadRequest, itemError{Type: "illegal_argument_exception", Reason: "elastictest: the update action is not supported"})
	case "delete":
		if !exists {
			return s.ok(a, 0, "not_found", http.StatusNotFound)
		}
		delete(s.docs, a.id)
		return s.ok(a, d.version+1, "deleted", http.StatusOK)
	}
	if !json.Valid(a.source) || len(a.source) == 0 || a.source[0] != '{' {
		return failed(a, http.StatusBadRequest, itemError{Type: "mapper_parsing_exception", Reason: "failed to parse: the source is not a JSON object"})
	}
	if exists {
		if a.op == "create" {
			return failed(a, http.StatusConflict, itemError{Type: "version_conflict_engine_exception",
				Reason: fmt.Sprintf("[%s]: version conflict, document already exists (current version [%d])", a.id, d.version)})
		}
		d.index, d.source = a.index, a.source
		d.version++
		s.overwrites[a.id]++
		return s.ok(a, d.version, "updated", http.StatusOK)
	}
	s.docs[a.id] = &doc{index: a.index, source: a.source, version: 1}
	s.created[a.id]++
	return s.ok(a, 1, "created", http.StatusCreated)
}

// ok is a successful item; s.mu is held.
func (s *Server) ok(a action, version int64, result string, status int) bulkItem {
	seq := s.seqNo
	s.seqNo++
	return bulkItem{Index: a.index, ID: a.id, Version: version, Result: result,
		Shards: &shards{Total: 2, Successful: 1}, SeqNo: &seq, PrimaryTerm: 1, Status: status}
}

func failed(a action, status int, e itemError) bulkItem {
	e.Index = a.index
	return bulkItem{Index: a.index, ID: a.id, Status: status, Error: &e}
}

// itemErrorFor is the error Elasticsearch reports with a per-item status.
func itemErrorFor(status int, a action) itemError {
	switch status {
	case http.StatusTooManyRequests:
		return itemError{Type: "es_rejected_execution_exception", Reason: "rejected execution of primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, primary_operation_bytes=0, max_coordinating_and_primary_bytes=0] (elastictest)"}
	case http.StatusBadRequest:
		return itemError{Type: "mapper_parsing_exception", Reason: "failed to parse field [@timestamp] of type [date] in document with id '" + a.id + "' (elastictest)"}
	case http.StatusConflict:
		return itemError{Type: "version_conflict_engine_exception", Reason: "[" + a.id + "]: version conflict, document already exists (elastictest)"}
	case http.StatusNotFound:
		return itemError{Type: "index_not_found_exception", Reason: "no such index [" + a.index + "]"}
	case http.StatusForbidden:
		return itemError{Type: "cluster_block_exception", Reason: "index [" + a.index + "] blocked by: [FORBIDDEN/8/index write (api)];"}
	case http.StatusServiceUnavailable:
		return itemError{Type: "unavailable_shards_exception", Reason: "[" + a.index + "][0] primary shard is not active Timeout: [1m] (elastictest)"}
	}
	return itemError{Type: "exception", Reason: fmt.Sprintf("elastictest: injected item failure %d", status)}
}

// respond writes Elasticsearch's error body for a whole-request fault.
func respond(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusRequestEntityTooLarge:
		w.WriteHeader(status) // http.max_content_length: no body
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", status, http.StatusText(status)) // a proxy
	case http.StatusTooManyRequests:
		writeError(w, status, "es_rejected_execution_exception", "rejected execution of coordinating operation (elastictest)")
	case http.StatusServiceUnavailable:
		writeError(w, status, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];")
	case http.StatusUnauthorized, http.StatusForbidden:
		writeError(w, status, "security_exception", "action [indices:data/write/bulk] is unauthorized (elastictest)")
	case http.StatusBadRequest:
		writeError(w, status, "illegal_argument_exception", "elastictest: injected bad request")
	default:
		writeError(w, status, "exception", fmt.Sprintf("elastictest: injected fault %d", status))
	}
}

func writeError(w http.ResponseWriter, status int, typ, reason string) {
	cause := map[string]string{"type": typ, "reason": reason}
	writeJSON(w, status, map[string]any{
		"error":  map[string]any{"root_cause": []any{cause}, "type": typ, "reason": reason},
		"status": status,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"elastictest: encode response","status":500}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
