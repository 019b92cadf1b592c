package batch

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/export"
	"github.com/ttpmap/ttpmap/export/sinktest"
	"github.com/ttpmap/ttpmap/finding"
)

// fakeSink records every Send and answers from a script of errors.
type fakeSink struct {
	mu     sync.Mutex
	sends  [][]string
	script []func(batch []*finding.Finding) error
	block  chan struct{} // when set, Send waits on it
	closed bool
}

func (s *fakeSink) Name() string { return "fake" }

func (s *fakeSink) Send(ctx context.Context, batch []*finding.Finding) error {
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, f := range batch {
		ids = append(ids, f.EventID)
	}
	s.sends = append(s.sends, ids)
	if len(s.script) > 0 {
		next := s.script[0]
		s.script = s.script[1:]
		return next(batch)
	}
	return nil
}

func (s *fakeSink) Close(context.Context) error { s.closed = true; return nil }

func (s *fakeSink) calls() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sends)
}

type clock struct {
	mu     sync.Mutex
	sleeps []time.Duration
}

func (c *clock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return ctx.Err()
}

type dead struct {
	mu  sync.Mutex
	ids []string
	err []error
}

func (d *dead) fn(fs []*finding.Finding, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, f := range fs {
		d.ids = append(d.ids, f.EventID)
	}
	d.err = append(d.err, err)
}

