// Package splunktest is a fake Splunk HTTP Event Collector (HEC) for tests:
// an httptest server that speaks the HEC wire protocol, records what it
// indexes, and injects faults through export/sinktest.Faults.
//
// Faithful to HEC (Splunk 9.x):
//   - POST /services/collector/event (also /services/collector and the
//     /1.0 forms) takes stacked event objects, {"event":…} one after the
//     other, optionally gzip-encoded; each may carry time, host, source,
//     sourcetype, index and fields;
//   - "Authorization: Splunk <token>": missing → 401 code 2 "Token is
//     required", another scheme → 401 code 3 "Invalid authorization",
//     wrong token → 403 code 4 "Invalid token";
//   - X-Splunk-Request-Channel (or ?channel=): when present it must be a
//     GUID (400 code 11 "Invalid data channel"); with indexer
//     acknowledgement on (WithAck) it is required (400 code 10 "Data
//     channel is missing"); WithChannel pins the one channel accepted;
//   - replies are {"text","code"}: 200 {"text":"Success","code":0} plus
//     "ackId" with acknowledgement on (ackIds count from 0 per channel);
//     an event that is not JSON, lacks "event" or has a blank one, names
//     an index the token may not write (WithIndexes), or is refused by
//     the WithReject hook, answers 400 with its "invalid-event-number",
//     the events before it being indexed (as HEC is widely reported to
//     do); an empty body is 400 code 5 "No data"; a body over
//     WithMaxContentLength is 413;
//   - POST /services/collector/ack {"acks":[ids]} → {"acks":{"id":bool}}
//     for the caller's channel; an ackId is reported true after
//     WithAckAfter polls (0 by default: on the first) and then forgotten;
//     400 code 14 "ACK is disabled" without WithAck;
//   - GET /services/collector/health → 200 code 17 "HEC is healthy", or
//     503 code 18 after SetHealthy(false); no token needed.
//
// Not faithful: only the JSON event endpoint exists (no /raw, no query
// string token, no basic auth); events are not parsed beyond what is
// stored (time is not checked); indexing is instantaneous and nothing is
// ever lost once acknowledged; an unhealthy server still accepts events.
//
// Faults (sinktest.Fault) apply to event POSTs only (not to ack polls or
// health), after the token and channel checks: Delay, Drop, Status (with
// HEC's body for the status: 503 code 9 "Server is busy", 500 code 8, 400
// code 6 without an event number, …), Partial (the first len/2 events are
// indexed, then the status is answered; for 400 with
// "invalid-event-number": len/2, exactly what HEC does for a bad event)
// and LoseResponse (indexed, ackId issued, connection closed unanswered).
package splunktest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ttpmap/ttpmap/export/sinktest"
)

// DefaultToken is the HEC token a Server expects unless WithToken says
// otherwise.
const DefaultToken = "5b1e5a2c-7f3d-4c1e-9a6b-0d2e8f4c6a10"

// Option configures a Server.
type Option func(*Server)

// WithToken sets the HEC token accepted (DefaultToken by default).
func WithToken(token string) Option { return func(s *Server) { s.Token = token } }

// WithAck turns indexer acknowledgement on for the token: event replies
// carry an ackId, the ack endpoint answers, and a channel is required.
func WithAck() Option { return func(s *Server) { s.useAck = true } }

// WithAckAfter turns acknowledgement on and reports each ackId true only
// on the (n+1)th poll that asks for it; n < 0 never acknowledges.
func WithAckAfter(n int) Option {
	return func(s *Server) { s.useAck, s.ackAfter = true, n }
}

// WithChannel accepts only this X-Splunk-Request-Channel (others get 400
// code 11 "Invalid data channel").
func WithChannel(channel string) Option { return func(s *Server) { s.channel = channel } }

// WithIndexes lists the indexes the token may write; an event naming
// another one gets 400 code 7 "Incorrect index". By default any index is
// accepted.
func WithIndexes(names ...string) Option {
	return func(s *Server) { s.indexes = slices.Clone(names) }
}

