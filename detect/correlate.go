package detect

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/sigma"
)

// maxSample bounds the contributing events kept per correlation group as
// evidence; counting goes on past it.
const maxSample = 10

// maxPerGroup bounds the timestamps kept per group for conditions that can
// only be decided at the end of a window (lt, lte, eq, neq).
const maxPerGroup = 10_000

// correlator keeps the windows of correlation rules. It is driven in event
// order by one goroutine.
type correlator struct {
	rules     []*corrRule
	byBase    map[*sigma.Rule][]*corrRule
	maxGroups int
	drops     *atomic.Uint64 // shared with the engine, across reloads
}

type corrRule struct {
	rule   *sigma.Rule
	c      *sigma.Correlation
	bases  []*sigma.Rule // referenced rules, in the order the correlation lists them
	groups map[string]*group
}

type group struct {
	values  map[string]string // group-by values, for the match
	start   time.Time         // window start (fixed-window conditions)
	last    time.Time
	times   []time.Time          // event_count
	distinc map[string]time.Time // value_count: value → last seen
	seen    []time.Time          // temporal: last time per base rule (index as in bases)
	hit     []bool               // temporal: whether each base rule has matched
	order   []int                // temporal_ordered: base index sequence seen
	sample  []*event.Event
}

func newCorrelator(corrs, detections []*sigma.Rule, emitBase map[*sigma.Rule]bool, maxGroups int, drops *atomic.Uint64) (*correlator, []SkippedRule) {
	c := &correlator{byBase: map[*sigma.Rule][]*corrRule{}, maxGroups: maxGroups, drops: drops}
	byRef := map[string]*sigma.Rule{}
	for _, r := range detections {
		if !emitBase[r] {
			continue // not usable
		}
		if r.ID != "" {
			byRef[r.ID] = r
		}
		if r.Name != "" {
			byRef[r.Name] = r
		}
	}
	var skipped []SkippedRule
	generated := map[*sigma.Rule]bool{}
	referenced := map[*sigma.Rule]bool{}
	for _, r := range corrs {
		cr, err := newCorrRule(r, byRef)
		if err != nil {
			skipped = append(skipped, SkippedRule{r, err})
			continue
		}
		c.rules = append(c.rules, cr)
		for _, b := range cr.bases {
			if !containsRule(c.byBase[b], cr) {
				c.byBase[b] = append(c.byBase[b], cr)
			}
			referenced[b] = true
			if r.Correlation.Generate {
				generated[b] = true
			}
		}
	}
	// Sigma: rules referenced by a correlation are not output on their own
	// unless a correlation says generate: true.
	for b := range referenced {
		if !generated[b] {
			emitBase[b] = false
		}
	}
	return c, skipped
}

func containsRule(list []*corrRule, cr *corrRule) bool {
	for _, x := range list {
		if x == cr {
			return true
		}
	}
	return false
}

func newCorrRule(r *sigma.Rule, byRef map[string]*sigma.Rule) (*corrRule, error) {
	c := r.Correlation
	switch c.Type {
	case "event_count", "value_count", "temporal", "temporal_ordered":
	default:
		return nil, fmt.Errorf("correlation type %q is not supported", c.Type)
	}
	if c.Timespan <= 0 {
		return nil, fmt.Errorf("correlation needs a positive timespan")
	}
	if c.Type == "value_count" && c.Field == "" {
		return nil, fmt.Errorf("value_count needs condition.field")
	}
	cr := &corrRule{rule: r, c: c, groups: map[string]*group{}}
	for _, ref := range c.Rules {
		b, ok := byRef[ref]
		if !ok {
			return nil, fmt.Errorf("correlation references rule %q, which is not loaded (or is itself a correlation)", ref)
		}
		cr.bases = append(cr.bases, b)
	}
	if len(cr.bases) == 0 {
		return nil, fmt.Errorf("correlation references no rule")
	}
	return cr, nil
}

// field reads a group-by or value field for the base rule that matched,
// through the correlation's aliases.
func (cr *corrRule) field(name string, base *sigma.Rule, ev *event.Event) string {
	if perRule, ok := cr.c.Aliases[name]; ok {
		if f, ok := perRule[base.Name]; ok {
			name = f
		} else if f, ok := perRule[base.ID]; ok {
			name = f
		}
	}
	return ev.Fields[name]
}

func (cr *corrRule) baseIndex(b *sigma.Rule) int {
	for i, x := range cr.bases {
		if x == b {
			return i
		}
	}
	return -1
}

// observe feeds one base-rule match and returns completed correlations.
func (c *correlator) observe(base *sigma.Rule, ev *event.Event) []Match {
	var out []Match
	for _, cr := range c.byBase[base] {
		if m, ok := c.observeOne(cr, base, ev); ok {
			out = append(out, m)
		}
	}
	return out
}

