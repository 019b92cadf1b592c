// Package detect runs compiled Sigma rules over a stream of events. Rules are
// indexed by channel and event ID so each event meets only the rules that can
// match it, and a literal prefilter (one Aho-Corasick pass per field) skips
// the rules whose required strings the event lacks; a worker pool matches
// batches on every core while output keeps input order; correlation rules
// (event_count, value_count, temporal) keep bounded per-group windows on
// top of the plain matches.
package detect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/sigma"
)

// Match is one rule hit. For a correlation, Events holds a bounded sample of
// the events that contributed (the first of them first) and Event is the one
// that completed it.
type Match struct {
	Rule        *sigma.Rule
	Event       *event.Event
	Events      []*event.Event
	Correlation bool
	Count       int               // correlation: the counted value
	Group       map[string]string // correlation: the group-by values
}

// Emit receives matches in input order. An error stops the run.
type Emit func(ctx context.Context, m Match) error

// Options tunes an Engine. The zero value is usable.
type Options struct {
	Mapping *sigma.Mapping // nil: sigma.DefaultMapping()
	Regexes *sigma.RegexCache
	// Placeholders gives the values of %name% placeholders used with the
	// |expand modifier; a rule using one without values is skipped.
	Placeholders map[string][]string
	MinLevel     string // matches of rules below this level are not emitted (they still feed correlations)
	Workers      int    // 0: runtime.GOMAXPROCS
	// MaxGroups caps the live correlation groups per correlation rule;
	// past it the oldest group is dropped and counted in Stats.
	MaxGroups int
	Logger    *slog.Logger
}

// SkippedRule is a rule that could not be used, with the reason.
type SkippedRule struct {
	Rule   *sigma.Rule
	Reason error
}

// Stats counts what an engine did.
type Stats struct {
	Rules            int // usable detection rules
	Correlations     int // usable correlation rules
	Skipped          int
	Events           uint64
	Matches          uint64
	CorrelationDrops uint64 // groups evicted because MaxGroups was reached
}

// Engine holds compiled, indexed rules. Process and Run are not safe to call
// concurrently with each other (correlation state is ordered); Reload is
// safe to call at any time.
type Engine struct {
	opts     Options
	minLevel int
	state    atomic.Pointer[ruleState]
	// delivered is the state the ordered stage last delivered with; it is
	// touched only by that stage (Run's collector or Process's caller).
	delivered *ruleState
	events    atomic.Uint64
	matches   atomic.Uint64
	drops     atomic.Uint64 // correlation groups evicted, over all states
	scratch   sync.Pool     // *scratch for Process
}

// ruleState is one compiled rule set. Reload swaps it whole, so a batch is
// matched and delivered with one consistent set.
type ruleState struct {
	index index
	corr  *correlator
	// emitBase says whether a detection rule's own matches are output; it is
	// false for rules only referenced by correlations without generate.
	emitBase map[*sigma.Rule]bool
	stats    Stats // rule counts
}

// Level order used for --min-level.
var levels = map[string]int{"informational": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}

// LevelRank returns the order of a Sigma level (informational=1 … critical=5)
// and whether it is known.
func LevelRank(level string) (int, bool) {
	r, ok := levels[strings.ToLower(level)]
	return r, ok
}