// WithMaxContentLength answers 413 to event bodies larger than n bytes
// (HEC's max_content_length; 0 = no limit, the fake's default).
func WithMaxContentLength(n int) Option { return func(s *Server) { s.maxBody = n } }

// WithReject sets the hook that makes an event invalid: fn gets the
// event's event_id (or its raw JSON when it has none) and returning true
// answers 400 code 6 "Invalid data format" with its invalid-event-number.
func WithReject(fn func(eventID string) bool) Option { return func(s *Server) { s.reject = fn } }

// WithFaults makes the server consult f (for instance one shared with
// another fake) instead of a Faults of its own.
func WithFaults(f *sinktest.Faults) Option { return func(s *Server) { s.Faults = f } }

// Event is one indexed event with its metadata as sent.
type Event struct {
	Channel    string          // X-Splunk-Request-Channel of the POST ("" when none)
	Time       json.RawMessage // as sent; nil when absent
	Host       string
	Source     string
	Sourcetype string
	Index      string // "" = the token's default index
	Fields     map[string]json.RawMessage
	Event      json.RawMessage // the event field, as sent
	ID         string          // the event's event_id, or its raw JSON when it has none
}

// Server is a fake HEC. Its fields are set by New and must not be
// changed; its methods are safe for concurrent use.
type Server struct {
	*sinktest.Server // URL, Close, Client
	// Token is the HEC token accepted.
	Token string
	// Faults is consulted once per event POST.
	Faults *sinktest.Faults

	useAck   bool
	ackAfter int
	channel  string
	indexes  []string
	maxBody  int

	mu       sync.Mutex
	reject   func(eventID string) bool
	healthy  bool
	events   []Event
	stored   map[string]int
	channels map[string]int
	acks     map[string]*channelAcks
	posts    int
	ackPolls int
}

// channelAcks is the ack state of one channel.
type channelAcks struct {
	next    int64
	pending map[int64]int // ackId → polls that asked for it so far
}

// New starts a fake HEC, closed when t's test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		Token:    DefaultToken,
		healthy:  true,
		stored:   map[string]int{},
		channels: map[string]int{},
		acks:     map[string]*channelAcks{},
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

// SetReject replaces the WithReject hook; nil removes it.
func (s *Server) SetReject(fn func(eventID string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject = fn
}

// SetHealthy sets what the health endpoint reports.
func (s *Server) SetHealthy(ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.healthy = ok
}

// Stored returns, per event_id, how many times it was indexed (more than
// once when a resend duplicated it: HEC has no idempotency key).
func (s *Server) Stored() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.stored)
}

// Events returns the indexed events in indexing order.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// Posts returns how many authenticated event POSTs arrived, including
// those answered with a fault.
func (s *Server) Posts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.posts
}

// AckPolls returns how many ack queries were answered.
func (s *Server) AckPolls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ackPolls
}

// Channels returns, per channel, how many authenticated requests (event
// POSTs and ack polls) used it; "" counts those without one.
func (s *Server) Channels() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.channels)
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch path {
	case "/services/collector/health", "/services/collector/health/1.0":
		s.health(w)
		return
	case "/services/collector", "/services/collector/event", "/services/collector/event/1.0",
		"/services/collector/ack", "/services/collector/ack/1.0":
	default:
		reply(w, http.StatusNotFound, `{"text":"The requested URL was not found on this server.","code":404}`)
		return
	}
	if r.Method != http.MethodPost {
		reply(w, http.StatusNotFound, `{"text":"The requested URL was not found on this server.","code":404}`)
		return
	}
	body, err := readBody(r)
	if err != nil {
		reply(w, http.StatusBadRequest, `{"text":"Invalid data format","code":6}`)
		return
	}
	switch auth := r.Header.Get("Authorization"); {
	case auth == "":
		reply(w, http.StatusUnauthorized, `{"text":"Token is required","code":2}`)
		return
	case !strings.HasPrefix(auth, "Splunk "):
		reply(w, http.StatusUnauthorized, `{"text":"Invalid authorization","code":3}`)
		return
	case strings.TrimPrefix(auth, "Splunk ") != s.Token:
		reply(w, http.StatusForbidden, `{"text":"Invalid token","code":4}`)
		return
	}
	ch := r.Header.Get("X-Splunk-Request-Channel")
	if ch == "" {
		ch = r.URL.Query().Get("channel")
	}
	s.mu.Lock()
	s.channels[ch]++
	s.mu.Unlock()
	switch {
	case ch == "" && s.useAck:
		reply(w, http.StatusBadRequest, `{"text":"Data channel is missing","code":10}`)
		return
	case ch != "" && (!guidRE.MatchString(ch) || s.channel != "" && ch != s.channel):
		reply(w, http.StatusBadRequest, `{"text":"Invalid data channel","code":11}`)
		return
	}
	if strings.HasPrefix(path, "/services/collector/ack") {
		s.ack(w, ch, body)
		return
	}
	s.event(w, ch, body)
}

