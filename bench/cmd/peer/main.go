// Command peer benchmarks ttpmap's detection engine against the peer
// library github.com/bradleyjkemp/sigma-go on the same pre-parsed events
// and the same Sigma rules, in one run.
//
//	peer [flags] RULES_DIR EVENTS_PATH
//
// Events are read once with ttpmap's own readers (EVTX, JSON, … files or a
// folder) and kept in memory; sigma-go gets each event's fields as a
// map[string]interface{} built before any timing. ttpmap runs the rules
// through detect.Engine (Process on one goroutine, Run's worker pool on
// every core); sigma-go runs one RuleEvaluator per rule, dispatched by the
// event's channel as its Indexes/RelevantToEvent API intends, on one
// goroutine and then on one goroutine per core over disjoint slices. sigma-go
// is slow, so it is timed on a deterministic random sample within a time
// budget.
//
// The output ends with the line "ratio: X": ttpmap events/s ÷ sigma-go
// events/s, both on every core. The peer lives in this separate module
// (github.com/ttpmap/ttpmap/bench), so it never enters the ttpmap binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/sigma"
	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/all"
)

// config holds the command line.
type config struct {
	rulesDir, eventsPath string
	maxEvents            int
	minTime              time.Duration // ttpmap: time each mode at least this long
	maxPasses            int           // ttpmap: cap on passes per mode
	peerTime             time.Duration // sigma-go: time budget per mode
	examples             int           // disagreement examples printed
	listFailed           int           // sigma-go load failures listed by name
	workers              int
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("peer", flag.ContinueOnError)
	fs.IntVar(&c.maxEvents, "max-events", 200_000, "read at most this many events")
	fs.DurationVar(&c.minTime, "min-time", 5*time.Second, "time each ttpmap mode for at least this long")
	fs.IntVar(&c.maxPasses, "max-passes", 200, "cap on ttpmap passes over the events per mode")
	fs.DurationVar(&c.peerTime, "peer-time", 8*time.Second, "sigma-go time budget per mode (single core, all cores)")
	fs.IntVar(&c.examples, "examples", 8, "disagreement examples to print")
	fs.IntVar(&c.listFailed, "list-failed", 1_000_000, "list at most this many sigma-go load failures by file")
	fs.IntVar(&c.workers, "workers", runtime.NumCPU(), "cores for the parallel runs")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: peer [flags] RULES_DIR EVENTS_PATH")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return c, errors.New("want RULES_DIR and EVENTS_PATH")
	}
	c.rulesDir, c.eventsPath = fs.Arg(0), fs.Arg(1)
	if c.workers < 1 {
		c.workers = 1
	}
	return c, nil
}

// pair is one (event, rule) match.
type pair struct {
	event int
	rule  string
}

