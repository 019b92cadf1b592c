// Package deliver runs the durable export loop of `ttpmap serve`: for one
// sink it claims findings from the outbox (queue.Outbox: SQLite or Redis),
// sends them, and acknowledges, retries or dead-letters each one by the
// sink's answer. Unlike export/batch, nothing is held only in memory: a
// process killed mid-send loses nothing, the lease expires and the findings
// are claimed again, and the sinks' idempotent ids (event_id) absorb the
// repeat.
package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/ttpmap/ttpmap/export"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/queue"
)

// Config tunes a Loop. Zero values take the defaults shown.
type Config struct {
	Batch   int            // findings claimed and sent at once (500)
	Lease   time.Duration  // how long a claim is ours before others may take it (2m; longer than a send)
	Idle    time.Duration  // wait when the outbox is empty (250ms)
	Backoff export.Backoff // delay of failed findings, by consecutive failures
	// AuthRetry is how long findings wait after the sink refused the
	// credentials (1m): they stay queued, not dead-lettered, until the
	// credential is fixed.
	AuthRetry time.Duration
	Logger    *slog.Logger // nil discards
}

// Stats are a loop's counters since start.
type Stats struct {
	Sent         int64
	Retried      int64
	DeadLettered int64
	Failures     int64 // Send calls that returned an error
	LastError    string
	Running      bool
	Paused       bool
}

// Loop exports one sink's outbox.
type Loop struct {
	sink   export.Sink
	outbox queue.Outbox
	cfg    Config
	log    *slog.Logger
	wake   chan struct{}

	sent, retried, dead, failures atomic.Int64
	running, paused               atomic.Bool
	mu                            sync.Mutex
	lastErr                       string
}

// New returns a loop for sink over outbox; Run starts it.
func New(sink export.Sink, outbox queue.Outbox, cfg Config) (*Loop, error) {
	if sink == nil || outbox == nil {
		return nil, errors.New("new export loop: nil sink or outbox")
	}
	if cfg.Batch < 0 || cfg.Lease < 0 || cfg.Idle < 0 || cfg.AuthRetry < 0 {
		return nil, fmt.Errorf("new export loop %s: negative batch, lease, idle or auth retry", sink.Name())
	}
	if cfg.Batch == 0 {
		cfg.Batch = 500
	}
	if cfg.Lease == 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.Idle == 0 {
		cfg.Idle = 250 * time.Millisecond
	}
	if cfg.AuthRetry == 0 {
		cfg.AuthRetry = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Loop{sink: sink, outbox: outbox, cfg: cfg, log: cfg.Logger.With("sink", sink.Name()), wake: make(chan struct{}, 1)}, nil
}

// Name is the sink's name, the outbox's exporter key.
func (l *Loop) Name() string { return l.sink.Name() }

// Notify tells the loop that new findings were queued, cutting its idle wait.
func (l *Loop) Notify() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Pause stops (true) or resumes (false) claiming; findings keep queueing
// in the outbox meanwhile.
func (l *Loop) Pause(p bool) {
	l.paused.Store(p)
	l.Notify()
}

// Stats returns the loop's counters.
func (l *Loop) Stats() Stats {
	l.mu.Lock()
	last := l.lastErr
	l.mu.Unlock()
	return Stats{
		Sent: l.sent.Load(), Retried: l.retried.Load(), DeadLettered: l.dead.Load(),
		Failures: l.failures.Load(), LastError: last, Running: l.running.Load(), Paused: l.paused.Load(),
	}
}

// Run exports until ctx ends. Outbox errors (a locked or unreachable queue)
// are logged and retried with backoff; they never end the loop.
func (l *Loop) Run(ctx context.Context) error {
	l.running.Store(true)
	defer l.running.Store(false)
	failures := 0 // consecutive failed rounds, for the backoff
	for ctx.Err() == nil {
		if l.paused.Load() {
			l.sleep(ctx, l.cfg.Idle)
			continue
		}
		n, err := l.round(ctx, failures)
		switch {
		case err != nil && ctx.Err() == nil:
			failures++
			l.setErr(err)
			l.log.Warn("export round failed", "err", err)
			l.sleep(ctx, l.cfg.Backoff.Delay(failures-1, nil))
		case n == 0:
			failures = 0
			l.sleep(ctx, l.cfg.Idle)
		default:
			failures = 0
		}
	}
	return nil
}

func (l *Loop) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-l.wake:
	}
}