// readBody reads the request body, gunzipping it when it says so.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if !strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		return body, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("gunzip body: %w", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("gunzip body: %w", err)
	}
	return out, nil
}

func (s *Server) health(w http.ResponseWriter) {
	s.mu.Lock()
	ok := s.healthy
	s.mu.Unlock()
	if !ok {
		reply(w, http.StatusServiceUnavailable, `{"text":"HEC is unhealthy, queues are full","code":18}`)
		return
	}
	reply(w, http.StatusOK, `{"text":"HEC is healthy","code":17}`)
}

// hecEvent is the JSON shape of one event object.
type hecEvent struct {
	Time       json.RawMessage            `json:"time"`
	Host       string                     `json:"host"`
	Source     string                     `json:"source"`
	Sourcetype string                     `json:"sourcetype"`
	Index      string                     `json:"index"`
	Fields     map[string]json.RawMessage `json:"fields"`
	Event      json.RawMessage            `json:"event"`
}

// invalid is the 400 answer for the event at position N.
type invalid struct {
	n    int
	text string
	code int
}

func (s *Server) event(w http.ResponseWriter, ch string, body []byte) {
	s.mu.Lock()
	s.posts++
	s.mu.Unlock()
	fault, _ := s.Faults.Next()
	if fault.Apply(w, s.Stopped(), respond) {
		return
	}
	if s.maxBody > 0 && len(body) > s.maxBody {
		reply(w, http.StatusRequestEntityTooLarge,
			fmt.Sprintf(`{"text":"Content-Length of %d too large (maximum is %d)"}`, len(body), s.maxBody))
		return
	}
	s.mu.Lock()
	reject := s.reject
	s.mu.Unlock()
	events, bad := s.parse(ch, body, reject)
	if len(events) == 0 && bad == nil {
		reply(w, http.StatusBadRequest, `{"text":"No data","code":5}`)
		return
	}
	total := len(events)
	if bad != nil {
		total = bad.n + 1
	}
	var status int
	var answer string
	switch {
	case fault.Partial != 0 && total/2 < len(events):
		half := total / 2
		events = events[:half]
		status = fault.Partial
		if fault.Partial == http.StatusBadRequest {
			answer = fmt.Sprintf(`{"text":"Invalid data format","code":6,"invalid-event-number":%d}`, half)
		}
	case bad != nil:
		status = http.StatusBadRequest
		answer = fmt.Sprintf(`{"text":%q,"code":%d,"invalid-event-number":%d}`, bad.text, bad.code, bad.n)
	}
	ackID := s.index(ch, events, status == 0)
	if fault.LoseResponse {
		sinktest.Hangup(w)
		return
	}
	switch {
	case status != 0:
		if fault.Partial != 0 && fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		if answer == "" {
			respond(w, status)
			return
		}
		reply(w, status, answer)
	case ackID >= 0:
		reply(w, http.StatusOK, fmt.Sprintf(`{"text":"Success","code":0,"ackId":%d}`, ackID))
	default:
		reply(w, http.StatusOK, `{"text":"Success","code":0}`)
	}
}

