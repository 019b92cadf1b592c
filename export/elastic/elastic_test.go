package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/export"
	"github.com/ttpmap/ttpmap/export/batch"
	"github.com/ttpmap/ttpmap/export/elastic/elastictest"
	"github.com/ttpmap/ttpmap/export/sinktest"
)

func newSink(t *testing.T, url string) *Sink {
	t.Helper()
	s, err := New(Config{URL: url, APIKey: elastictest.DefaultAPIKey}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSinkTable(t *testing.T) {
	t.Parallel()
	sinktest.Run(t, func(t *testing.T) *sinktest.Harness {
		es := elastictest.New(t)
		return &sinktest.Harness{Sink: newSink(t, es.URL), Faults: es.Faults, Stored: es.Stored, SplitsOnTooLarge: true}
	})
}

func TestPartialItemFailures(t *testing.T) {
	t.Parallel()
	es := elastictest.New(t, elastictest.WithItemStatus(func(id string) int {
		return map[string]int{"e-1": 429, "e-2": 400, "e-3": 503, "e-4": 409}[id]
	}))
	s := newSink(t, es.URL)
	fs := sinktest.Findings("e", 6)
	err := s.Send(context.Background(), fs)
	var retry *export.RetryableError
	var perm *export.PermanentError
	if !errorsAs(err, &retry) || !errorsAs(err, &perm) {
		t.Fatalf("err = %v, want retryable and permanent parts", err)
	}
	if got := idsOf(retry.Failed); got != "e-1,e-3" {
		t.Errorf("retry Failed = %s, want e-1,e-3", got)
	}
	if got := idsOf(perm.Failed); got != "e-2" {
		t.Errorf("permanent Failed = %s, want e-2", got)
	}
	if got := len(es.Stored()); got != 2 { // e-0, e-5; 409 (e-4) counts as success
		t.Errorf("stored %d, want 2", got)
	}
}

func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	cfg := ConfigFromEnv(func(k string) string {
		return map[string]string{"ELASTIC_URL": "ftp://x", "ELASTIC_API_KEY": "topsecretkey", "ELASTIC_USERNAME": "u", "ELASTIC_PASSWORD": "hunter2"}[k]
	})
	_, err := New(cfg, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	all := fmt.Sprintf("%v %+v %#v %s", err, cfg, cfg, logs.String())
	b, _ := json.Marshal(cfg)
	all += string(b)
	for _, secret := range []string{"topsecretkey", "hunter2"} {
		if strings.Contains(all, secret) {
			t.Errorf("secret %q leaked: %s", secret, all)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings, all required
	}{
		{"ok api key", Config{URL: "https://es:9200", APIKey: "k", Index: "x", Timeout: time.Second}, nil},
		{"ok basic", Config{URL: "http://es", Username: "u", Password: "p", Index: "x"}, nil},
		{"everything wrong", Config{URL: "ftp://", APIKey: "k", Username: "u", Index: "Bad", MinSeverity: "urgent", Timeout: -1},
			[]string{"scheme", "no host", "not both", "together", "lower case", "min severity", "timeout"}},
		{"missing", Config{}, []string{"url is required", "index is required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate = nil")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestFaultInjection sends 10,000 findings through the batcher while the
// fake fails 30% of requests at random (503, 429, dropped connections,
// per-item 429s, slow answers, responses lost after storing) and checks
// every _id is stored exactly once.
func TestFaultInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	t.Parallel()
	const n = 10000
	es := elastictest.New(t)
	es.Faults.Random(0.3, 1,
		sinktest.Fault{Status: 503},
		sinktest.Fault{Status: 429, RetryAfter: "1"},
		sinktest.Fault{Drop: true},
		sinktest.Fault{Partial: 429},
		sinktest.Fault{Delay: 20 * time.Millisecond},
		sinktest.Fault{LoseResponse: true},
	)
	s := newSink(t, es.URL)
	var mu sync.Mutex
	var sleeps, dead int
	b, err := batch.New(s, batch.Config{
		MaxBatch: 200, MaxWait: 50 * time.Millisecond, QueueSize: 400, MaxAttempts: -1,
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			sleeps++
			mu.Unlock()
			return ctx.Err()
		},
		DeadLetter: func(fs []*finding_t, err error) {
			mu.Lock()
			dead += len(fs)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, fnd := range sinktest.Findings("ev", n) {
		if err := b.Add(context.Background(), fnd); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st := b.Stats()
	docs, created := es.Docs(), es.Created()
	mu.Lock()
	defer mu.Unlock()
	if len(docs) != n || dead != 0 {
		t.Fatalf("stored %d documents, dead-lettered %d; want %d and 0", len(docs), dead, n)
	}
	for id, c := range created {
		if c != 1 {
			t.Errorf("%s created %d times", id, c)
		}
	}
	for i := range n {
		if _, ok := docs[fmt.Sprintf("ev-%d", i)]; !ok {
			t.Errorf("ev-%d missing", i)
		}
	}
	overwrites := 0
	for _, c := range es.Overwrites() {
		overwrites += c
	}
	fs := es.Faults.Stats()
	t.Logf("findings=%d stored=%d unique_ids=%d requests=%d faulted_requests=%d (%.1f%%) sends=%d retries=%d backoff_sleeps=%d overwrites_of_same_id=%d dead=%d",
		n, len(docs), len(created), es.Requests(), fs.Injected, 100*float64(fs.Injected)/float64(fs.Requests), st.Batches, st.Retries, sleeps, overwrites, dead)
}
