// Package sinktest is the table of HTTP behaviours every export sink is
// tested against, and the fault injection its fakes share.
//
// Each sink's test supplies a Harness (the sink pointed at a spec-faithful
// httptest fake, export/elastic/elastictest or export/splunk/splunktest)
// and calls Run. The fakes consult a Faults once per data request: a
// scripted queue (Push), random faults for a share of requests (Random)
// and a standing fault (Always); a Fault can delay, drop the connection,
// answer an error status, fail part of the request, or lose the response
// after storing the data.
package sinktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/export"
	"github.com/ttpmap/ttpmap/finding"
)

// Fault is what a fake does with one data request instead of, or on top
// of, serving it normally. The zero Fault serves normally. Delay comes
// first; then Drop or Status ends the request unserved (Drop wins);
// otherwise the request is served, with Partial and LoseResponse (which
// may be combined) applied.
type Fault struct {
	// Delay makes the response slow: the fake waits this long (cut short
	// only when the fake itself shuts down) and then does the rest. Like a
	// real overloaded server it still serves the request when the client
	// has given up meanwhile, so a request that timed out on the client
	// side may have been stored anyway.
	Delay time.Duration
	// Drop closes the connection without a response (nothing is stored).
	Drop bool
	// Status answers the whole request with this status and nothing is
	// stored. The body is Body, or else the fake's own error body for the
	// status (Elasticsearch's {"error":…,"status":N}, HEC's {"text","code"}).
	Status int
	// RetryAfter is sent as the Retry-After header with Status or Partial.
	RetryAfter string
	// Body replaces the fake's error body for Status (it is sent with
	// Content-Type application/json when it is valid JSON, text/html
	// otherwise).
	Body string
	// Partial processes the request but fails about half of it with this
	// status, deterministically: the Elasticsearch fake gives the items at
	// odd positions (1, 3, …) this per-item status with "errors": true;
	// the HEC fake indexes the first len/2 events and answers with this
	// status (for 400, "invalid-event-number" names event len/2, as real
	// HEC does for a bad event, so the sink dead-letters that event; use
	// 503 for a retryable partial failure, which makes the sink resend
	// the whole batch and so duplicate the indexed half).
	Partial int
	// LoseResponse processes the request normally, then closes the
	// connection without the response: the data is stored but the client
	// cannot know it, so it will resend.
	LoseResponse bool
}

// zero reports whether f asks for nothing.
func (f Fault) zero() bool { return f == Fault{} }

// DefaultRandomKinds returns the faults Random picks from when given none:
// 503, 429 with Retry-After: 1, and a dropped connection.
func DefaultRandomKinds() []Fault {
	return []Fault{{Status: http.StatusServiceUnavailable}, {Status: http.StatusTooManyRequests, RetryAfter: "1"}, {Drop: true}}
}

// FaultStats counts what a Faults handed out.
type FaultStats struct {
	Requests int // data requests that consulted the Faults
	Injected int // of which got a non-zero Fault
}

// Faults decides the fault for each data request: first a script consumed
// one entry per request (Push; a zero Fault entry serves normally), then,
// once it is empty, a random fault for a share of requests (Random), then
// a fault for every request (Always). The zero value injects nothing. Safe
// for concurrent use.
type Faults struct {
	mu     sync.Mutex
	queue  []Fault
	always *Fault
	rate   float64
	rng    *rand.Rand
	kinds  []Fault
	stats  FaultStats
}

// Push appends faults for the next requests.
func (f *Faults) Push(fs ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue = append(f.queue, fs...)
}

// Always makes every request fail with fault once the queue is empty (and
// the random draw, if any, chose no fault).
func (f *Faults) Always(fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.always = &fault
}

// Random makes a share rate (0…1) of the requests that find the queue
// empty fail with one of kinds, picked uniformly; no kinds means
// DefaultRandomKinds. The draws come from a PCG generator seeded with
// seed, so a given seed gives the same sequence of decisions (which
// request gets which one still depends on arrival order). Rate 0 turns
// random faults off.
func (f *Faults) Random(rate float64, seed uint64, kinds ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(kinds) == 0 {
		kinds = DefaultRandomKinds()
	}
	f.rate = min(max(rate, 0), 1)
	f.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	f.kinds = slices.Clone(kinds)
}

// Reset removes the script, the random faults and Always; the counts stay.
func (f *Faults) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue, f.always, f.rate, f.rng, f.kinds = nil, nil, 0, nil, nil
}

