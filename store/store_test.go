package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/finding"
)

var base = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func open(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "ttpmap.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fakeClock lets tests move the store's time.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }
func withClock(s *Store) *fakeClock      { c := &fakeClock{t: base}; s.now = c.now; return c }

var severities = []string{"low", "medium", "high", "critical", "informational"}

// mk returns a finding whose fields all derive from i.
func mk(i int) *finding.Finding {
	tech := []string{fmt.Sprintf("T%d", 1000+i%7)}
	if i%5 == 0 {
		tech = append(tech, "T1059.001")
	}
	if i%11 == 0 {
		tech = nil
	}
	return &finding.Finding{
		EventID:      fmt.Sprintf("ev-%05d", i),
		Timestamp:    base.Add(time.Duration(i/3) * time.Second), // three findings per second: ties
		TechniqueIDs: tech,
		Tactics:      []string{"execution"},
		Severity:     severities[i%len(severities)],
		Host:         fmt.Sprintf("HOST-%d", i%4),
		User:         "alice",
		RuleID:       fmt.Sprintf("rule-%d", i%13),
		RuleTitle:    "test rule",
		Description:  fmt.Sprintf("finding %d", i),
		Metadata:     finding.Metadata{OriginalEvent: map[string]any{"n": float64(i)}},
	}
}

func ids(fs []*finding.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.EventID
	}
	return out
}

func TestOpenSchemaAndPragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	for round := range 3 { // later rounds: reopen, migrations are not re-applied
		s, wantSync := (*Store)(nil), "2" // FULL
		var err error
		if round < 2 {
			s, err = Open(path)
		} else {
			s, err = OpenWith(path, Options{Sync: SyncNormal})
			wantSync = "1"
		}
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.SchemaVersion(context.Background())
		if err != nil || v != len(migrations) {
			t.Fatalf("round %d: schema version %d, %v; want %d", round, v, err, len(migrations))
		}
		var n int
		if err := s.r.QueryRow(`SELECT COUNT(*) FROM schema_version`).Scan(&n); err != nil || n != len(migrations) {
			t.Fatalf("round %d: %d schema_version rows, %v", round, n, err)
		}
		for _, c := range []struct{ pragma, want string }{
			{"journal_mode", "wal"}, {"synchronous", wantSync}, {"busy_timeout", "5000"}, {"foreign_keys", "1"},
		} {
			var got string
			if err := s.w.QueryRow("PRAGMA " + c.pragma).Scan(&got); err != nil || got != c.want {
				t.Errorf("writer PRAGMA %s = %q, %v; want %q", c.pragma, got, err, c.want)
			}
			if err := s.r.QueryRow("PRAGMA " + c.pragma).Scan(&got); err != nil || got != c.want {
				t.Errorf("reader PRAGMA %s = %q, %v; want %q", c.pragma, got, err, c.want)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []string{"", "a?b.db"} {
		if _, err := Open(bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	for in, want := range map[string]Sync{"full": SyncFull, "": SyncFull, " Normal ": SyncNormal} {
		if got, err := ParseSync(in); err != nil || got != want {
			t.Errorf("ParseSync(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseSync("off"); err == nil {
		t.Error("ParseSync(off) succeeded")
	}
}

func TestPutIdempotent(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	exporters := []string{"elastic", "splunk"}
	fs := []*finding.Finding{mk(1), mk(2), mk(3)}
	if err := s.Put(ctx, fs, exporters); err != nil {
		t.Fatal(err)
	}
	// Re-post the same events, one changed, plus a duplicate inside the batch.
	changed := mk(2)
	changed.Description = "changed"
	if err := s.Put(ctx, []*finding.Finding{mk(1), changed, mk(3), mk(3)}, exporters); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count(ctx); err != nil || n != 3 {
		t.Fatalf("Count = %d, %v; want 3", n, err)
	}
	got, err := s.Get(ctx, "ev-00002")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, mk(2)) {
		t.Errorf("Get after re-post = %+v\nwant the first version %+v", got, mk(2))
	}
	for _, e := range exporters {
		if q, f, _, err := s.OutboxStats(ctx, e); err != nil || q != 3 || f != 0 {
			t.Errorf("%s: queued %d failed %d (%v); want 3, 0", e, q, f, err)
		}
	}
	// Once delivered, a re-post is not queued again.
	claimed, err := s.Claim(ctx, "elastic", 10, time.Minute)
	if err != nil || len(claimed) != 3 {
		t.Fatalf("Claim = %d, %v", len(claimed), err)
	}
	if err := s.Ack(ctx, "elastic", ids(claimed)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, fs, exporters); err != nil {
		t.Fatal(err)
	}
	if q, _, last, err := s.OutboxStats(ctx, "elastic"); err != nil || q != 0 || last.IsZero() {
		t.Errorf("elastic after ack and re-post: queued %d last %v (%v); want 0 and a time", q, last, err)
	}
}

func TestPutRejects(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for _, c := range []struct {
		name      string
		fs        []*finding.Finding
		exporters []string
	}{
		{"nil finding", []*finding.Finding{mk(1), nil}, nil},
		{"empty event id", []*finding.Finding{mk(1), {Severity: "high"}}, nil},
		{"empty exporter", []*finding.Finding{mk(1)}, []string{"elastic", ""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := s.Put(ctx, c.fs, c.exporters); err == nil {
				t.Fatal("Put succeeded")
			}
			if n, _ := s.Count(ctx); n != 0 {
				t.Fatalf("a rejected Put stored %d findings", n)
			}
		})
	}
	if err := s.Put(ctx, nil, []string{"elastic"}); err != nil {
		t.Errorf("empty Put: %v", err)
	}
}

func TestGetDelete(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if err := s.Put(ctx, []*finding.Finding{mk(1), mk(2)}, []string{"elastic"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeadLetter(ctx, "elastic", []string{"ev-00001"}, "400 mapping error"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "ev-00001"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "ev-00001"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get deleted: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "ev-00001"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete twice: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "ev-00002"); err != nil {
		t.Fatal(err)
	}
	// Outbox and dead-letter rows went with their findings.
	if q, f, _, err := s.OutboxStats(ctx, "elastic"); err != nil || q != 0 || f != 0 {
		t.Errorf("after delete: queued %d failed %d (%v); want 0, 0", q, f, err)
	}
}

func TestListPagination(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	const total = 1000
	all := make([]*finding.Finding, total)
	for i := range all {
		all[i] = mk(i)
	}
	// Insert in a scrambled order, in several batches: order must come from the keys.
	shuffled := slices.Clone(all)
	sort.Slice(shuffled, func(a, b int) bool { return (a*7919)%total < (b*7919)%total })
	for i := 0; i < total; i += 250 {
		if err := s.Put(ctx, shuffled[i:i+250], nil); err != nil {
			t.Fatal(err)
		}
	}
	has := func(f *finding.Finding, tech string) bool {
		for _, t := range f.TechniqueIDs {
			if strings.EqualFold(t, tech) || strings.HasPrefix(strings.ToUpper(t), strings.ToUpper(tech)+".") {
				return true
			}
		}
		return false
	}
	since := base.Add(200 * time.Second)
	for _, c := range []struct {
		name string
		q    Query
		keep func(*finding.Finding) bool
	}{
		{"all", Query{Limit: 37}, func(*finding.Finding) bool { return true }},
		{"all default limit", Query{}, func(*finding.Finding) bool { return true }},
		{"all newest first", Query{Limit: 64, Desc: true}, func(*finding.Finding) bool { return true }},
		{"technique", Query{Limit: 50, Technique: "t1003"}, func(f *finding.Finding) bool { return has(f, "T1003") }},
		{"parent technique matches sub-technique", Query{Limit: 50, Technique: "T1059"}, func(f *finding.Finding) bool { return has(f, "T1059") }},
		{"sub-technique", Query{Limit: 50, Technique: "T1059.001"}, func(f *finding.Finding) bool { return has(f, "T1059.001") }},
		{"severity", Query{Limit: 33, Severity: "HIGH"}, func(f *finding.Finding) bool { return f.Severity == "high" }},
		{"host", Query{Limit: 33, Host: "host-2"}, func(f *finding.Finding) bool { return f.Host == "HOST-2" }},
		{"since", Query{Limit: 100, Since: since}, func(f *finding.Finding) bool { return !f.Timestamp.Before(since) }},
		{"combined, newest first", Query{Limit: 7, Since: since, Technique: "T1002", Severity: "low", Host: "HOST-1", Desc: true},
			func(f *finding.Finding) bool {
				return !f.Timestamp.Before(since) && has(f, "T1002") && f.Severity == "low" && f.Host == "HOST-1"
			}},
		{"no match", Query{Technique: "T9999"}, func(*finding.Finding) bool { return false }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var want []string
			for _, f := range all { // all is in (timestamp, event_id) order
				if c.keep(f) {
					want = append(want, f.EventID)
				}
			}
			if c.q.Desc {
				slices.Reverse(want)
			}
			limit := c.q.Limit
			if limit == 0 {
				limit = DefaultLimit
			}
			var got []string
			q := c.q
			for pages := 0; ; pages++ {
				if pages > total {
					t.Fatal("pagination does not end")
				}
				fs, next, err := s.List(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(fs) > limit || (next != "" && len(fs) != limit) {
					t.Fatalf("page of %d with limit %d, next %q", len(fs), limit, next)
				}
				got = append(got, ids(fs)...)
				if next == "" {
					break
				}
				q.Cursor = next
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got %d findings, want %d\ngot  %v\nwant %v", len(got), len(want), head(got), head(want))
			}
			if len(want) == 0 && c.name != "no match" {
				t.Fatal("test filter matches nothing")
			}
		})
	}
	t.Run("limit capped", func(t *testing.T) {
		fs, next, err := s.List(ctx, Query{Limit: 5000})
		if err != nil || len(fs) != MaxLimit || next != "" {
			t.Fatalf("List(Limit 5000) = %d findings, next %q, %v; want %d, \"\"", len(fs), next, err, MaxLimit)
		}
		if !reflect.DeepEqual(fs[500], all[500]) {
			t.Errorf("stored finding differs:\n got %+v\nwant %+v", fs[500], all[500])
		}
	})
	t.Run("bad cursor", func(t *testing.T) {
		for _, cur := range []string{"!!", "bm90IGpzb24", encodeCursor(cursor{T: 1})} {
			if _, _, err := s.List(ctx, Query{Cursor: cur}); err == nil {
				t.Errorf("cursor %q accepted", cur)
			}
		}
	})
}

func head(s []string) []string { return s[:min(len(s), 10)] }

func TestOutboxFlow(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	clock := withClock(s)
	var fs []*finding.Finding
	for i := range 6 {
		fs = append(fs, mk(i))
	}
	if err := s.Put(ctx, fs[:3], []string{"elastic", "splunk"}); err != nil {
		t.Fatal(err)
	}
	clock.add(time.Second)
	if err := s.Put(ctx, fs[3:], []string{"elastic", "splunk"}); err != nil {
		t.Fatal(err)
	}
	claim := func(exporter string, n int, want ...string) {
		t.Helper()
		got, err := s.Claim(ctx, exporter, n, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("Claim(%s, %d) = %v, want %v", exporter, n, ids(got), want)
		}
	}
	stats := func(exporter string, queued, failed int) {
		t.Helper()
		q, f, _, err := s.OutboxStats(ctx, exporter)
		if err != nil || q != queued || f != failed {
			t.Fatalf("OutboxStats(%s) = %d queued, %d failed (%v); want %d, %d", exporter, q, f, err, queued, failed)
		}
	}

	claim("elastic", 2, "ev-00000", "ev-00001")                         // oldest first
	claim("elastic", 2, "ev-00002", "ev-00003")                         // leased rows are skipped
	claim("splunk", 1, "ev-00000")                                      // exporters are independent
	if err := s.Ack(ctx, "elastic", []string{"ev-00000"}); err != nil { // delivered
		t.Fatal(err)
	}
	if err := s.Retry(ctx, "elastic", []string{"ev-00001"}, time.Minute, "503 Service Unavailable"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeadLetter(ctx, "elastic", []string{"ev-00002"}, "400 mapper_parsing_exception"); err != nil {
		t.Fatal(err)
	}
	stats("elastic", 4, 1)
	stats("splunk", 6, 0)
	if _, _, last, _ := s.OutboxStats(ctx, "elastic"); !last.Equal(base.Add(time.Second)) {
		t.Errorf("elastic last success %v, want %v", last, base.Add(time.Second))
	}
	if _, _, last, _ := s.OutboxStats(ctx, "splunk"); !last.IsZero() {
		t.Errorf("splunk last success %v, want zero", last)
	}

	claim("elastic", 10, "ev-00004", "ev-00005") // ev-00003 still leased, ev-00001 waits for its retry
	clock.add(31 * time.Second)                  // leases expire; the retry is not due yet
	claim("elastic", 10, "ev-00003", "ev-00004", "ev-00005")
	clock.add(30 * time.Second) // retry due; the other leases expired again
	claim("elastic", 10, "ev-00001", "ev-00003", "ev-00004", "ev-00005")

	var attempts int
	var lastErr string
	if err := s.r.QueryRow(`SELECT attempts, last_error FROM outbox WHERE exporter = 'elastic' AND event_id = 'ev-00001'`).Scan(&attempts, &lastErr); err != nil {
		t.Fatal(err)
	}
	if attempts != 1 || lastErr != "503 Service Unavailable" {
		t.Errorf("retried row: attempts %d, last_error %q", attempts, lastErr)
	}
	dl, err := s.DeadLetters(ctx, "elastic", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 1 || dl[0].EventID != "ev-00002" || dl[0].Reason != "400 mapper_parsing_exception" || dl[0].Attempts != 1 {
		t.Errorf("dead letters = %+v", dl)
	}
	if err := s.Ack(ctx, "elastic", []string{"ev-00001", "ev-00003", "ev-00004", "ev-00005"}); err != nil {
		t.Fatal(err)
	}
	stats("elastic", 0, 1)
	claim("elastic", 10)
	// Redrive: the dead letter is queued again and claimable.
	if n, err := s.Redrive(ctx, "elastic", 0); err != nil || n != 1 {
		t.Fatalf("redrive = %d, %v", n, err)
	}
	stats("elastic", 1, 0)
	claim("elastic", 10, "ev-00002")
	if err := s.Ack(ctx, "elastic", []string{"ev-00002"}); err != nil {
		t.Fatal(err)
	}
	stats("elastic", 0, 0)
	if n, _ := s.Count(ctx); n != 6 {
		t.Errorf("Count = %d after export; findings must stay stored", n)
	}
	if _, err := s.Claim(ctx, "elastic", 1, 0); err == nil {
		t.Error("Claim with zero lease accepted")
	}
}

func TestConcurrentPut(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	const workers, puts, per = 8, 25, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range puts {
				var fs []*finding.Finding
				for i := range per {
					fs = append(fs, mk((w*puts+p)*per+i))
				}
				// Overlap: every put also re-posts a finding of worker 0.
				fs = append(fs, mk(p))
				if err := s.Put(ctx, fs, []string{"elastic"}); err != nil {
					errs <- err
					return
				}
				if _, _, err := s.List(ctx, Query{Limit: 10, Host: "HOST-1"}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const want = workers * puts * per
	if n, err := s.Count(ctx); err != nil || n != want {
		t.Fatalf("Count = %d, %v; want %d", n, err, want)
	}
	if q, _, _, err := s.OutboxStats(ctx, "elastic"); err != nil || q != want {
		t.Fatalf("queued %d, %v; want %d", q, err, want)
	}
}
