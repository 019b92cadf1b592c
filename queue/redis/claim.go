package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ttpmap/ttpmap/finding"
)

// Claim leases up to n findings queued for the exporter for the lease
// duration: first those whose lease ended unsettled (a dead worker's, or
// this one's), then new ones, oldest first. Delayed findings that are due
// are put back on the stream first. A queued entry whose finding does not
// decode is dead-lettered, not returned. Several entries of one event ID in
// a batch are returned once and settled together.
func (q *Queue) Claim(ctx context.Context, exporter string, n int, lease time.Duration) ([]*finding.Finding, error) {
	if n <= 0 {
		return nil, nil
	}
	if lease <= 0 {
		return nil, fmt.Errorf("claim %s: lease must be positive, got %s", exporter, lease)
	}
	if err := checkExporter(exporter); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	k := q.keys(exporter)
	for retried := false; ; retried = true {
		if err := q.ensureGroup(ctx, exporter, k); err != nil {
			return nil, fmt.Errorf("claim %s: %w", exporter, err)
		}
		fs, err := q.claim(ctx, exporter, k, n, lease)
		if isNoGroup(err) && !retried {
			// The stream was deleted (FLUSHDB?): create it and its group again.
			q.forgetGroup(exporter)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("claim %s: %w", exporter, err)
		}
		return fs, nil
	}
}

func (q *Queue) claim(ctx context.Context, exporter string, k keyset, n int, lease time.Duration) ([]*finding.Finding, error) {
	now := time.Now()
	q.prune(exporter, now)
	leaseMs := max(lease.Milliseconds(), 1)
	var msgs []goredis.XMessage
	for len(msgs) < n {
		want := min(n-len(msgs), chunk)
		res, err := scriptClaim.Run(ctx, q.rdb,
			[]string{k.stream, k.leases, k.delayed, k.payload, k.dead, k.deadIndex, k.attempts},
			k.group, q.cfg.Consumer, want, leaseMs).Slice()
		if err != nil && !errors.Is(err, goredis.Nil) {
			return nil, err
		}
		got, err := entries(res)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, got...)
		if len(got) < want {
			break
		}
	}
	if len(msgs) == 0 {
		return nil, nil
	}

	forget := now.Add(2 * lease)
	var fs []*finding.Finding
	seen := map[string]bool{}
	bad := map[string][]string{} // reason → entry ID, event ID pairs
	for _, m := range msgs {
		f, reason := decode(m)
		if reason != "" {
			ev, _ := m.Values["event_id"].(string)
			if ev == "" {
				ev = "entry:" + m.ID
			}
			bad[reason] = append(bad[reason], m.ID, ev)
			continue
		}
		q.hold(exporter, f.EventID, m.ID, forget)
		if !seen[f.EventID] {
			seen[f.EventID] = true
			fs = append(fs, f)
		}
	}
	for reason, pairs := range bad {
		// On failure the entries stay pending: they come back after the
		// lease and are dead-lettered then. The good findings are ours
		// already, so the error is not the caller's.
		_, _ = q.runPairs(ctx, scriptDead, []string{k.stream, k.dead, k.deadIndex, k.attempts, k.lastError, k.leases},
			[]any{k.group, q.cfg.Consumer, reason}, pairs)
	}
	return fs, nil
}

