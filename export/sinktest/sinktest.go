// Package sinktest is the table of HTTP behaviours every export sink is
// tested against: each sink's test supplies a Harness (the sink pointed at
// its own spec-faithful httptest fake, which consults Faults per data
// request) and calls Run.
package sinktest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/export"
	"github.com/ttpmap/ttpmap/finding"
)

// Fault is what a fake does with one request instead of serving it.
type Fault struct {
	Status     int    // respond with this status and an empty JSON error body
	RetryAfter string // Retry-After header with Status
	Drop       bool   // close the connection without a response
}

// Faults is a script of faults consumed one per data request; when it is
// empty, or with Always set, the fake behaves as configured. Safe for
// concurrent use.
type Faults struct {
	mu     sync.Mutex
	queue  []Fault
	always *Fault
}

// Push appends faults for the next requests.
func (f *Faults) Push(fs ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue = append(f.queue, fs...)
}

// Always makes every request fail with fault once the queue is empty.
func (f *Faults) Always(fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.always = &fault
}

// Next returns the fault for the next request, if any.
func (f *Faults) Next() (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queue) > 0 {
		x := f.queue[0]
		f.queue = f.queue[1:]
		return x, true
	}
	if f.always != nil {
		return *f.always, true
	}
	return Fault{}, false
}

// Apply takes the next fault, if any, and performs it on w; it reports
// whether it did, in which case the fake must return without serving.
func (f *Faults) Apply(w http.ResponseWriter) bool {
	fault, ok := f.Next()
	if !ok {
		return false
	}
	if fault.Drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler) // the server closes the connection
	}
	if fault.RetryAfter != "" {
		w.Header().Set("Retry-After", fault.RetryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(fault.Status)
	fmt.Fprintf(w, `{"error":{"type":"injected","reason":"injected fault"},"status":%d}`, fault.Status)
	return true
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