func run(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	p := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }

	// Events, once, with ttpmap's readers.
	t0 := time.Now()
	events, recErrs, err := loadEvents(ctx, cfg.eventsPath, cfg.maxEvents)
	if err != nil {
		return err
	}
	if len(events) == 0 {
		return fmt.Errorf("no events in %s", cfg.eventsPath)
	}
	maps := make([]map[string]interface{}, len(events))
	channels := map[string]bool{}
	for i, ev := range events {
		m := make(map[string]interface{}, len(ev.Fields))
		for k, v := range ev.Fields {
			m[k] = v
		}
		maps[i] = m
		channels[ev.Channel] = true
	}
	p("events: %d from %s (%d record errors skipped), loaded in %s", len(events), cfg.eventsPath, recErrs, time.Since(t0).Round(time.Millisecond))
	p("machine: %s/%s, %d CPUs, GOMAXPROCS %d, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())

	// ttpmap.
	t0 = time.Now()
	rules, ruleErrs := sigma.LoadPaths([]string{cfg.rulesDir})
	eng, skipped, err := detect.New(rules, detect.Options{Workers: cfg.workers})
	if err != nil {
		return fmt.Errorf("ttpmap engine: %w", err)
	}
	st := eng.Stats()
	if st.Rules == 0 {
		return fmt.Errorf("no usable rules in %s: %w", cfg.rulesDir, errors.Join(ruleErrs...))
	}
	p("ttpmap rules: %d usable detection rules, %d correlations, %d skipped, %d load errors (%s)", st.Rules, st.Correlations, len(skipped), len(ruleErrs), time.Since(t0).Round(time.Millisecond))

	// sigma-go.
	t0 = time.Now()
	peerRules, failed, err := loadPeer(cfg.rulesDir, sigma.DefaultMapping())
	if err != nil {
		return err
	}
	var chs []string
	for ch := range channels {
		chs = append(chs, ch)
	}
	sort.Strings(chs)
	peer := newPeerEngine(peerRules, chs)
	p("sigma-go rules: %d loaded, %d failed to load (%s)", len(peerRules), len(failed), time.Since(t0).Round(time.Millisecond))
	printFailures(out, failed, cfg.listFailed)

	// ttpmap timing: all events, several passes.
	index := make(map[*event.Event]int, len(events))
	for i, ev := range events {
		index[ev] = i
	}
	ttpPairs := map[pair]bool{}
	collect := func(_ context.Context, m detect.Match) error {
		if m.Correlation {
			return nil
		}
		ttpPairs[pair{index[m.Event], ruleID(m.Rule)}] = true
		return nil
	}
	for _, ev := range events { // warm-up pass that also records the matches
		if err := eng.Process(ctx, ev, collect); err != nil {
			return fmt.Errorf("ttpmap: %w", err)
		}
	}
	ttpOne, ttpOneMatches, ttpOnePasses, err := timeTTP(ctx, cfg, func(count *atomic.Int64) error {
		emit := func(context.Context, detect.Match) error { count.Add(1); return nil }
		for _, ev := range events {
			if err := eng.Process(ctx, ev, emit); err != nil {
				return err
			}
		}
		return nil
	}, len(events))
	if err != nil {
		return fmt.Errorf("ttpmap single core: %w", err)
	}
	ttpAll, ttpAllMatches, ttpAllPasses, err := timeTTP(ctx, cfg, func(count *atomic.Int64) error {
		return runPool(ctx, eng, events, count)
	}, len(events))
	if err != nil {
		return fmt.Errorf("ttpmap all cores: %w", err)
	}
	p("ttpmap matches: %d per pass over all %d events (%d (event, rule) pairs)", ttpOneMatches, len(events), len(ttpPairs))
	p("ttpmap 1 core:  %10.0f events/s (%d passes)", ttpOne, ttpOnePasses)
	p("ttpmap %d cores: %10.0f events/s (%d passes, worker pool)", cfg.workers, ttpAll, ttpAllPasses)
	if ttpAllMatches != ttpOneMatches {
		p("warning: ttpmap match counts differ between modes: %d vs %d", ttpOneMatches, ttpAllMatches)
	}

	// sigma-go timing on a deterministic random order, within a budget.
	order := rand.New(rand.NewPCG(1, 2)).Perm(len(events))
	peerPairs := map[pair]bool{}
	var pmu sync.Mutex
	one := timePeer(ctx, peer, events, maps, order, 1, cfg.peerTime, func(i int, r *peerRule) {
		pmu.Lock()
		peerPairs[pair{i, r.id}] = true
		pmu.Unlock()
	})
	allc := timePeer(ctx, peer, events, maps, order, cfg.workers, cfg.peerTime, nil)
	p("sigma-go 1 core:  %10.1f events/s (%d of %d events in %s, %d evaluation errors)", one.rate(), one.events, len(events), one.elapsed.Round(time.Millisecond), one.errs)
	p("sigma-go %d cores: %10.1f events/s (%d events in %s, one goroutine per core, %d evaluation errors)", cfg.workers, allc.rate(), allc.events, allc.elapsed.Round(time.Millisecond), allc.errs)

	printMatchErrors(out, peerRules)

	// ttpmap on exactly the events sigma-go did on one core, as a check
	// that the sample is not cheaper or dearer than the whole set.
	sampled := make([]*event.Event, 0, one.events)
	for _, i := range order[:one.events] {
		sampled = append(sampled, events[i])
	}
	sampleCfg := cfg
	sampleCfg.minTime = min(cfg.minTime, time.Second)
	ttpSample, _, _, err := timeTTP(ctx, sampleCfg, func(count *atomic.Int64) error {
		emit := func(context.Context, detect.Match) error { count.Add(1); return nil }
		for _, ev := range sampled {
			if err := eng.Process(ctx, ev, emit); err != nil {
				return err
			}
		}
		return nil
	}, len(sampled))
	if err != nil {
		return fmt.Errorf("ttpmap on the sample: %w", err)
	}
	p("ttpmap 1 core on sigma-go's %d-event sample: %.0f events/s (%.1fx sigma-go on the same events)", len(sampled), ttpSample, ttpSample/one.rate())

	// Agreement on the sample sigma-go evaluated on one core.
	sample := map[int]bool{}
	for _, i := range order[:one.events] {
		sample[i] = true
	}
	peerIDs := map[string]bool{}
	for _, r := range peerRules {
		peerIDs[r.id] = true
	}
	reportAgreement(out, cfg.examples, events, sample, ttpPairs, peerPairs, peerIDs)

	p("speed-up over sigma-go, 1 core: %.1fx", ttpOne/one.rate())
	p("ratio: %.1f", ttpAll/allc.rate())
	return nil
}

