package detect_test

// Run: go test -run='^$' -bench=BenchmarkMatch -benchmem ./detect/

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/sigma"
	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/all"
)

const (
	benchRulesDir  = "../../shared/datasets/sigma/rules/windows"
	benchEventsDir = "../../shared/datasets/evtx-attack-samples"
)

// benchEngine compiles every SigmaHQ Windows rule.
func benchEngine(b *testing.B) *detect.Engine {
	b.Helper()
	if _, err := os.Stat(benchRulesDir); err != nil {
		b.Skipf("dataset %s absent", benchRulesDir)
	}
	rules, errs := sigma.LoadPaths([]string{benchRulesDir})
	if len(errs) > 0 {
		b.Logf("%d rule load errors, first: %v", len(errs), errs[0])
	}
	e, _, err := detect.New(rules, detect.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// benchEvents reads every event of evtx-attack-samples with ttpmap's
// readers, as a scan would.
func benchEvents(b *testing.B) []*event.Event {
	b.Helper()
	if _, err := os.Stat(benchEventsDir); err != nil {
		b.Skipf("dataset %s absent", benchEventsDir)
	}
	var events []*event.Event
	w := source.Walker{Formats: all.Formats()}
	err := w.Walk(context.Background(), []string{benchEventsDir}, func(in source.Input) error {
		for {
			ev, err := in.Reader.Read()
			if errors.Is(err, io.EOF) {
				return nil
			}
			var re *source.RecordError
			if errors.As(err, &re) {
				continue
			}
			if err != nil {
				return nil // keep what a damaged file gave
			}
			events = append(events, ev)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	if len(events) == 0 {
		b.Skipf("no events in %s", benchEventsDir)
	}
	return events
}

// BenchmarkMatch runs every SigmaHQ Windows rule over every event of
// evtx-attack-samples: on one goroutine (Process), on the worker pool
// (Run, GOMAXPROCS workers, batches of 256 as the pipeline sends), and
// for one Sysmon process-creation event that no rule matches (the common
// no-match path; its allocs/op is the per-event allocation count there).
func BenchmarkMatch(b *testing.B) {
	e := benchEngine(b)
	events := benchEvents(b)
	ctx := context.Background()
	var matches int
	count := func(context.Context, detect.Match) error { matches++; return nil }

	b.Run("process", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			matches = 0
			for _, ev := range events {
				if err := e.Process(ctx, ev, count); err != nil {
					b.Fatal(err)
				}
			}
		}
		reportEvents(b, len(events))
		b.ReportMetric(float64(matches), "matches/op")
	})

	b.Run("run", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			matches = 0
			in := make(chan []*event.Event, 4)
			go func() {
				defer close(in)
				for i := 0; i < len(events); i += 256 {
					in <- events[i:min(i+256, len(events))]
				}
			}()
			if err := e.Run(ctx, in, count); err != nil {
				b.Fatal(err)
			}
		}
		reportEvents(b, len(events))
		b.ReportMetric(float64(matches), "matches/op")
	})

	b.Run("nomatch", func(b *testing.B) {
		ev := noMatchEvent(b, e, events)
		b.ReportAllocs()
		for b.Loop() {
			if err := e.Process(ctx, ev, count); err != nil {
				b.Fatal(err)
			}
		}
		reportEvents(b, 1)
	})
}

// noMatchEvent picks the first Sysmon event 1 (process creation: the
// channel and ID with the most candidate rules) that no rule matches.
func noMatchEvent(b *testing.B, e *detect.Engine, events []*event.Event) *event.Event {
	b.Helper()
	for _, ev := range events {
		if ev.EventID != 1 || ev.Channel != "Microsoft-Windows-Sysmon/Operational" {
			continue
		}
		hit := false
		err := e.Process(context.Background(), ev, func(context.Context, detect.Match) error { hit = true; return nil })
		if err != nil {
			b.Fatal(err)
		}
		if !hit {
			return ev
		}
	}
	b.Skip("no Sysmon event 1 without matches")
	return nil
}

// reportEvents adds events/s and ns/event, n events per iteration.
func reportEvents(b *testing.B, n int) {
	b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/event")
}