// parse decodes the stacked events of body up to the first invalid one.
func (s *Server) parse(ch string, body []byte, reject func(string) bool) ([]Event, *invalid) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var out []Event
	for i := 0; ; i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return out, &invalid{i, "Invalid data format", 6}
		}
		var he hecEvent
		if err := json.Unmarshal(raw, &he); err != nil {
			return out, &invalid{i, "Invalid data format", 6}
		}
		switch t := string(bytes.TrimSpace(he.Event)); {
		case t == "" || t == "null":
			return out, &invalid{i, "Event field is required", 12}
		case t == `""`:
			return out, &invalid{i, "Event field cannot be blank", 13}
		}
		if len(s.indexes) > 0 && he.Index != "" && !slices.Contains(s.indexes, he.Index) {
			return out, &invalid{i, "Incorrect index", 7}
		}
		ev := Event{Channel: ch, Time: he.Time, Host: he.Host, Source: he.Source, Sourcetype: he.Sourcetype,
			Index: he.Index, Fields: he.Fields, Event: he.Event, ID: eventID(he.Event)}
		if reject != nil && reject(ev.ID) {
			return out, &invalid{i, "Invalid data format", 6}
		}
		out = append(out, ev)
	}
}

// eventID is the event_id of an event object, or the raw event.
func eventID(raw json.RawMessage) string {
	var v struct {
		EventID *string `json:"event_id"`
	}
	if err := json.Unmarshal(raw, &v); err == nil && v.EventID != nil {
		return *v.EventID
	}
	return string(raw)
}

// index stores events and, when ack is on and withAck, issues an ackId
// for them on ch; it returns the ackId or -1.
func (s *Server) index(ch string, events []Event, withAck bool) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range events {
		s.stored[ev.ID]++
		s.events = append(s.events, ev)
	}
	if !s.useAck || !withAck {
		return -1
	}
	ca := s.acks[ch]
	if ca == nil {
		ca = &channelAcks{pending: map[int64]int{}}
		s.acks[ch] = ca
	}
	id := ca.next
	ca.next++
	ca.pending[id] = 0
	return id
}

func (s *Server) ack(w http.ResponseWriter, ch string, body []byte) {
	if !s.useAck {
		reply(w, http.StatusBadRequest, `{"text":"ACK is disabled","code":14}`)
		return
	}
	var q struct {
		Acks []int64 `json:"acks"`
	}
	if err := json.Unmarshal(body, &q); err != nil || q.Acks == nil {
		reply(w, http.StatusBadRequest, `{"text":"Invalid data format","code":6}`)
		return
	}
	s.mu.Lock()
	s.ackPolls++
	out := make(map[string]bool, len(q.Acks))
	ca := s.acks[ch]
	for _, id := range q.Acks {
		done := false
		if ca != nil {
			if polls, issued := ca.pending[id]; issued {
				done = s.ackAfter >= 0 && polls >= s.ackAfter
				ca.pending[id] = polls + 1
				if done {
					delete(ca.pending, id) // HEC forgets an ackId once reported true
				}
			}
		}
		out[strconv.FormatInt(id, 10)] = done
	}
	s.mu.Unlock()
	b, err := json.Marshal(map[string]any{"acks": out})
	if err != nil {
		reply(w, http.StatusInternalServerError, `{"text":"Internal server error","code":8}`)
		return
	}
	reply(w, http.StatusOK, string(b))
}

// respond writes HEC's body for a whole-request fault status.
func respond(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusServiceUnavailable:
		reply(w, status, `{"text":"Server is busy","code":9}`)
	case http.StatusTooManyRequests:
		reply(w, status, `{"text":"Too many requests"}`)
	case http.StatusInternalServerError:
		reply(w, status, `{"text":"Internal server error","code":8}`)
	case http.StatusBadRequest:
		reply(w, status, `{"text":"Invalid data format","code":6}`)
	case http.StatusUnauthorized:
		reply(w, status, `{"text":"Invalid authorization","code":3}`)
	case http.StatusForbidden:
		reply(w, status, `{"text":"Invalid token","code":4}`)
	case http.StatusRequestEntityTooLarge:
		reply(w, status, `{"text":"Content-Length too large"}`)
	default:
		reply(w, status, fmt.Sprintf(`{"text":%q,"code":%d}`, http.StatusText(status), status))
	}
}

func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