// loadEvents reads up to max events from path with every ttpmap format.
func loadEvents(ctx context.Context, path string, max int) ([]*event.Event, int, error) {
	var events []*event.Event
	recErrs := 0
	errFull := errors.New("full")
	var openErrs []error
	w := source.Walker{Formats: all.Formats(), OnError: func(err error) { openErrs = append(openErrs, err) }}
	err := w.Walk(ctx, []string{path}, func(in source.Input) error {
		for {
			if len(events) >= max {
				return errFull
			}
			ev, err := in.Reader.Read()
			if err == io.EOF {
				return nil
			}
			var re *source.RecordError
			if errors.As(err, &re) {
				recErrs++
				continue
			}
			if err != nil {
				openErrs = append(openErrs, err)
				return nil
			}
			events = append(events, ev)
		}
	})
	if err != nil && !errors.Is(err, errFull) {
		return nil, 0, fmt.Errorf("read events: %w", err)
	}
	if len(events) == 0 && len(openErrs) > 0 {
		return nil, 0, fmt.Errorf("read events: %w", errors.Join(openErrs...))
	}
	return events, recErrs, nil
}

// timeTTP runs pass until minTime has passed (or maxPasses) and returns
// events/s, matches per pass and the number of passes.
func timeTTP(ctx context.Context, cfg config, pass func(*atomic.Int64) error, n int) (float64, int64, int, error) {
	var count atomic.Int64
	runtime.GC()
	start := time.Now()
	passes := 0
	for passes < cfg.maxPasses && (passes == 0 || time.Since(start) < cfg.minTime) {
		if err := pass(&count); err != nil {
			return 0, 0, 0, err
		}
		passes++
	}
	el := time.Since(start)
	return float64(passes*n) / el.Seconds(), count.Load() / int64(passes), passes, nil
}

// runPool feeds events to the engine's worker pool in batches of 256, as
// the pipeline does.
func runPool(ctx context.Context, eng *detect.Engine, events []*event.Event, count *atomic.Int64) error {
	in := make(chan []*event.Event, 4)
	go func() {
		defer close(in)
		for i := 0; i < len(events); i += 256 {
			in <- events[i:min(i+256, len(events))]
		}
	}()
	err := eng.Run(ctx, in, func(context.Context, detect.Match) error { count.Add(1); return nil })
	for range in { // drain if Run stopped early
	}
	return err
}

// peerRun is the outcome of one sigma-go timing.
type peerRun struct {
	events  int
	errs    int
	elapsed time.Duration
}

func (r peerRun) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.events) / r.elapsed.Seconds()
}

// timePeer evaluates events in the given order on workers goroutines, each
// over a disjoint slice (worker w takes positions w, w+workers, …), until
// every event is done or the budget is spent. With one worker the events
// done are exactly order[:events].
func timePeer(ctx context.Context, pe *peerEngine, events []*event.Event, maps []map[string]interface{}, order []int, workers int, budget time.Duration, hit func(int, *peerRule)) peerRun {
	runtime.GC()
	start := time.Now()
	deadline := start.Add(budget)
	var done, errs atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pos := w; pos < len(order); pos += workers {
				if time.Now().After(deadline) {
					return
				}
				i := order[pos]
				var h func(*peerRule)
				if hit != nil {
					h = func(r *peerRule) { hit(i, r) }
				}
				errs.Add(int64(pe.match(ctx, events[i].Channel, maps[i], h)))
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return peerRun{events: int(done.Load()), errs: int(errs.Load()), elapsed: time.Since(start)}
}

func ruleID(r *sigma.Rule) string {
	if r.ID != "" {
		return r.ID
	}
	return r.File
}

func printFailures(out io.Writer, failed []peerFailure, limit int) {
	if len(failed) == 0 {
		return
	}
	reasons := map[string]int{}
	for _, f := range failed {
		reasons[reasonKind(f.reason)]++
	}
	var keys []string
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return reasons[keys[i]] > reasons[keys[j]] || reasons[keys[i]] == reasons[keys[j]] && keys[i] < keys[j]
	})
	fmt.Fprintln(out, "sigma-go load failures by reason:")
	for _, k := range keys {
		fmt.Fprintf(out, "  %5d  %s\n", reasons[k], k)
	}
	fmt.Fprintln(out, "sigma-go failed to load:")
	for i, f := range failed {
		if i == limit {
			fmt.Fprintf(out, "  … and %d more\n", len(failed)-limit)
			break
		}
		fmt.Fprintf(out, "  %s: %s\n", f.file, f.reason)
	}
}

