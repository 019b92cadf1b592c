// Package pipeline wires the stages for one scan: inputs are read by the
// source walker, batched to the detection engine, and every match is built
// into a finding and handed to the caller. The CLI and the server share it.
package pipeline

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/source"
)

// Counters are live totals, safe to read while a scan runs (progress bars).
type Counters struct {
	Inputs       atomic.Int64
	Records      atomic.Int64
	RecordErrors atomic.Int64
	InputErrors  atomic.Int64
	Skipped      atomic.Int64 // files in folders/archives that are no log format
	Findings     atomic.Int64
}

// Config describes one scan.
type Config struct {
	Walker  *source.Walker
	Paths   []string
	Extra   []source.Input // already-open inputs (live event log), read after Paths
	Engine  *detect.Engine // nil: read only (OnEvent sees the events)
	Builder *finding.Builder
	// Out receives each finding in input order. An error stops the scan.
	Out func(*finding.Finding) error
	// OnError receives every input and record error; the scan goes on.
	OnError func(error)
	// OnEvent, when set, sees every event read, in input order, in the
	// reading goroutine, before detection; it must not modify the event.
	OnEvent func(*event.Event)
	// BatchSize is the number of events handed to a detection worker at
	// once; 0 means 256.
	BatchSize int
	Counters  *Counters // optional
}

// Stats summarises a finished scan.
type Stats struct {
	Inputs       int64
	Records      int64
	RecordErrors int64
	InputErrors  int64
	Skipped      int64
	Findings     int64
	Techniques   map[string]int // technique id → findings
	Duration     time.Duration
}

// Run scans every input and returns the totals. Input and record errors are
// counted and reported through OnError, never fatal; an error from Out or a
// cancelled ctx stops the scan.
func Run(ctx context.Context, cfg Config) (Stats, error) {
	start := time.Now()
	c := cfg.Counters
	if c == nil {
		c = &Counters{}
	}
	size := cfg.BatchSize
	if size <= 0 {
		size = 256
	}
	onErr := func(err error) {
		if cfg.OnError != nil {
			cfg.OnError(err)
		}
	}
	w := *cfg.Walker
	w.OnError = func(err error) {
		c.InputErrors.Add(1)
		onErr(err)
	}
	onSkip := w.OnSkip
	w.OnSkip = func(name string, reason error) {
		c.Skipped.Add(1)
		if onSkip != nil {
			onSkip(name, reason)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []*event.Event, 4)
	var readErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(batches)
		batch := make([]*event.Event, 0, size)
		send := func() bool {
			if len(batch) == 0 {
				return true
			}
			select {
			case batches <- batch:
				batch = make([]*event.Event, 0, size)
				return true
			case <-ctx.Done():
				return false
			}
		}
		read := func(in source.Input) error {
			c.Inputs.Add(1)
			for {
				ev, err := in.Reader.Read()
				if err == io.EOF {
					return nil
				}
				var rerr *source.RecordError
				if errors.As(err, &rerr) {
					c.RecordErrors.Add(1)
					onErr(err)
					continue
				}
				if err != nil {
					// The rest of this input is unreadable; others go on.
					c.InputErrors.Add(1)
					onErr(err)
					return nil
				}
				c.Records.Add(1)
				if cfg.OnEvent != nil {
					cfg.OnEvent(ev)
				}
				batch = append(batch, ev)
				if len(batch) == size && !send() {
					return ctx.Err()
				}
			}
		}
		err := w.Walk(ctx, cfg.Paths, read)
		for _, in := range cfg.Extra {
			if err != nil {
				break
			}
			err = read(in)
		}
		if err == nil {
			send()
		}
		readErr = err
	}()

	techniques := map[string]int{}
	emit := func(ctx context.Context, m detect.Match) error {
		f := cfg.Builder.Build(m)
		c.Findings.Add(1)
		for _, id := range f.TechniqueIDs {
			techniques[id]++
		}
		return cfg.Out(f)
	}
	var runErr error
	if cfg.Engine != nil {
		runErr = cfg.Engine.Run(ctx, batches, emit)
	} else {
		for range batches {
		}
	}
	if runErr != nil {
		cancel()
	}
	wg.Wait()
	st := Stats{
		Inputs:       c.Inputs.Load(),
		Records:      c.Records.Load(),
		RecordErrors: c.RecordErrors.Load(),
		InputErrors:  c.InputErrors.Load(),
		Skipped:      c.Skipped.Load(),
		Findings:     c.Findings.Load(),
		Techniques:   techniques,
		Duration:     time.Since(start),
	}
	if runErr != nil {
		return st, runErr
	}
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		return st, readErr
	}
	return st, ctx.Err()
}
