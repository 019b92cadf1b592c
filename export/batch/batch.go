// Package batch groups findings into batches for an export.Sink, sends them
// with retries (exponential backoff with jitter, Retry-After honoured, only
// the failed items of a partial failure re-sent), hands findings that can
// never be delivered to a dead-letter function, and applies back-pressure
// through a bounded queue.
package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ttpmap/ttpmap/export"
	"github.com/ttpmap/ttpmap/finding"
)

// ErrFull is returned by TryAdd when the queue is full.
var ErrFull = errors.New("export queue full")

// ErrClosed is returned by Add and TryAdd after Close.
var ErrClosed = errors.New("export batcher closed")

// ErrGaveUp wraps the last error of findings dead-lettered after
// MaxAttempts sends.
var ErrGaveUp = errors.New("gave up after retries")

// DeadLetter receives findings that will not be delivered, with the reason:
// a *export.PermanentError, an error wrapping ErrGaveUp, or the context
// error when Close ran out of time.
type DeadLetter func(failed []*finding.Finding, reason error)

// Config tunes a Batcher. Zero values take the defaults shown.
type Config struct {
	MaxBatch    int            // findings per Send (500)
	MaxWait     time.Duration  // longest a finding waits for its batch to fill (1s)
	QueueSize   int            // findings buffered before Add blocks (4 × MaxBatch)
	MaxAttempts int            // sends per batch before dead-lettering (10); <0 = unlimited
	Backoff     export.Backoff // delays between attempts
	DeadLetter  DeadLetter     // nil drops them (after counting)
	Logger      *slog.Logger   // nil discards

	// Sleep waits d or until ctx is done (tests inject a fake clock);
	// nil uses a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns values in [0,1) for the jitter; nil uses math/rand/v2.
	Rand func() float64
}

// Stats are a Batcher's counters.
type Stats struct {
	Queued       int       // findings waiting in the queue
	Sent         int64     // findings the sink accepted
	Batches      int64     // Send calls
	Retries      int64     // Send calls that were retries
	DeadLettered int64     // findings handed to DeadLetter
	LastSuccess  time.Time // zero until the first successful Send
	LastError    string    // of the most recent failed Send
}

// Batcher feeds one Sink from a bounded queue on one goroutine.
type Batcher struct {
	sink  export.Sink
	cfg   Config
	log   *slog.Logger
	queue chan *finding.Finding

	mu     sync.RWMutex // held for reading while sending on queue
	closed bool
	stop   chan struct{} // closed by Close: unblocks waiting Adds
	once   sync.Once

	runCtx context.Context
	cancel context.CancelFunc
	done   chan struct{}

	sent, batches, retries, dead atomic.Int64
	lastOK                       atomic.Int64 // unix nanos
	lastErr                      atomic.Pointer[string]
}

