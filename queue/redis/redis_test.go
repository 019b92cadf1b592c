package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ttpmap/ttpmap/finding"
)

// startRedis runs a throwaway redis-server on a free local port for the
// test and returns its URL.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skipf("redis-server not installed: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	opts, _ := goredis.ParseURL(url)
	c := goredis.NewClient(opts)
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c.Ping(context.Background()).Err() == nil {
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on port %d did not start:\n%s", port, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newQueue(t *testing.T, url, consumer string) *Queue {
	t.Helper()
	q, err := New(context.Background(), url, Config{Consumer: consumer})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// rawClient talks to the test server directly, to look under the queue.
func rawClient(t *testing.T, url string) *goredis.Client {
	t.Helper()
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

func findings(from, to int) []*finding.Finding {
	var fs []*finding.Finding
	for i := from; i < to; i++ {
		fs = append(fs, &finding.Finding{
			EventID:      fmt.Sprintf("ev-%04d", i),
			Timestamp:    time.Date(2024, 5, 1, 10, 0, i%60, 0, time.UTC),
			TechniqueIDs: []string{"T1059.001"},
			RuleID:       "rule-1",
			Severity:     "high",
			Metadata:     finding.Metadata{OriginalEvent: map[string]any{"EventID": float64(4688), "n": float64(i)}},
		})
	}
	return fs
}

func eventIDs(fs []*finding.Finding) []string {
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.EventID)
	}
	return ids
}

type stats struct {
	queued, failed int
	last           time.Time
}

func getStats(t *testing.T, q *Queue, exporter string) stats {
	t.Helper()
	queued, failed, last, err := q.OutboxStats(context.Background(), exporter)
	if err != nil {
		t.Fatalf("OutboxStats: %v", err)
	}
	return stats{queued, failed, last}
}

func mustClaim(t *testing.T, q *Queue, exporter string, n int, lease time.Duration) []*finding.Finding {
	t.Helper()
	fs, err := q.Claim(context.Background(), exporter, n, lease)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return fs
}

func TestEnqueueClaimAck(t *testing.T) {
	url := startRedis(t)
	q := newQueue(t, url, "a")
	ctx := context.Background()
	want := findings(0, 3)
	if err := q.Enqueue(ctx, "elastic", want); err != nil {
		t.Fatal(err)
	}
	if s := getStats(t, q, "elastic"); s.queued != 3 || s.failed != 0 || !s.last.IsZero() {
		t.Fatalf("stats after enqueue = %+v, want 3 queued, none failed, no success", s)
	}
	got := mustClaim(t, q, "elastic", 10, time.Minute)
	if !slices.Equal(eventIDs(got), eventIDs(want)) {
		t.Fatalf("claimed %v, want %v in order", eventIDs(got), eventIDs(want))
	}
	// The JSON round trip keeps the finding.
	a, _ := json.Marshal(want[1])
	b, _ := json.Marshal(got[1])
	if string(a) != string(b) {
		t.Errorf("claimed finding\n%s\nwant\n%s", b, a)
	}
	if again := mustClaim(t, q, "elastic", 10, time.Minute); len(again) != 0 {
		t.Fatalf("leased findings claimed again: %v", eventIDs(again))
	}
	if s := getStats(t, q, "other"); s.queued != 0 {
		t.Errorf("other exporter sees %d queued", s.queued)
	}
	before := time.Now()
	if err := q.Ack(ctx, "elastic", eventIDs(got)); err != nil {
		t.Fatal(err)
	}
	s := getStats(t, q, "elastic")
	if s.queued != 0 || s.failed != 0 {
		t.Errorf("stats after ack = %+v, want empty", s)
	}
	if s.last.Before(before.Add(-time.Second)) || s.last.After(time.Now().Add(time.Second)) {
		t.Errorf("last success %v, want about %v", s.last, before)
	}
	if more := mustClaim(t, q, "elastic", 10, time.Millisecond); len(more) != 0 {
		t.Errorf("acked findings claimed again: %v", eventIDs(more))
	}
	if n, _ := rawClient(t, url).XLen(ctx, "ttpmap:outbox:elastic").Result(); n != 0 {
		t.Errorf("stream keeps %d acked entries", n)
	}
}

