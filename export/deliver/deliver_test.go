package deliver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/export"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/store"
)

// flakySink fails a share of Sends in every way a real sink reports
// failure, and records what it accepted by event id.
type flakySink struct {
	mu       sync.Mutex
	rnd      *rand.Rand
	failRate float64
	reject   map[string]bool // ids answered with a permanent per-item error
	got      map[string]int
	calls    int
}

func (s *flakySink) Name() string                    { return "fake" }
func (s *flakySink) Close(ctx context.Context) error { return nil }

func (s *flakySink) Send(ctx context.Context, batch []*finding.Finding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.rnd.Float64() < s.failRate {
		switch s.calls % 3 {
		case 0:
			return errors.New("connection reset by peer")
		case 1:
			return &export.RetryableError{Err: errors.New("503")}
		default: // partial: the first half is stored, the rest is 429
			half := len(batch) / 2
			for _, f := range batch[:half] {
				s.got[f.EventID]++
			}
			return &export.RetryableError{Err: errors.New("429"), Failed: batch[half:]}
		}
	}
	var dead []*finding.Finding
	for _, f := range batch {
		if s.reject[f.EventID] {
			dead = append(dead, f)
			continue
		}
		s.got[f.EventID]++
	}
	if len(dead) > 0 {
		return &export.PermanentError{Err: errors.New("mapper_parsing_exception"), Failed: dead}
	}
	return nil
}

// queued opens a store holding n findings (id-0000, id-0001, …) queued
// for the "fake" exporter.
func queued(t *testing.T, n int) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var fs []*finding.Finding
	for i := range n {
		fs = append(fs, &finding.Finding{EventID: fmt.Sprintf("id-%04d", i), Timestamp: time.Unix(int64(i), 0).UTC(), Severity: "high"})
	}
	if err := st.Put(context.Background(), fs, []string{"fake"}); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestLoopDeliversEveryFindingDespiteFaults(t *testing.T) {
	const n = 2000
	st := queued(t, n)
	ctx := context.Background()
	sink := &flakySink{rnd: rand.New(rand.NewPCG(1, 2)), failRate: 0.3, reject: map[string]bool{"id-0007": true, "id-1500": true}, got: map[string]int{}}
	loop, err := New(sink, st, Config{Batch: 64, Idle: 5 * time.Millisecond, Backoff: export.Backoff{Base: time.Millisecond, Max: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { loop.Run(runCtx); close(done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		queued, failed, _, err := st.OutboxStats(ctx, "fake")
		if err != nil {
			t.Fatal(err)
		}
		if queued == 0 {
			if failed != 2 {
				t.Errorf("dead letters = %d, want 2", failed)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d findings", queued)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.got) != n-2 {
		t.Errorf("sink holds %d distinct findings, want %d", len(sink.got), n-2)
	}
	for _, id := range []string{"id-0007", "id-1500"} {
		if sink.got[id] != 0 {
			t.Errorf("%s was rejected but counted", id)
		}
	}
	for id, c := range sink.got {
		// Only a partial batch may make the sink see an id twice, and
		// the loop never re-sends what was acknowledged.
		if c > 1 {
			t.Errorf("%s delivered %d times: a delivered finding was sent again", id, c)
		}
	}
	s := loop.Stats()
	if s.Sent != n-2 || s.DeadLettered != 2 || s.Retried == 0 || s.Failures == 0 {
		t.Errorf("stats = %+v", s)
	}
	dl, err := st.DeadLetters(ctx, "fake", 10)
	if err != nil || len(dl) != 2 {
		t.Fatalf("dead letters %v, %v", dl, err)
	}
}

// lockedSink refuses every Send with a 401 until unlocked.
type lockedSink struct {
	mu      sync.Mutex
	locked  bool
	refused int
	got     map[string]int
}

func (s *lockedSink) Name() string                    { return "fake" }
func (s *lockedSink) Close(ctx context.Context) error { return nil }

func (s *lockedSink) Send(ctx context.Context, batch []*finding.Finding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked {
		s.refused++
		return &export.PermanentError{Err: fmt.Errorf("http status 401 Unauthorized: %w", export.ErrCredentials), Failed: batch}
	}
	for _, f := range batch {
		s.got[f.EventID]++
	}
	return nil
}

func TestLoopKeepsFindingsWhenCredentialsAreRefused(t *testing.T) {
	st := queued(t, 100)
	ctx := context.Background()
	sink := &lockedSink{locked: true, got: map[string]int{}}
	loop, err := New(sink, st, Config{Batch: 30, Idle: 2 * time.Millisecond, AuthRetry: 20 * time.Millisecond,
		Backoff: export.Backoff{Base: time.Millisecond, Max: 2 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { loop.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	// Every batch is refused a few times over; none is dead-lettered.
	waitFor("refusals", func() bool { sink.mu.Lock(); defer sink.mu.Unlock(); return sink.refused >= 8 })
	queued, failed, _, err := st.OutboxStats(ctx, "fake")
	if err != nil || queued != 100 || failed != 0 {
		t.Fatalf("while refused: queued %d, dead %d, %v", queued, failed, err)
	}
	if s := loop.Stats(); s.DeadLettered != 0 || !strings.Contains(s.LastError, "401") {
		t.Errorf("stats while refused: %+v", s)
	}
	// The operator fixes the credential: everything goes out, once.
	sink.mu.Lock()
	sink.locked = false
	sink.mu.Unlock()
	waitFor("delivery", func() bool { q, _, _, _ := st.OutboxStats(ctx, "fake"); return q == 0 })
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.got) != 100 {
		t.Errorf("sink holds %d findings, want 100", len(sink.got))
	}
	for id, c := range sink.got {
		if c != 1 {
			t.Errorf("%s delivered %d times", id, c)
		}
	}
}