// New compiles rules and builds the index. Rules that cannot be used are
// returned with the reason; the engine works with the rest.
func New(rules []*sigma.Rule, opts Options) (*Engine, []SkippedRule, error) {
	if opts.Mapping == nil {
		opts.Mapping = sigma.DefaultMapping()
	}
	if opts.Regexes == nil {
		opts.Regexes = sigma.NewRegexCache()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.MaxGroups <= 0 {
		opts.MaxGroups = 100_000
	}
	e := &Engine{opts: opts}
	if opts.MinLevel != "" {
		r, ok := LevelRank(opts.MinLevel)
		if !ok {
			return nil, nil, fmt.Errorf("unknown level %q (want informational, low, medium, high or critical)", opts.MinLevel)
		}
		e.minLevel = r
	}
	st, skipped, err := e.compile(rules)
	if err != nil {
		return nil, nil, err
	}
	e.state.Store(st)
	e.delivered = st
	return e, skipped, nil
}

// Reload compiles a new rule set and swaps it in. Events already handed to
// Run finish with the old set; later ones meet the new one, so no event is
// dropped or matched twice. Open correlation windows of the old set are
// decided (as at the end of a stream) when the first event meets the new
// set. On error the old set stays.
func (e *Engine) Reload(rules []*sigma.Rule) ([]SkippedRule, error) {
	st, skipped, err := e.compile(rules)
	if err != nil {
		return nil, err
	}
	e.state.Store(st)
	return skipped, nil
}

func (e *Engine) compile(rules []*sigma.Rule) (*ruleState, []SkippedRule, error) {
	opts := e.opts
	st := &ruleState{index: newIndex(), emitBase: map[*sigma.Rule]bool{}}
	var skipped []SkippedRule
	var detections, correlations, filters []*sigma.Rule
	for _, r := range rules {
		switch {
		case r.Correlation != nil:
			correlations = append(correlations, r)
		case r.Filter != nil:
			filters = append(filters, r)
		default:
			detections = append(detections, r)
		}
	}
	if len(filters) > 0 {
		var err error
		// The result is complete even with an error, which names filters
		// that matched no rule.
		detections, err = sigma.ApplyFilters(detections, filters)
		if err != nil {
			opts.Logger.Warn("meta filters", "err", err)
		}
	}
	for _, r := range detections {
		targets, known := opts.Mapping.Targets(r.Logsource)
		if !known {
			skipped = append(skipped, SkippedRule{r, fmt.Errorf("log source %s is not mapped to any channel", describeLogsource(r.Logsource))})
			continue
		}
		var errs []error
		n := 0
		for _, t := range targets {
			m, err := sigma.Compile(r, t, sigma.Options{Regexes: opts.Regexes, Placeholders: opts.Placeholders})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			st.index.add(t, m)
			n++
		}
		if n == 0 {
			if len(errs) == 0 {
				errs = append(errs, errors.New("no target"))
			}
			skipped = append(skipped, SkippedRule{r, errs[0]})
			continue
		}
		st.emitBase[r] = true
		st.stats.Rules++
	}
	if err := st.index.build(); err != nil {
		return nil, nil, fmt.Errorf("build rule index: %w", err)
	}
	corr, cskipped := newCorrelator(correlations, detections, st.emitBase, opts.MaxGroups, &e.drops)
	skipped = append(skipped, cskipped...)
	st.corr = corr
	st.stats.Correlations = len(corr.rules)
	st.stats.Skipped = len(skipped)
	return st, skipped, nil
}

func describeLogsource(ls sigma.Logsource) string {
	var parts []string
	for _, p := range [][2]string{{"product", ls.Product}, {"category", ls.Category}, {"service", ls.Service}} {
		if p[1] != "" {
			parts = append(parts, p[0]+"="+p[1])
		}
	}
	if len(parts) == 0 {
		return "(empty)"
	}
	return strings.Join(parts, " ")
}

// Stats returns the counters so far. It may be called while Run runs.
func (e *Engine) Stats() Stats {
	s := e.state.Load().stats
	s.Events = e.events.Load()
	s.Matches = e.matches.Load()
	s.CorrelationDrops = e.drops.Load()
	return s
}

// hit is one plain rule match of one event, before ordering.
type hit struct {
	ev   *event.Event
	rule *sigma.Rule
}

// matchEvent appends the rules that match ev to dst. It is safe for
// concurrent use with distinct scratch values. A rule with several targets
// (Sysmon 1 and Security 4688) can match at most once per event.
func (st *ruleState) matchEvent(ev *event.Event, dst []hit, sc *scratch) []hit {
	start := len(dst)
	for _, g := range st.index.lists(ev) {
		if g != nil {
			dst = g.match(ev, sc, dst, start)
		}
	}
	return dst
}

// Process matches one event and emits its matches, including correlations
// it completes. It is the single-threaded path (the API, tests).
func (e *Engine) Process(ctx context.Context, ev *event.Event, emit Emit) error {
	sc, _ := e.scratch.Get().(*scratch)
	if sc == nil {
		sc = &scratch{}
	}
	st := e.state.Load()
	hits := st.matchEvent(ev, nil, sc)
	e.scratch.Put(sc)
	e.events.Add(1)
	return e.deliver(ctx, st, ev, hits, emit)
}

// deliver runs the ordered part of matching for one event: emitting plain
// hits and feeding correlations. st is the rule set the hits came from.
func (e *Engine) deliver(ctx context.Context, st *ruleState, ev *event.Event, hits []hit, emit Emit) error {
	if st != e.delivered {
		// A reload happened: close the old set's windows first.
		if err := e.flushState(ctx, e.delivered, emit); err != nil {
			return err
		}
		e.delivered = st
	}
	for _, h := range hits {
		if st.emitBase[h.rule] && e.levelOK(h.rule) {
			e.matches.Add(1)
			if err := emit(ctx, Match{Rule: h.rule, Event: ev}); err != nil {
				return err
			}
		}
		for _, m := range st.corr.observe(h.rule, ev) {
			if !e.levelOK(m.Rule) {
				continue
			}
			e.matches.Add(1)
			if err := emit(ctx, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// Flush emits correlations whose windows end with the stream (those with
// lt/lte/eq/neq conditions are only decidable then). Call it once after the
// last event.
func (e *Engine) Flush(ctx context.Context, emit Emit) error {
	return e.flushState(ctx, e.delivered, emit)
}

func (e *Engine) flushState(ctx context.Context, st *ruleState, emit Emit) error {
	for _, m := range st.corr.flush() {
		if !e.levelOK(m.Rule) {
			continue
		}
		e.matches.Add(1)
		if err := emit(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) levelOK(r *sigma.Rule) bool {
	if e.minLevel == 0 {
		return true
	}
	rank, _ := LevelRank(r.Level)
	return rank >= e.minLevel
}

// Run matches batches from in on a worker pool and emits in input order.
// It returns when in is closed and drained (after Flush), or on the first
// error from emit, or when ctx ends.
func (e *Engine) Run(ctx context.Context, in <-chan []*event.Event, emit Emit) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		st     *ruleState
		events []*event.Event
		out    chan []hit
	}
	jobs := make(chan job, e.opts.Workers*2)
	ordered := make(chan job, e.opts.Workers*4)
	var wg sync.WaitGroup
	for i := 0; i < e.opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sc scratch
			for j := range jobs {
				var hits []hit
				for _, ev := range j.events {
					hits = j.st.matchEvent(ev, hits, &sc)
				}
				j.out <- hits
			}
		}()
	}
	go func() {
		defer close(ordered)
		defer close(jobs)
		for {
			select {
			case <-ctx.Done():
				return
			case batch, ok := <-in:
				if !ok {
					return
				}
				j := job{e.state.Load(), batch, make(chan []hit, 1)}
				select {
				case jobs <- j:
				case <-ctx.Done():
					return
				}
				select {
				case ordered <- j:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	var err error
	for j := range ordered {
		var hits []hit
		select {
		case hits = <-j.out:
		case <-ctx.Done():
		}
		if err != nil || ctx.Err() != nil {
			continue // drain so the producer can finish
		}
		e.events.Add(uint64(len(j.events)))
		// hits are grouped by event in input order; deliver per event so
		// correlations see events in order.
		for _, ev := range j.events {
			n := 0
			for n < len(hits) && hits[n].ev == ev {
				n++
			}
			if err = e.deliver(ctx, j.st, ev, hits[:n], emit); err != nil {
				cancel()
				break
			}
			hits = hits[n:]
		}
	}
	wg.Wait()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return e.Flush(ctx, emit)
}