// entries converts scriptClaim's reply, {id, {field, value, …}} per entry.
func entries(res []any) ([]goredis.XMessage, error) {
	out := make([]goredis.XMessage, 0, len(res))
	for _, r := range res {
		e, ok := r.([]any)
		if !ok || len(e) != 2 {
			return nil, fmt.Errorf("unexpected claim reply %T", r)
		}
		id, ok := e[0].(string)
		kv, ok2 := e[1].([]any)
		if !ok || !ok2 || len(kv)%2 != 0 {
			return nil, fmt.Errorf("unexpected claim reply entry %v", e)
		}
		m := goredis.XMessage{ID: id, Values: make(map[string]any, len(kv)/2)}
		for i := 0; i < len(kv); i += 2 {
			if name, ok := kv[i].(string); ok {
				m.Values[name] = kv[i+1]
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// decode returns the finding of a stream entry, or why it is malformed.
func decode(m goredis.XMessage) (*finding.Finding, string) {
	raw, ok := m.Values["finding"].(string)
	if !ok {
		return nil, "malformed queued entry " + m.ID + ": no finding field"
	}
	var f finding.Finding
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		return nil, fmt.Sprintf("malformed queued finding (entry %s): %v", m.ID, err)
	}
	ev, _ := m.Values["event_id"].(string)
	switch {
	case f.EventID == "" && ev == "":
		return nil, "malformed queued finding (entry " + m.ID + "): no event ID"
	case f.EventID == "":
		f.EventID = ev
	case ev != "" && ev != f.EventID:
		return nil, fmt.Sprintf("malformed queued entry %s: event_id %q but finding %q", m.ID, ev, f.EventID)
	}
	return &f, ""
}

// Ack deletes delivered findings from the exporter's stream and records
// the time as its last success. IDs this Queue does not hold (never
// claimed here, or long expired) are skipped.
func (q *Queue) Ack(ctx context.Context, exporter string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := checkExporter(exporter); err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	k := q.keys(exporter)
	taken := q.take(exporter, ids)
	// With no pairs the script still records the success time.
	if _, err := q.runPairs(ctx, scriptAck, []string{k.stream, k.attempts, k.lastError, k.lastSuccess, k.leases}, []any{k.group}, entryPairs(taken)); err != nil {
		q.restore(exporter, taken)
		return fmt.Errorf("ack %s: %w", exporter, err)
	}
	return nil
}

// Retry releases findings whose delivery failed transiently: they move to
// the delayed set, their attempt count goes up, lastErr is kept, and Claim
// returns them again after the delay. Findings whose lease expired and
// that another consumer claimed meanwhile are left to it.
func (q *Queue) Retry(ctx context.Context, exporter string, ids []string, after time.Duration, lastErr string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := checkExporter(exporter); err != nil {
		return fmt.Errorf("retry: %w", err)
	}
	k := q.keys(exporter)
	taken := q.take(exporter, ids)
	pairs := entryPairs(taken)
	if len(pairs) == 0 {
		return nil
	}
	_, err := q.runPairs(ctx, scriptRetry, []string{k.stream, k.delayed, k.payload, k.attempts, k.lastError, k.leases},
		[]any{k.group, q.cfg.Consumer, max(after, 0).Milliseconds(), lastErr}, pairs)
	if err != nil {
		q.restore(exporter, taken)
		return fmt.Errorf("retry %s: %w", exporter, err)
	}
	return nil
}

// DeadLetter moves findings that will never be delivered from the
// exporter's stream to its dead letters, with the reason and the number of
// attempts including this last one. As with Retry, findings another
// consumer took over are left to it.
func (q *Queue) DeadLetter(ctx context.Context, exporter string, ids []string, reason string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := checkExporter(exporter); err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	k := q.keys(exporter)
	taken := q.take(exporter, ids)
	pairs := entryPairs(taken)
	if len(pairs) == 0 {
		return nil
	}
	_, err := q.runPairs(ctx, scriptDead, []string{k.stream, k.dead, k.deadIndex, k.attempts, k.lastError, k.leases},
		[]any{k.group, q.cfg.Consumer, reason}, pairs)
	if err != nil {
		q.restore(exporter, taken)
		return fmt.Errorf("dead-letter %s: %w", exporter, err)
	}
	return nil
}

// runPairs runs script with the fixed args followed by entry ID, event ID
// pairs, at most chunk pairs a call (once with no pairs when there are
// none), and sums the integer results.
func (q *Queue) runPairs(ctx context.Context, script *goredis.Script, keys []string, fixed []any, pairs []string) (int64, error) {
	var total int64
	for start := 0; start == 0 || start < len(pairs); start += 2 * chunk {
		end := min(start+2*chunk, len(pairs))
		args := make([]any, 0, len(fixed)+end-start)
		args = append(args, fixed...)
		for _, p := range pairs[start:end] {
			args = append(args, p)
		}
		n, err := script.Run(ctx, q.rdb, keys, args...).Int64()
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// hold records that this consumer holds entry id of event ev until forget,
// when the record is dropped if still there.
func (q *Queue) hold(exporter, ev, id string, forget time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := q.leases[exporter]
	if m == nil {
		m = map[string]*claimed{}
		q.leases[exporter] = m
	}
	c := m[ev]
	if c == nil {
		c = &claimed{entries: map[string]struct{}{}}
		m[ev] = c
	}
	c.entries[id] = struct{}{}
	if forget.After(c.forget) {
		c.forget = forget
	}
}

// prune drops the records of leases that expired long ago (their entries
// are another consumer's by now, or will be reclaimed by Claim), so the map
// holds only what is claimed.
func (q *Queue) prune(exporter string, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for ev, c := range q.leases[exporter] {
		if now.After(c.forget) {
			delete(q.leases[exporter], ev)
		}
	}
}

// take removes and returns the records of the given event IDs.
func (q *Queue) take(exporter string, ids []string) map[string]*claimed {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := q.leases[exporter]
	taken := map[string]*claimed{}
	for _, ev := range ids {
		if c, ok := m[ev]; ok {
			taken[ev] = c
			delete(m, ev)
		}
	}
	return taken
}

// restore puts back records taken for a call that failed, so it can be
// made again.
func (q *Queue) restore(exporter string, taken map[string]*claimed) {
	for ev, c := range taken {
		for id := range c.entries {
			q.hold(exporter, ev, id, c.forget)
		}
	}
}

// entryPairs flattens records into entry ID, event ID pairs, in entry
// order.
func entryPairs(taken map[string]*claimed) []string {
	type pair struct{ id, ev string }
	var ps []pair
	for ev, c := range taken {
		for id := range c.entries {
			ps = append(ps, pair{id, ev})
		}
	}
	sort.Slice(ps, func(i, j int) bool { return lessID(ps[i].id, ps[j].id) })
	out := make([]string, 0, 2*len(ps))
	for _, p := range ps {
		out = append(out, p.id, p.ev)
	}
	return out
}

// lessID orders stream entry IDs (ms-seq) numerically.
func lessID(a, b string) bool {
	am, as := splitID(a)
	bm, bs := splitID(b)
	if am != bm {
		return am < bm
	}
	return as < bs
}

func splitID(id string) (ms, seq uint64) {
	m, s, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(m, 10, 64)
	seq, _ = strconv.ParseUint(s, 10, 64)
	return ms, seq
}