func TestDeliver(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	tests := []struct {
		name      string
		n         int
		maxTries  int
		script    []func([]*finding.Finding) error
		wantSends [][]string
		wantSleep []time.Duration
		wantDead  []string
		wantSent  int64
	}{
		{name: "ok", n: 3, wantSends: [][]string{{"e-0", "e-1", "e-2"}}, wantSent: 3},
		{
			name:      "retry whole batch with backoff",
			n:         2,
			script:    []func([]*finding.Finding) error{func([]*finding.Finding) error { return &export.RetryableError{Err: errBoom} }, func([]*finding.Finding) error { return errBoom }},
			wantSends: [][]string{{"e-0", "e-1"}, {"e-0", "e-1"}, {"e-0", "e-1"}},
			// rnd = 0.5: attempt 0 → 0.5×100ms, attempt 1 → 0.5×200ms
			wantSleep: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond},
			wantSent:  2,
		},
		{
			name:      "retry-after honoured",
			n:         1,
			script:    []func([]*finding.Finding) error{func([]*finding.Finding) error { return &export.RetryableError{Err: errBoom, After: 3 * time.Second} }},
			wantSends: [][]string{{"e-0"}, {"e-0"}},
			wantSleep: []time.Duration{3 * time.Second},
			wantSent:  1,
		},
		{
			name: "partial failure re-sends only failed items",
			n:    4,
			script: []func([]*finding.Finding) error{func(b []*finding.Finding) error {
				return &export.RetryableError{Err: errBoom, Failed: []*finding.Finding{b[1], b[3]}}
			}},
			wantSends: [][]string{{"e-0", "e-1", "e-2", "e-3"}, {"e-1", "e-3"}},
			wantSleep: []time.Duration{50 * time.Millisecond},
			wantSent:  4,
		},
		{
			name: "permanent items dead-lettered, retryable ones re-sent",
			n:    4,
			script: []func([]*finding.Finding) error{func(b []*finding.Finding) error {
				return errors.Join(&export.RetryableError{Err: errBoom, Failed: []*finding.Finding{b[2]}},
					&export.PermanentError{Err: errBoom, Failed: []*finding.Finding{b[0]}})
			}},
			wantSends: [][]string{{"e-0", "e-1", "e-2", "e-3"}, {"e-2"}},
			wantSleep: []time.Duration{50 * time.Millisecond},
			wantDead:  []string{"e-0"},
			wantSent:  3,
		},
		{
			name:      "whole batch permanent",
			n:         2,
			script:    []func([]*finding.Finding) error{func([]*finding.Finding) error { return &export.PermanentError{Err: errBoom} }},
			wantSends: [][]string{{"e-0", "e-1"}},
			wantDead:  []string{"e-0", "e-1"},
		},
		{
			name:     "gives up after max attempts",
			n:        1,
			maxTries: 2,
			script: []func([]*finding.Finding) error{
				func([]*finding.Finding) error { return errBoom }, func([]*finding.Finding) error { return errBoom },
			},
			wantSends: [][]string{{"e-0"}, {"e-0"}},
			wantSleep: []time.Duration{50 * time.Millisecond},
			wantDead:  []string{"e-0"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := &fakeSink{script: tc.script}
			var clk clock
			var dl dead
			b, err := New(sink, Config{
				MaxBatch: 10, MaxWait: time.Hour, MaxAttempts: tc.maxTries,
				Backoff: export.Backoff{Base: 100 * time.Millisecond, Max: time.Second},
				Sleep:   clk.sleep, Rand: func() float64 { return 0.5 }, DeadLetter: dl.fn,
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range sinktest.Findings("e", tc.n) {
				if err := b.Add(context.Background(), f); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got := sink.calls(); !slices.EqualFunc(got, tc.wantSends, slices.Equal) {
				t.Errorf("sends %v, want %v", got, tc.wantSends)
			}
			if !slices.Equal(clk.sleeps, tc.wantSleep) {
				t.Errorf("sleeps %v, want %v", clk.sleeps, tc.wantSleep)
			}
			if !slices.Equal(dl.ids, tc.wantDead) {
				t.Errorf("dead letters %v, want %v", dl.ids, tc.wantDead)
			}
			if tc.maxTries > 0 && len(dl.err) > 0 && !errors.Is(dl.err[0], ErrGaveUp) {
				t.Errorf("dead-letter reason %v, want ErrGaveUp", dl.err[0])
			}
			if st := b.Stats(); st.Sent != tc.wantSent || st.DeadLettered != int64(len(tc.wantDead)) {
				t.Errorf("stats %+v", st)
			}
			if !sink.closed {
				t.Error("sink not closed")
			}
		})
	}
}

func TestBackPressure(t *testing.T) {
	t.Parallel()
	sink := &fakeSink{block: make(chan struct{})}
	b, err := New(sink, Config{MaxBatch: 2, MaxWait: time.Hour, QueueSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	fs := sinktest.Findings("e", 10)
	// 2 go into the in-flight batch, 3 fill the queue.
	accepted := 0
	deadline := time.Now().Add(5 * time.Second)
	for _, f := range fs {
		for {
			err := b.TryAdd(f)
			if err == nil {
				accepted++
				break
			}
			if !errors.Is(err, ErrFull) {
				t.Fatal(err)
			}
			if accepted >= 5 || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond) // the worker is taking the first batch
		}
		if accepted == 5 && b.TryAdd(f) != nil {
			break
		}
	}
	if accepted != 5 {
		t.Fatalf("accepted %d findings with a blocked sink, want 5 (batch 2 + queue 3)", accepted)
	}
	if q := b.Stats().Queued; q != 3 {
		t.Errorf("queued %d, want 3", q)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := b.Add(ctx, fs[9]); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Add on full queue = %v, want deadline exceeded", err)
	}
	close(sink.block)
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := b.Stats().Sent; got != 5 {
		t.Errorf("sent %d, want 5", got)
	}
	if err := b.Add(context.Background(), fs[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close = %v, want ErrClosed", err)
	}
}

func TestFlushByTime(t *testing.T) {
	t.Parallel()
	sink := &fakeSink{}
	b, err := New(sink, Config{MaxBatch: 100, MaxWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	_ = b.Add(context.Background(), sinktest.Findings("e", 1)[0])
	for i := 0; i < 500 && len(sink.calls()) == 0; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	if got := sink.calls(); len(got) != 1 {
		t.Errorf("sends %v after MaxWait, want one", got)
	}
}

func TestCloseDeadlineDeadLetters(t *testing.T) {
	t.Parallel()
	sink := &fakeSink{block: make(chan struct{})}
	var dl dead
	b, err := New(sink, Config{MaxBatch: 2, MaxWait: time.Hour, DeadLetter: dl.fn})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range sinktest.Findings("e", 3) {
		_ = b.Add(context.Background(), f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := b.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want deadline exceeded", err)
	}
	slices.Sort(dl.ids)
	if !slices.Equal(dl.ids, []string{"e-0", "e-1", "e-2"}) {
		t.Errorf("dead letters %v, want all three", dl.ids)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	_, err := New(&fakeSink{}, Config{MaxBatch: -1, QueueSize: -1})
	if err == nil {
		t.Fatal("want error")
	}
	if _, err := New(nil, Config{}); err == nil {
		t.Fatal("want error for nil sink")
	}
}
