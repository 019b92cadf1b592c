package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ttpmap/ttpmap/finding"
)

// TestCancelledPutFailsAlone: among concurrent writers (see also
// TestConcurrentPut), a Put whose context is cancelled fails and stores
// nothing, and the Puts grouped with it are stored and queued.
func TestCancelledPutFailsAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t)
	const writers, each = 16, 40
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				f := mk(w*each + i)
				if err := s.Put(ctx, []*finding.Finding{f}, []string{"elastic", "splunk"}); err != nil {
					t.Error(err)
				}
				if i%10 == 0 {
					dead, cancel := context.WithCancel(ctx)
					cancel()
					if err := s.Put(dead, []*finding.Finding{mk(100000 + w*each + i)}, []string{"elastic"}); errors.Is(err, context.Canceled) {
						failed.Add(1)
					} else {
						t.Errorf("Put with a cancelled context = %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if n, err := s.Count(ctx); err != nil || n != writers*each {
		t.Fatalf("count = %d, %v; want %d", n, err, writers*each)
	}
	for _, e := range []string{"elastic", "splunk"} {
		if q, _, _, err := s.OutboxStats(ctx, e); err != nil || q != writers*each {
			t.Errorf("%s outbox = %d, %v; want %d", e, q, err, writers*each)
		}
	}
	if failed.Load() != writers*each/10 {
		t.Errorf("%d cancelled Puts failed", failed.Load())
	}
}

// TestGroupIsolatesAFailedRequest: when one request of a group fails in
// the database, the others are committed and only it reports the error.
func TestGroupIsolatesAFailedRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := open(t)
	if _, err := s.w.Exec(`CREATE TEMP TRIGGER poison BEFORE INSERT ON findings
		WHEN NEW.event_id = 'ev-00002' BEGIN SELECT RAISE(ABORT, 'poisoned'); END`); err != nil {
		t.Fatal(err)
	}
	var reqs []*putReq
	for i := range 4 {
		req, err := newPutReq(ctx, []*finding.Finding{mk(i)}, []string{"elastic"})
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	s.commitGroup(reqs)
	for i, r := range reqs {
		err := <-r.done
		if (err != nil) != (i == 2) {
			t.Errorf("request %d: %v", i, err)
		}
	}
	if n, _ := s.Count(ctx); n != 3 {
		t.Errorf("%d findings stored, want 3", n)
	}
}

// BenchmarkPutConcurrent: 8 writers each storing one finding per Put, as
// enrich requests do, under both sync modes. "grouped" is Put; "alone"
// commits each request in its own transaction (Put before group commit),
// the baseline.
func BenchmarkPutConcurrent(b *testing.B) {
	for _, sm := range []struct {
		name string
		mode Sync
	}{{"full", SyncFull}, {"normal", SyncNormal}} {
		for _, mode := range []string{"alone", "grouped"} {
			b.Run(sm.name+"/"+mode, func(b *testing.B) {
				s, err := OpenWith(filepath.Join(b.TempDir(), "ttpmap.db"), Options{Sync: sm.mode})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				var next atomic.Int64
				b.SetParallelism(4) // × GOMAXPROCS(2) = 8 writers
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						f := mk(int(next.Add(1)))
						var err error
						if mode == "grouped" {
							err = s.Put(context.Background(), []*finding.Finding{f}, []string{"elastic"})
						} else {
							err = s.putAlone(f, "elastic")
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// putAlone stores one finding in its own transaction, bypassing the group.
func (s *Store) putAlone(f *finding.Finding, exporter string) error {
	req, err := newPutReq(context.Background(), []*finding.Finding{f}, []string{exporter})
	if err != nil {
		return err
	}
	return s.putGroupTx([]*putReq{req})
}