// printMatchErrors lists the sigma-go rules that returned errors while
// matching (such an evaluation counts as no match).
func printMatchErrors(out io.Writer, rules []*peerRule) {
	var bad []*peerRule
	for _, r := range rules {
		if r.errCount.Load() > 0 {
			bad = append(bad, r)
		}
	}
	if len(bad) == 0 {
		return
	}
	fmt.Fprintf(out, "sigma-go rules with evaluation errors while matching (counted as no match): %d\n", len(bad))
	for _, r := range bad {
		fmt.Fprintf(out, "  %s: %d× %s\n", r.file, r.errCount.Load(), r.firstErr)
	}
}

// reasonKind shortens a failure reason to its kind, for the tally: the
// search name and positions are dropped.
func reasonKind(s string) string {
	s = strings.TrimPrefix(s, "evaluate: ")
	if strings.HasPrefix(s, "error evaluating search ") {
		if i := strings.Index(s, ": "); i >= 0 {
			s = s[i+2:]
		}
	}
	switch {
	case strings.HasPrefix(s, "expected scalar field matching value got: <nil>"):
		return "null value (Field: null) unsupported"
	case strings.HasPrefix(s, "can't expand %"):
		return "%placeholder% in a value (no expander configured)"
	case strings.HasPrefix(s, "parse: "):
		rest := strings.TrimPrefix(s, "parse: ")
		if i := strings.Index(rest, ": "); i >= 0 && strings.Count(rest[:i], ":") == 1 {
			rest = rest[i+2:] // drop line:col
		}
		return "parse: " + rest
	}
	return s
}

// reportAgreement compares the (event, rule) pairs of both engines on the
// events sigma-go evaluated.
func reportAgreement(out io.Writer, examples int, events []*event.Event, sample map[int]bool, ttp, peer map[pair]bool, peerIDs map[string]bool) {
	var onlyTTP, onlyPeer, both, ttpN, ttpLoaded []pair
	for k := range ttp {
		if !sample[k.event] {
			continue
		}
		ttpN = append(ttpN, k)
		if !peerIDs[k.rule] {
			continue
		}
		ttpLoaded = append(ttpLoaded, k)
		if peer[k] {
			both = append(both, k)
		} else {
			onlyTTP = append(onlyTTP, k)
		}
	}
	for k := range peer {
		if !ttp[k] {
			onlyPeer = append(onlyPeer, k)
		}
	}
	fmt.Fprintf(out, "matches on the %d sampled events: ttpmap %d (%d on rules sigma-go loaded), sigma-go %d\n", len(sample), len(ttpN), len(ttpLoaded), len(peer))
	fmt.Fprintf(out, "disagreements (on rules both loaded): %d pairs: %d only ttpmap, %d only sigma-go; %d agree\n", len(onlyTTP)+len(onlyPeer), len(onlyTTP), len(onlyPeer), len(both))
	show := func(label string, ps []pair) {
		if len(ps) == 0 {
			return
		}
		byRule := map[string]int{}
		for _, p := range ps {
			byRule[p.rule]++
		}
		var ids []string
		for id := range byRule {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool {
			return byRule[ids[i]] > byRule[ids[j]] || byRule[ids[i]] == byRule[ids[j]] && ids[i] < ids[j]
		})
		sort.Slice(ps, func(i, j int) bool {
			return ps[i].event < ps[j].event || ps[i].event == ps[j].event && ps[i].rule < ps[j].rule
		})
		fmt.Fprintf(out, "  %s: %d rules; top rules:", label, len(ids))
		for _, id := range ids[:min(5, len(ids))] {
			fmt.Fprintf(out, " %s×%d", id, byRule[id])
		}
		fmt.Fprintln(out)
		for _, p := range ps[:min(examples, len(ps))] {
			ev := events[p.event]
			fmt.Fprintf(out, "    event %d (%s record %d, %s %d) rule %s\n", p.event, ev.File, ev.RecordID, ev.Channel, ev.EventID, p.rule)
		}
	}
	show("only ttpmap", onlyTTP)
	show("only sigma-go", onlyPeer)
}