// New validates cfg, applies defaults and starts the batcher.
func New(sink export.Sink, cfg Config) (*Batcher, error) {
	if sink == nil {
		return nil, errors.New("new batcher: nil sink")
	}
	var errs []error
	if cfg.MaxBatch < 0 {
		errs = append(errs, fmt.Errorf("max batch %d < 0", cfg.MaxBatch))
	}
	if cfg.MaxWait < 0 {
		errs = append(errs, fmt.Errorf("max wait %s < 0", cfg.MaxWait))
	}
	if cfg.QueueSize < 0 {
		errs = append(errs, fmt.Errorf("queue size %d < 0", cfg.QueueSize))
	}
	if cfg.Backoff.Base < 0 || cfg.Backoff.Max < 0 {
		errs = append(errs, errors.New("negative backoff"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new batcher: %w", err)
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 500
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = time.Second
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = 4 * cfg.MaxBatch
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Batcher{
		sink:   sink,
		cfg:    cfg,
		log:    cfg.Logger.With("sink", sink.Name()),
		queue:  make(chan *finding.Finding, cfg.QueueSize),
		stop:   make(chan struct{}),
		runCtx: ctx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go b.run()
	return b, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Add queues f, blocking while the queue is full until there is room, ctx
// is done (its error is returned) or the batcher is closed (ErrClosed).
func (b *Batcher) Add(ctx context.Context, f *finding.Finding) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	select {
	case b.queue <- f:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("queue finding %s: %w", f.EventID, ctx.Err())
	case <-b.stop:
		return ErrClosed
	}
}

// TryAdd queues f without blocking, or returns ErrFull.
func (b *Batcher) TryAdd(f *finding.Finding) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	select {
	case b.queue <- f:
		return nil
	case <-b.stop:
		return ErrClosed
	default:
		return ErrFull
	}
}

// Close stops accepting findings, flushes the queue (with retries) and
// closes the sink. If ctx ends first, retries stop, the undelivered
// findings go to DeadLetter with the context error, and that error is
// returned.
func (b *Batcher) Close(ctx context.Context) error {
	b.once.Do(func() {
		close(b.stop)
		b.mu.Lock()
		b.closed = true
		close(b.queue)
		b.mu.Unlock()
	})
	var err error
	select {
	case <-b.done:
	case <-ctx.Done():
		b.cancel()
		<-b.done
		err = fmt.Errorf("flush %s: %w", b.sink.Name(), ctx.Err())
	}
	b.cancel()
	if cerr := b.sink.Close(ctx); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close %s: %w", b.sink.Name(), cerr))
	}
	return err
}

// Stats returns the current counters.
func (b *Batcher) Stats() Stats {
	s := Stats{
		Queued:       len(b.queue),
		Sent:         b.sent.Load(),
		Batches:      b.batches.Load(),
		Retries:      b.retries.Load(),
		DeadLettered: b.dead.Load(),
	}
	if ns := b.lastOK.Load(); ns != 0 {
		s.LastSuccess = time.Unix(0, ns)
	}
	if p := b.lastErr.Load(); p != nil {
		s.LastError = *p
	}
	return s
}

func (b *Batcher) run() {
	defer close(b.done)
	batch := make([]*finding.Finding, 0, b.cfg.MaxBatch)
	timer := time.NewTimer(b.cfg.MaxWait)
	timer.Stop()
	armed := false
	flush := func() {
		if len(batch) > 0 {
			b.deliver(batch)
			batch = make([]*finding.Finding, 0, b.cfg.MaxBatch)
		}
		if armed {
			timer.Stop()
			armed = false
		}
	}
	for {
		select {
		case f, ok := <-b.queue:
			if !ok {
				flush()
				return
			}
			if f == nil {
				continue
			}
			batch = append(batch, f)
			if len(batch) >= b.cfg.MaxBatch {
				flush()
			} else if !armed {
				timer.Reset(b.cfg.MaxWait)
				armed = true
			}
		case <-timer.C:
			armed = false
			flush()
		}
	}
}

// deliver sends batch until every finding is accepted or dead-lettered.
func (b *Batcher) deliver(batch []*finding.Finding) {
	ctx := b.runCtx
	pending := batch
	for attempt := 0; len(pending) > 0; attempt++ {
		if err := ctx.Err(); err != nil {
			b.deadLetter(pending, err)
			return
		}
		b.batches.Add(1)
		if attempt > 0 {
			b.retries.Add(1)
		}
		err := b.sink.Send(ctx, pending)
		if err == nil {
			b.sent.Add(int64(len(pending)))
			b.lastOK.Store(time.Now().UnixNano())
			return
		}
		msg := err.Error()
		b.lastErr.Store(&msg)

		var perm *export.PermanentError
		var retry *export.RetryableError
		isPerm, isRetry := errors.As(err, &perm), errors.As(err, &retry)
		if !isPerm && !isRetry && ctx.Err() != nil {
			b.deadLetter(pending, fmt.Errorf("%w: %w", ctx.Err(), err))
			return
		}
		next, dead := export.Split(pending, err)
		if len(dead) > 0 {
			b.deadLetter(dead, err)
		}
		b.sent.Add(int64(len(pending) - len(dead) - len(next)))
		if len(next) == 0 {
			return
		}
		pending = next
		if b.cfg.MaxAttempts > 0 && attempt+1 >= b.cfg.MaxAttempts {
			b.deadLetter(pending, fmt.Errorf("%w (%d attempts): %w", ErrGaveUp, attempt+1, err))
			return
		}
		wait := time.Duration(0)
		if isRetry {
			wait = retry.After
		}
		if wait <= 0 {
			wait = b.cfg.Backoff.Delay(attempt, b.cfg.Rand)
		}
		b.log.Debug("retrying export", "findings", len(pending), "attempt", attempt+1, "wait", wait, "err", err)
		if serr := b.cfg.Sleep(ctx, wait); serr != nil {
			b.deadLetter(pending, fmt.Errorf("%w: %w", serr, err))
			return
		}
	}
}

func (b *Batcher) deadLetter(fs []*finding.Finding, reason error) {
	b.dead.Add(int64(len(fs)))
	if b.cfg.DeadLetter != nil {
		b.cfg.DeadLetter(fs, reason)
	}
}