// Stats returns the counts so far.
func (f *Faults) Stats() FaultStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// Next returns the fault for the next data request and whether there is
// one (a zero Fault pushed on the queue is returned with true). A nil
// *Faults has none.
func (f *Faults) Next() (Fault, bool) {
	if f == nil {
		return Fault{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	x, ok := f.next()
	f.stats.Requests++
	if !x.zero() {
		f.stats.Injected++
	}
	return x, ok
}

func (f *Faults) next() (Fault, bool) {
	if len(f.queue) > 0 {
		x := f.queue[0]
		f.queue = f.queue[1:]
		return x, true
	}
	if f.rate > 0 && f.rng != nil && f.rng.Float64() < f.rate {
		return f.kinds[f.rng.IntN(len(f.kinds))], true
	}
	if f.always != nil {
		return *f.always, true
	}
	return Fault{}, false
}

// Apply performs the whole-request part of fault for a fake: it waits
// Delay (cut short when stop is closed), then closes the connection for
// Drop, or answers Status (with Retry-After, and Body or else
// respond(w, status) as the body). It reports whether the request has been
// answered, in which case the fake must return; otherwise the fake serves
// the request, honouring Partial and LoseResponse.
func (fault Fault) Apply(w http.ResponseWriter, stop <-chan struct{}, respond func(w http.ResponseWriter, status int)) bool {
	if fault.Delay > 0 {
		t := time.NewTimer(fault.Delay)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
		}
	}
	switch {
	case fault.Drop:
		Hangup(w)
		return true
	case fault.Status != 0:
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		if fault.Body == "" {
			respond(w, fault.Status)
			return true
		}
		ct := "text/html; charset=utf-8"
		if json.Valid([]byte(fault.Body)) {
			ct = "application/json; charset=UTF-8"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(fault.Status)
		_, _ = io.WriteString(w, fault.Body)
		return true
	}
	return false
}

// Hangup closes the connection of w without writing a response (through
// http.Hijacker; otherwise it aborts the handler with
// http.ErrAbortHandler, which makes the server close the connection).
func Hangup(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

// Harness is a sink wired to its fake.
type Harness struct {
	Sink   export.Sink
	Faults *Faults
	// Stored returns the event_ids the fake holds, one entry per stored
	// document (so a duplicate shows up twice).
	Stored func() []string
	// SplitsOnTooLarge says the sink answers a 413 by sending the batch
	// in smaller parts (true for Elastic); otherwise a 413 is permanent.
	SplitsOnTooLarge bool
}

// Findings returns n distinct findings with ids prefix-0…prefix-(n-1).
func Findings(prefix string, n int) []*finding.Finding {
	out := make([]*finding.Finding, n)
	for i := range out {
		out[i] = &finding.Finding{
			EventID:      fmt.Sprintf("%s-%d", prefix, i),
			Timestamp:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			Source:       "10.0.0.1",
			Destination:  "10.0.0.2",
			TechniqueIDs: []string{"T1059.001"},
			Tactics:      []string{"execution"},
			Severity:     "high",
			Description:  "suspicious PowerShell",
			Host:         "ws1",
			User:         "alice",
			RuleID:       "r1",
			RuleTitle:    "PowerShell encoded command",
		}
	}
	return out
}

func ids(fs []*finding.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.EventID
	}
	slices.Sort(out)
	return out
}

type step struct {
	faults []Fault
	always *Fault
	cancel bool
	want   string // "ok", "retry", "perm", "canceled"
	after  time.Duration
}

type testCase struct {
	name   string
	n      int
	steps  []step // Send of the same batch once per step
	stored int    // documents the fake must hold at the end, each once
}

func cases(h *Harness) []testCase {
	tooLarge := testCase{name: "too large", n: 4,
		steps:  []step{{faults: []Fault{{Status: http.StatusRequestEntityTooLarge}}, want: "perm"}},
		stored: 0}
	if h.SplitsOnTooLarge {
		tooLarge.steps[0].want = "ok"
		tooLarge.stored = 4
	}
	return []testCase{
		{name: "ok", n: 3, steps: []step{{want: "ok"}}, stored: 3},
		{name: "503 then 200", n: 3, steps: []step{{faults: []Fault{{Status: 503}}, want: "retry"}, {want: "ok"}}, stored: 3},
		{name: "429 with Retry-After", n: 2, steps: []step{{faults: []Fault{{Status: 429, RetryAfter: "7"}}, want: "retry", after: 7 * time.Second}, {want: "ok"}}, stored: 2},
		{name: "400", n: 2, steps: []step{{faults: []Fault{{Status: 400}}, want: "perm"}}, stored: 0},
		tooLarge,
		{name: "single document too large", n: 1, steps: []step{{always: &Fault{Status: http.StatusRequestEntityTooLarge}, want: "perm"}}, stored: 0},
		{name: "cancelled context", n: 2, steps: []step{{cancel: true, want: "canceled"}}, stored: 0},
		{name: "dropped connection", n: 3, steps: []step{{faults: []Fault{{Drop: true}}, want: "retry"}, {want: "ok"}}, stored: 3},
		{name: "resend is idempotent", n: 3, steps: []step{{want: "ok"}, {want: "ok"}}, stored: 3},
	}
}

// Run runs the shared table; newHarness is called once per case and must
// give a fresh fake.
func Run(t *testing.T, newHarness func(t *testing.T) *Harness) {
	t.Helper()
	for _, tc := range cases(newHarness(t)) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			batch := Findings("e", tc.n)
			for i, st := range tc.steps {
				h.Faults.Push(st.faults...)
				if st.always != nil {
					h.Faults.Always(*st.always)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if st.cancel {
					cancel()
				}
				err := h.Sink.Send(ctx, batch)
				cancel()
				check(t, i, st, err, batch)
			}
			got := h.Stored()
			slices.Sort(got)
			want := ids(batch)[:tc.stored]
			if tc.stored == 0 {
				want = []string{}
			}
			if got == nil {
				got = []string{}
			}
			if !slices.Equal(got, want) {
				t.Errorf("stored %v, want %v", got, want)
			}
			if err := h.Sink.Close(context.Background()); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

func check(t *testing.T, i int, st step, err error, batch []*finding.Finding) {
	t.Helper()
	var retry *export.RetryableError
	var perm *export.PermanentError
	switch st.want {
	case "ok":
		if err != nil {
			t.Fatalf("send %d: %v, want nil", i, err)
		}
	case "retry":
		if !errors.As(err, &retry) {
			t.Fatalf("send %d: %v (%T), want *export.RetryableError", i, err, err)
		}
		if errors.As(err, &perm) {
			t.Errorf("send %d: unexpected permanent part: %v", i, perm)
		}
		if len(retry.Failed) != 0 && !slices.Equal(ids(retry.Failed), ids(batch)) {
			t.Errorf("send %d: retry Failed %v, want the whole batch", i, ids(retry.Failed))
		}
		if st.after != 0 && retry.After != st.after {
			t.Errorf("send %d: After = %s, want %s", i, retry.After, st.after)
		}
	case "perm":
		if !errors.As(err, &perm) {
			t.Fatalf("send %d: %v (%T), want *export.PermanentError", i, err, err)
		}
		if errors.As(err, &retry) {
			t.Errorf("send %d: unexpected retryable part: %v", i, retry)
		}
		if len(perm.Failed) != 0 && !slices.Equal(ids(perm.Failed), ids(batch)) {
			t.Errorf("send %d: permanent Failed %v, want the whole batch", i, ids(perm.Failed))
		}
	case "canceled":
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("send %d: %v, want context.Canceled", i, err)
		}
	}
}

// Server is the httptest lifecycle the fakes share (elastictest,
// splunktest embed it): a loopback server closed when the test ends, whose
// Stopped channel cuts Fault delays short on Close.
type Server struct {
	// URL is the base URL, http://127.0.0.1:port.
	URL  string
	srv  *httptest.Server
	stop chan struct{}
	once sync.Once
}

// Serve starts h on a loopback server, closed when t's test ends.
func Serve(t testing.TB, h http.Handler) *Server {
	s := &Server{srv: httptest.NewServer(h), stop: make(chan struct{})}
	s.URL = s.srv.URL
	t.Cleanup(s.Close)
	return s
}

// Close shuts the server down (cutting Fault delays short); calling it
// again is harmless.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.stop)
		// Cut idle keep-alive connections first: Close would otherwise
		// wait for them, and a fuzz worker must exit promptly.
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Stopped is closed by Close.
func (s *Server) Stopped() <-chan struct{} { return s.stop }

// Answer is a fake's reply as its tests read it.
type Answer struct {
	Status int
	Header http.Header
	Body   map[string]any // the JSON body, nil when it is not a JSON object
	Raw    string
}

// Do sends req with c and reads the whole reply.
func Do(c *http.Client, req *http.Request) (Answer, error) {
	resp, err := c.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Answer{}, err
	}
	a := Answer{Status: resp.StatusCode, Header: resp.Header, Raw: string(b)}
	_ = json.Unmarshal(b, &a.Body)
	return a, nil
}