func (l *Loop) setErr(err error) {
	l.mu.Lock()
	l.lastErr = err.Error()
	l.mu.Unlock()
}

// round claims and sends one batch; it returns how many were claimed. A
// failed send is not an error of the round: its findings are settled in the
// outbox (retry or dead letter) and the next round goes on with others.
func (l *Loop) round(ctx context.Context, failures int) (int, error) {
	name := l.sink.Name()
	batch, err := l.outbox.Claim(ctx, name, l.cfg.Batch, l.cfg.Lease)
	if err != nil {
		return 0, fmt.Errorf("claim: %w", err)
	}
	if len(batch) == 0 {
		return 0, nil
	}
	sendErr := l.sink.Send(ctx, batch)
	if ctx.Err() != nil {
		// Shutting down mid-send: leave the lease to expire; the next
		// start claims these again (at least once, never lost).
		return len(batch), nil
	}
	retry, dead := export.Split(batch, sendErr)
	ok := export.Without(batch, retry, dead)
	refused := errors.Is(sendErr, export.ErrCredentials)
	if refused {
		// A refused credential is the operator's to fix, not the
		// findings' fault: keep the whole batch queued (a finding the sink
		// also rejected for itself is dead-lettered on a later try).
		retry, dead = append(retry, dead...), nil
		l.log.Error("the sink refused the credentials; findings stay queued until it accepts them", "retry_in", l.cfg.AuthRetry, "err", sendErr)
	}
	// Settle in an order that never loses a finding if we die in between:
	// the outbox entry goes only when it is acked or dead-lettered.
	if len(ok) > 0 {
		if err := l.outbox.Ack(ctx, name, ids(ok)); err != nil {
			return len(batch), fmt.Errorf("ack %d: %w", len(ok), err)
		}
		l.sent.Add(int64(len(ok)))
	}
	if len(dead) > 0 {
		if err := l.outbox.DeadLetter(ctx, name, ids(dead), reason(sendErr)); err != nil {
			return len(batch), fmt.Errorf("dead-letter %d: %w", len(dead), err)
		}
		l.dead.Add(int64(len(dead)))
		l.log.Warn("findings dead-lettered", "count", len(dead), "err", sendErr)
	}
	if len(retry) > 0 {
		wait := time.Duration(0)
		var re *export.RetryableError
		if errors.As(sendErr, &re) {
			wait = re.After
		}
		if wait <= 0 {
			wait = l.cfg.Backoff.Delay(failures, nil)
		}
		if refused {
			wait = max(wait, l.cfg.AuthRetry)
		}
		if err := l.outbox.Retry(ctx, name, ids(retry), wait, reason(sendErr)); err != nil {
			return len(batch), fmt.Errorf("retry %d: %w", len(retry), err)
		}
		l.retried.Add(int64(len(retry)))
		l.log.Debug("export retry", "count", len(retry), "wait", wait, "err", sendErr)
	}
	if sendErr != nil {
		l.failures.Add(1)
		l.setErr(sendErr)
		if len(retry) > 0 {
			// The sink is struggling: back off before the next claim too.
			return len(batch), sendErr
		}
	}
	return len(batch), nil
}

func ids(fs []*finding.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.EventID
	}
	return out
}

// maxReason bounds the error text kept per finding: a sink's error may list
// every failed item of a batch, and each finding keeps its own copy.
const maxReason = 512

func reason(err error) string {
	msg := err.Error()
	if len(msg) <= maxReason {
		return msg
	}
	cut := maxReason
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
}