func TestTwoConsumersShareWork(t *testing.T) {
	url := startRedis(t)
	ctx := context.Background()
	const total = 1000
	if err := newQueue(t, url, "producer").Enqueue(ctx, "splunk", findings(0, total)); err != nil {
		t.Fatal(err)
	}
	qs := []*Queue{newQueue(t, url, "worker-a"), newQueue(t, url, "worker-b")}
	got := make([][]string, len(qs))
	errs := make([]error, len(qs))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, q := range qs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for {
				fs, err := q.Claim(ctx, "splunk", 20, time.Minute)
				if err != nil {
					errs[i] = err
					return
				}
				if len(fs) == 0 {
					return
				}
				got[i] = append(got[i], eventIDs(fs)...)
				if err := q.Ack(ctx, "splunk", eventIDs(fs)); err != nil {
					errs[i] = err
					return
				}
				time.Sleep(time.Millisecond) // let the other worker in
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
	}
	count := map[string]int{}
	for _, ids := range got {
		for _, id := range ids {
			count[id]++
		}
	}
	if len(count) != total {
		t.Errorf("%d distinct findings delivered, want %d", len(count), total)
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	if len(got[0]) == 0 || len(got[1]) == 0 {
		t.Errorf("work not shared: a got %d, b got %d", len(got[0]), len(got[1]))
	}
	t.Logf("a delivered %d, b delivered %d", len(got[0]), len(got[1]))
	if s := getStats(t, qs[0], "splunk"); s.queued != 0 || s.last.IsZero() {
		t.Errorf("stats after all acked = %+v", s)
	}
}

func TestLeaseExpiry(t *testing.T) {
	url := startRedis(t)
	ctx := context.Background()
	a, b := newQueue(t, url, "a"), newQueue(t, url, "b")
	if err := a.Enqueue(ctx, "stix", findings(0, 5)); err != nil {
		t.Fatal(err)
	}
	const lease = 300 * time.Millisecond
	held := mustClaim(t, a, "stix", 10, lease)
	if len(held) != 5 {
		t.Fatalf("a claimed %d, want 5", len(held))
	}
	// a "dies" holding them: b gets nothing until a's lease ends, even
	// with a shorter lease of its own.
	time.Sleep(lease / 2)
	if early := mustClaim(t, b, "stix", 10, lease/10); len(early) != 0 {
		t.Fatalf("b claimed %v while a's lease runs", eventIDs(early))
	}
	time.Sleep(lease/2 + 100*time.Millisecond)
	taken := mustClaim(t, b, "stix", 10, time.Minute)
	if !slices.Equal(eventIDs(taken), eventIDs(held)) {
		t.Fatalf("b took over %v, want %v", eventIDs(taken), eventIDs(held))
	}
	// a wakes up late: its retry of what b holds now changes nothing.
	if err := a.Retry(ctx, "stix", eventIDs(held), 0, "late"); err != nil {
		t.Fatal(err)
	}
	if s := getStats(t, b, "stix"); s.queued != 5 {
		t.Errorf("after a's late retry queued = %d, want 5", s.queued)
	}
	if n, _ := rawClient(t, url).ZCard(ctx, "ttpmap:outbox:stix:delayed").Result(); n != 0 {
		t.Errorf("a's late retry delayed %d findings b holds", n)
	}
	if err := b.Ack(ctx, "stix", eventIDs(taken)); err != nil {
		t.Fatal(err)
	}
	if s := getStats(t, b, "stix"); s.queued != 0 {
		t.Errorf("after b's ack queued = %d", s.queued)
	}
}

func TestOwnLeaseExpiryReclaims(t *testing.T) {
	url := startRedis(t)
	ctx := context.Background()
	q := newQueue(t, url, "a")
	if err := q.Enqueue(ctx, "x", findings(0, 2)); err != nil {
		t.Fatal(err)
	}
	first := mustClaim(t, q, "x", 10, 100*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	second := mustClaim(t, q, "x", 10, time.Minute)
	if !slices.Equal(eventIDs(first), eventIDs(second)) {
		t.Fatalf("reclaimed %v, want %v", eventIDs(second), eventIDs(first))
	}
	if err := q.Ack(ctx, "x", eventIDs(second)); err != nil {
		t.Fatal(err)
	}
	if s := getStats(t, q, "x"); s.queued != 0 {
		t.Errorf("queued %d after ack", s.queued)
	}
}

func TestRetryDelay(t *testing.T) {
	url := startRedis(t)
	ctx := context.Background()
	q := newQueue(t, url, "a")
	if err := q.Enqueue(ctx, "elastic", findings(0, 2)); err != nil {
		t.Fatal(err)
	}
	fs := mustClaim(t, q, "elastic", 10, time.Minute)
	const delay = 500 * time.Millisecond
	retried := time.Now()
	if err := q.Retry(ctx, "elastic", []string{fs[0].EventID}, delay, "503 busy"); err != nil {
		t.Fatal(err)
	}
	if s := getStats(t, q, "elastic"); s.queued != 2 {
		t.Errorf("queued = %d after retry, want 2 (one delayed, one leased)", s.queued)
	}
	raw := rawClient(t, url)
	if e, _ := raw.HGet(ctx, "ttpmap:outbox:elastic:last_error", fs[0].EventID).Result(); e != "503 busy" {
		t.Errorf("last error = %q", e)
	}
	var again []*finding.Finding
	for len(again) == 0 && time.Since(retried) < 5*time.Second {
		again = mustClaim(t, q, "elastic", 10, time.Minute)
		if len(again) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if waited := time.Since(retried); waited < delay {
		t.Errorf("retried finding due after %v, want ≥ %v", waited, delay)
	}
	if len(again) != 1 || again[0].EventID != fs[0].EventID || again[0].RuleID != "rule-1" {
		t.Fatalf("claimed after delay %v, want %s", eventIDs(again), fs[0].EventID)
	}
	// Retry again, then dead-letter: the attempts add up.
	if err := q.Retry(ctx, "elastic", eventIDs(again), 0, "503 again"); err != nil {
		t.Fatal(err)
	}
	third := mustClaim(t, q, "elastic", 10, time.Minute)
	if len(third) != 1 {
		t.Fatalf("claimed %v after a zero-delay retry", eventIDs(third))
	}
	if err := q.DeadLetter(ctx, "elastic", eventIDs(third), "400 mapping"); err != nil {
		t.Fatal(err)
	}
	dl, err := q.DeadLetters(ctx, "elastic", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 1 || dl[0].Attempts != 3 || dl[0].Reason != "400 mapping" {
		t.Fatalf("dead letters = %+v, want one with 3 attempts", dl)
	}
	if n, _ := raw.HLen(ctx, "ttpmap:outbox:elastic:attempts").Result(); n != 0 {
		t.Errorf("attempts hash keeps %d entries after dead letter", n)
	}
	if s := getStats(t, q, "elastic"); s.queued != 1 || s.failed != 1 {
		t.Errorf("stats = %+v, want 1 queued (leased), 1 failed", s)
	}
}

func TestDeadLetter(t *testing.T) {
	url := startRedis(t)
	ctx := context.Background()
	q := newQueue(t, url, "a")
	if err := q.Enqueue(ctx, "splunk", findings(0, 3)); err != nil {
		t.Fatal(err)
	}
	fs := mustClaim(t, q, "splunk", 10, time.Minute)
	before := time.Now()
	if err := q.DeadLetter(ctx, "splunk", []string{fs[1].EventID}, "400: bad field"); err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(ctx, "splunk", []string{fs[0].EventID, fs[2].EventID}); err != nil {
		t.Fatal(err)
	}
	if s := getStats(t, q, "splunk"); s.queued != 0 || s.failed != 1 || s.last.IsZero() {
		t.Errorf("stats = %+v, want 0 queued, 1 failed, a success", s)
	}
	dl, err := q.DeadLetters(ctx, "splunk", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 1 {
		t.Fatalf("dead letters = %+v", dl)
	}
	d := dl[0]
	if d.EventID != fs[1].EventID || d.Reason != "400: bad field" || d.Attempts != 1 || d.Entry == "" {
		t.Errorf("dead letter = %+v", d)
	}
	if d.FailedAt.Before(before.Add(-time.Second)) || d.FailedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("failed at %v, want about %v", d.FailedAt, before)
	}
	var f finding.Finding
	if err := json.Unmarshal([]byte(d.Finding), &f); err != nil || f.EventID != fs[1].EventID {
		t.Errorf("dead letter keeps finding %q (%v)", d.Finding, err)
	}
	if more := mustClaim(t, q, "splunk", 10, time.Millisecond); len(more) != 0 {
		t.Errorf("claimed %v after all settled", eventIDs(more))
	}
	// Redrive puts it back on the stream, claimable again.
	if n, err := q.Redrive(ctx, "splunk", 0); err != nil || n != 1 {
		t.Fatalf("redrive = %d, %v", n, err)
	}
	if s := getStats(t, q, "splunk"); s.queued != 1 || s.failed != 0 {
		t.Errorf("after redrive: %+v, want 1 queued, 0 failed", s)
	}
	if again := mustClaim(t, q, "splunk", 10, time.Minute); len(again) != 1 || again[0].EventID != fs[1].EventID {
		t.Errorf("claimed %v after redrive", eventIDs(again))
	}
}

func TestMalformedEntriesDeadLettered(t *testing.T) {
	url := startRedis(t)
	ctx := context.Background()
	q := newQueue(t, url, "a")
	good := findings(0, 1)
	// Create the group first, as a running server would have.
	if err := q.Enqueue(ctx, "elastic", good); err != nil {
		t.Fatal(err)
	}
	raw := rawClient(t, url)
	blob, _ := json.Marshal(findings(1, 2)[0])
	bad := []struct {
		values []any
		ev     string
		reason string
	}{
		{[]any{"event_id", "bad-json", "finding", "{not json"}, "bad-json", "malformed queued finding"},
		{[]any{"event_id", "no-finding", "other", "x"}, "no-finding", "no finding field"},
		{[]any{"finding", `{"rule_id":"r"}`}, "", "no event ID"},
		{[]any{"event_id", "mismatch", "finding", string(blob)}, "mismatch", "event_id \"mismatch\" but finding"},
	}
	for _, b := range bad {
		if err := raw.XAdd(ctx, &goredis.XAddArgs{Stream: "ttpmap:outbox:elastic", Values: b.values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Enqueue(ctx, "elastic", findings(2, 3)); err != nil {
		t.Fatal(err)
	}
	got := mustClaim(t, q, "elastic", 10, time.Minute)
	if ids := eventIDs(got); !slices.Equal(ids, []string{"ev-0000", "ev-0002"}) {
		t.Fatalf("claimed %v, want the two well-formed findings", ids)
	}
	s := getStats(t, q, "elastic")
	if s.queued != 2 || s.failed != len(bad) {
		t.Errorf("stats = %+v, want 2 queued (leased), %d failed", s, len(bad))
	}
	dl, err := q.DeadLetters(ctx, "elastic", 0)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]DeadLetter{}
	for _, d := range dl {
		byID[d.EventID] = d
	}
	for _, b := range bad {
		ev := b.ev
		if ev == "" {
			for id := range byID {
				if strings.HasPrefix(id, "entry:") {
					ev = id
				}
			}
		}
		d, ok := byID[ev]
		if !ok {
			t.Errorf("%v: not dead-lettered (have %v)", b.values, dl)
			continue
		}
		if !strings.Contains(d.Reason, b.reason) {
			t.Errorf("%s: reason %q, want it to mention %q", ev, d.Reason, b.reason)
		}
	}
	if d := byID["bad-json"]; d.Finding != "{not json" {
		t.Errorf("malformed payload kept as %q", d.Finding)
	}
}

func TestDuplicateEventsMerged(t *testing.T) {
	url := startRedis(t)
	ctx := context.Background()
	q := newQueue(t, url, "a")
	fs := findings(0, 1)
	for range 2 {
		if err := q.Enqueue(ctx, "x", fs); err != nil {
			t.Fatal(err)
		}
	}
	got := mustClaim(t, q, "x", 10, time.Minute)
	if len(got) != 1 {
		t.Fatalf("claimed %v, want the event once", eventIDs(got))
	}
	if err := q.Ack(ctx, "x", eventIDs(got)); err != nil {
		t.Fatal(err)
	}
	if s := getStats(t, q, "x"); s.queued != 0 {
		t.Errorf("queued = %d after acking the merged event", s.queued)
	}
}

func TestStatsSurviveRestart(t *testing.T) {
	url := startRedis(t)
	ctx := context.Background()
	q1, err := New(ctx, url, Config{Consumer: "first"})
	if err != nil {
		t.Fatal(err)
	}
	if err := q1.Enqueue(ctx, "elastic", findings(0, 4)); err != nil {
		t.Fatal(err)
	}
	fs := mustClaim(t, q1, "elastic", 4, 200*time.Millisecond)
	if err := q1.Ack(ctx, "elastic", []string{fs[0].EventID}); err != nil {
		t.Fatal(err)
	}
	if err := q1.DeadLetter(ctx, "elastic", []string{fs[1].EventID}, "rejected"); err != nil {
		t.Fatal(err)
	}
	if err := q1.Retry(ctx, "elastic", []string{fs[2].EventID}, time.Hour, "later"); err != nil {
		t.Fatal(err)
	}
	want := getStats(t, q1, "elastic")
	if want.queued != 2 || want.failed != 1 || want.last.IsZero() {
		t.Fatalf("stats before restart = %+v, want 2 queued (1 delayed, 1 leased), 1 failed", want)
	}
	if err := q1.Close(); err != nil {
		t.Fatal(err)
	}
	q2 := newQueue(t, url, "second")
	if got := getStats(t, q2, "elastic"); got != want {
		t.Errorf("stats after restart = %+v, want %+v", got, want)
	}
	// The finding the first instance still held comes back after its lease.
	time.Sleep(300 * time.Millisecond)
	got := mustClaim(t, q2, "elastic", 10, time.Minute)
	if ids := eventIDs(got); !slices.Equal(ids, []string{fs[3].EventID}) {
		t.Errorf("after restart claimed %v, want %s (the delayed one not due)", ids, fs[3].EventID)
	}
}

func TestConsumersLeaveAndReap(t *testing.T) {
	url := startRedis(t)
	ctx := context.Background()
	raw := rawClient(t, url)
	consumers := func() []string {
		t.Helper()
		cs, err := raw.XInfoConsumers(ctx, "ttpmap:outbox:x", "ttpmap-x").Result()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range cs {
			names = append(names, c.Name)
		}
		slices.Sort(names)
		return names
	}
	holder, err := New(ctx, url, Config{Consumer: "holder"})
	if err != nil {
		t.Fatal(err)
	}
	idle, err := New(ctx, url, Config{Consumer: "idle"})
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Enqueue(ctx, "x", findings(0, 2)); err != nil {
		t.Fatal(err)
	}
	if len(mustClaim(t, holder, "x", 1, time.Minute)) != 1 {
		t.Fatal("holder claimed nothing")
	}
	// A consumer joins the group when it first gets an entry.
	fs := mustClaim(t, idle, "x", 1, time.Minute)
	if len(fs) != 1 {
		t.Fatal("idle claimed nothing")
	}
	if err := idle.Ack(ctx, "x", eventIDs(fs)); err != nil {
		t.Fatal(err)
	}
	if got := consumers(); !slices.Equal(got, []string{"holder", "idle"}) {
		t.Fatalf("consumers = %v", got)
	}
	// Closing keeps a consumer that holds a finding (its entry stays
	// reclaimable) and removes one that holds nothing.
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	if got := consumers(); !slices.Equal(got, []string{"holder", "idle"}) {
		t.Fatalf("consumers after holder closed = %v", got)
	}
	// A crashed instance (no Close) holding nothing is reaped by a new one.
	_ = idle.rdb.Close()
	time.Sleep(20 * time.Millisecond)
	fresh, err := New(ctx, url, Config{Consumer: "fresh", ConsumerTTL: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if len(mustClaim(t, fresh, "x", 1, time.Minute)) != 0 {
		t.Fatal("fresh claimed the held finding before its lease ended")
	}
	// (fresh joins when it first gets an entry.)
	if got := consumers(); !slices.Equal(got, []string{"holder"}) {
		t.Fatalf("consumers after reap = %v, want only holder (who holds one)", got)
	}
}

func TestStreamDeletedRecreated(t *testing.T) {
	url := startRedis(t)
	ctx := context.Background()
	q := newQueue(t, url, "a")
	if err := q.Enqueue(ctx, "x", findings(0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := rawClient(t, url).FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// Enqueue recreates the stream without the group; Claim notices.
	if err := q.Enqueue(ctx, "x", findings(1, 2)); err != nil {
		t.Fatal(err)
	}
	got := mustClaim(t, q, "x", 10, time.Minute)
	if ids := eventIDs(got); !slices.Equal(ids, []string{"ev-0001"}) {
		t.Errorf("claimed %v after the flush, want ev-0001", ids)
	}
}

func TestValidation(t *testing.T) {
	url := startRedis(t)
	ctx := context.Background()
	q := newQueue(t, url, "a")
	if err := q.Ready(ctx); err != nil {
		t.Errorf("Ready: %v", err)
	}
	if fs, err := q.Claim(ctx, "x", 0, time.Minute); fs != nil || err != nil {
		t.Errorf("Claim n=0 = %v, %v", fs, err)
	}
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"zero lease", func() error { _, err := q.Claim(ctx, "x", 1, 0); return err }, "lease must be positive"},
		{"empty exporter", func() error { return q.Enqueue(ctx, "", findings(0, 1)) }, "empty exporter"},
		{"colon exporter", func() error { _, err := q.Claim(ctx, "x:dead", 1, time.Second); return err }, "must not contain"},
		{"stats colon", func() error { _, _, _, err := q.OutboxStats(ctx, "a:b"); return err }, "must not contain"},
		{"no event id", func() error { return q.Enqueue(ctx, "x", []*finding.Finding{{RuleID: "r"}}) }, "no event ID"},
		{"nil finding", func() error { return q.Enqueue(ctx, "x", []*finding.Finding{nil}) }, "no event ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	// Settling IDs that were never claimed here is a no-op.
	if err := q.Retry(ctx, "x", []string{"nope"}, time.Second, "e"); err != nil {
		t.Errorf("Retry unknown: %v", err)
	}
	if err := q.DeadLetter(ctx, "x", []string{"nope"}, "e"); err != nil {
		t.Errorf("DeadLetter unknown: %v", err)
	}
	if s := getStats(t, q, "x"); s.queued != 0 || s.failed != 0 {
		t.Errorf("stats = %+v after settling unknown IDs", s)
	}
}

func TestNewNeverShowsPassword(t *testing.T) {
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	tests := []struct {
		name, url, want string
	}{
		{"unreachable", fmt.Sprintf("redis://user:s3cret-pw@127.0.0.1:%d/0?dial_timeout=200ms&max_retries=-1", port), "ping"},
		{"bad scheme", "http://user:s3cret-pw@127.0.0.1/0", "invalid URL scheme"},
		{"bad db", "redis://:s3cret-pw@127.0.0.1:6379/notadb", "invalid database"},
		{"bad option", "redis://:s3cret-pw@127.0.0.1:6379/0?pool_size=s3cret-pw", "invalid pool_size"},
		{"unparseable", "redis://:s3cret-pw@127.0.0.1:port\x7f/0", "invalid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := New(context.Background(), tt.url, Config{})
			if err == nil {
				q.Close()
				t.Fatal("New succeeded")
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://:pw@h:1/2", "redis://:xxxxx@h:1/2"},
		{"rediss://u:pw@h:1", "rediss://u:xxxxx@h:1"},
		{"redis://u:p@w@h:1\x7f", "redis://xxxxx@h:1\x7f"},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	blob, _ := json.Marshal(findings(0, 1)[0])
	f.Add("ev-0000", string(blob))
	f.Add("", string(blob))
	f.Add("x", "{not json")
	f.Add("", `{"event_id":""}`)
	f.Fuzz(func(t *testing.T, ev, raw string) {
		got, reason := decode(goredis.XMessage{ID: "1-0", Values: map[string]any{"event_id": ev, "finding": raw}})
		if (got == nil) == (reason == "") {
			t.Fatalf("decode gave %v and reason %q", got, reason)
		}
		if got != nil && (got.EventID == "" || (ev != "" && got.EventID != ev)) {
			t.Fatalf("decoded event ID %q for field %q", got.EventID, ev)
		}
	})
}

func TestClaimMoreThanOneScriptCall(t *testing.T) {
	url := startRedis(t)
	ctx := context.Background()
	q := newQueue(t, url, "a")
	if err := q.Enqueue(ctx, "x", findings(0, 1200)); err != nil {
		t.Fatal(err)
	}
	first := mustClaim(t, q, "x", 1100, time.Minute)
	if len(first) != 1100 || first[0].EventID != "ev-0000" || first[1099].EventID != "ev-1099" {
		t.Fatalf("claimed %d, want ev-0000…ev-1099", len(first))
	}
	rest := mustClaim(t, q, "x", 500, time.Minute)
	if len(rest) != 100 || rest[0].EventID != "ev-1100" {
		t.Fatalf("then claimed %d, want the last 100", len(rest))
	}
	if err := q.Ack(ctx, "x", append(eventIDs(first), eventIDs(rest)...)); err != nil {
		t.Fatal(err)
	}
	if s := getStats(t, q, "x"); s.queued != 0 {
		t.Errorf("queued = %d after acking all", s.queued)
	}
	if n, _ := rawClient(t, url).ZCard(ctx, "ttpmap:outbox:x:leases").Result(); n != 0 {
		t.Errorf("%d lease records left after acking all", n)
	}
}