func (c *correlator) observeOne(cr *corrRule, base *sigma.Rule, ev *event.Event) (Match, bool) {
	var key strings.Builder
	values := make(map[string]string, len(cr.c.GroupBy))
	for i, f := range cr.c.GroupBy {
		v := cr.field(f, base, ev)
		if i > 0 {
			key.WriteByte(0)
		}
		key.WriteString(v)
		values[f] = v
	}
	t := ev.Time
	g := cr.groups[key.String()]
	var out Match
	var emitted bool
	if g != nil && endDecided(cr.c) && !g.start.IsZero() && t.Sub(g.start) > cr.c.Timespan {
		// The fixed window closed: decide it, then start a new one.
		out, emitted = cr.decide(g)
		delete(cr.groups, key.String())
		g = nil
	}
	if g == nil {
		if len(cr.groups) >= c.maxGroups {
			c.evict(cr, t)
		}
		g = &group{values: values, start: t}
		if cr.c.Type == "temporal" || cr.c.Type == "temporal_ordered" {
			g.seen = make([]time.Time, len(cr.bases))
			g.hit = make([]bool, len(cr.bases))
		}
		cr.groups[key.String()] = g
	}
	g.last = t
	if len(g.sample) < maxSample {
		g.sample = append(g.sample, ev)
	}
	span := cr.c.Timespan
	switch cr.c.Type {
	case "event_count":
		if len(g.times) < maxPerGroup {
			g.times = append(g.times, t)
		}
		if !endDecided(cr.c) {
			g.times = pruneTimes(g.times, t, span)
		}
	case "value_count":
		if g.distinc == nil {
			g.distinc = map[string]time.Time{}
		}
		if v := cr.field(cr.c.Field, base, ev); v != "" && len(g.distinc) < maxPerGroup {
			g.distinc[v] = t
		}
		if !endDecided(cr.c) {
			for v, at := range g.distinc {
				if !near(at, t, span) {
					delete(g.distinc, v)
				}
			}
		}
	case "temporal", "temporal_ordered":
		i := cr.baseIndex(base)
		g.seen[i], g.hit[i] = t, true
		if cr.c.Type == "temporal_ordered" {
			g.order = append(g.order, i)
			if len(g.order) > maxPerGroup {
				g.order = g.order[len(g.order)-maxPerGroup:]
			}
		}
	}
	if emitted {
		return out, true
	}
	if endDecided(cr.c) {
		return Match{}, false
	}
	if m, ok := cr.decide(g); ok {
		delete(cr.groups, key.String()) // start afresh after a hit
		return m, true
	}
	return Match{}, false
}

// endDecided reports whether a condition can only be decided when a window
// ends (a count can still grow past "lt 5" until then).
func endDecided(c *sigma.Correlation) bool {
	for _, t := range c.Thresholds {
		switch t.Op {
		case "lt", "lte", "eq", "neq":
			return true
		}
	}
	return false
}

// pruneTimes keeps the times within span of now. Windows are measured both
// ways because logs are not always oldest first: Event Viewer exports
// newest first.
func pruneTimes(ts []time.Time, now time.Time, span time.Duration) []time.Time {
	out := ts[:0]
	for _, t := range ts {
		if near(t, now, span) {
			out = append(out, t)
		}
	}
	return out
}

func near(a, b time.Time, span time.Duration) bool {
	d := a.Sub(b)
	return d <= span && d >= -span
}

// decide evaluates a group's condition.
func (cr *corrRule) decide(g *group) (Match, bool) {
	var n int
	switch cr.c.Type {
	case "event_count":
		n = len(g.times)
	case "value_count":
		n = len(g.distinc)
	case "temporal":
		for _, h := range g.hit {
			if h {
				n++
			}
		}
		// All referenced rules must have matched within the timespan.
		if n < len(cr.bases) || !withinSpan(g.seen, cr.c.Timespan) {
			return Match{}, false
		}
	case "temporal_ordered":
		if !inOrder(g.order, len(cr.bases)) || !withinSpan(g.seen, cr.c.Timespan) {
			return Match{}, false
		}
		n = len(cr.bases)
	}
	if cr.c.Type == "event_count" || cr.c.Type == "value_count" {
		if !cr.c.Holds(float64(n)) {
			return Match{}, false
		}
	}
	return Match{
		Rule:        cr.rule,
		Event:       g.sample[len(g.sample)-1],
		Events:      g.sample,
		Correlation: true,
		Count:       n,
		Group:       g.values,
	}, true
}

func withinSpan(ts []time.Time, span time.Duration) bool {
	var lo, hi time.Time
	for i, t := range ts {
		if i == 0 || t.Before(lo) {
			lo = t
		}
		if i == 0 || t.After(hi) {
			hi = t
		}
	}
	return hi.Sub(lo) <= span
}

// inOrder reports whether seq contains 0, 1, …, n-1 as a subsequence.
func inOrder(seq []int, n int) bool {
	want := 0
	for _, i := range seq {
		if i == want {
			want++
			if want == n {
				return true
			}
		}
	}
	return false
}

// evict makes room for a new group: first the groups whose window has
// passed, else the least recently updated one, counted as a drop.
func (c *correlator) evict(cr *corrRule, now time.Time) {
	if !endDecided(cr.c) {
		for k, g := range cr.groups {
			if g.last.Before(now.Add(-cr.c.Timespan)) {
				delete(cr.groups, k)
			}
		}
		if len(cr.groups) < c.maxGroups {
			return
		}
	}
	var oldestKey string
	var oldest time.Time
	first := true
	for k, g := range cr.groups {
		if first || g.last.Before(oldest) {
			oldestKey, oldest, first = k, g.last, false
		}
	}
	delete(cr.groups, oldestKey)
	c.drops.Add(1)
}

// flush decides every open fixed window, in a stable order.
func (c *correlator) flush() []Match {
	var out []Match
	for _, cr := range c.rules {
		if !endDecided(cr.c) {
			continue
		}
		keys := make([]string, 0, len(cr.groups))
		for k := range cr.groups {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if m, ok := cr.decide(cr.groups[k]); ok {
				out = append(out, m)
			}
			delete(cr.groups, k)
		}
	}
	return out
}
