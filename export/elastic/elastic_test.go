package elastic

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/export"
	"github.com/ttpmap/ttpmap/export/batch"
	"github.com/ttpmap/ttpmap/export/sinktest"
)

// fakeES is a spec-faithful Elasticsearch _bulk endpoint.
type fakeES struct {
	t      *testing.T
	faults *sinktest.Faults
	apiKey string

	mu        sync.Mutex
	docs      map[string]json.RawMessage
	creates   map[string]int // times each _id was created (must stay 1)
	requests  int
	overwrite int
	itemFail  func(id string) int // per-item status to inject (0 = none)
}

func newFake(t *testing.T) (*fakeES, *httptest.Server) {
	f := &fakeES{t: t, faults: &sinktest.Faults{}, apiKey: "a2V5", docs: map[string]json.RawMessage{}, creates: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	if r.Method != http.MethodPost || r.URL.Path != "/_bulk" {
		http.Error(w, `{"error":"no handler"}`, http.StatusNotFound)
		return
	}
	if r.Header.Get("Authorization") != "ApiKey "+f.apiKey {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":{"type":"security_exception","reason":"missing authentication credentials"},"status":401}`)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		w.WriteHeader(http.StatusNotAcceptable)
		return
	}
	f.mu.Lock()
	f.requests++
	f.mu.Unlock()
	if f.faults.Apply(w) {
		return
	}
	type item = map[string]map[string]any
	var items []item
	hasErr := false
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 10<<20)
	for sc.Scan() {
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil || len(action) != 1 {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":{"type":"illegal_argument_exception","reason":"Malformed action/metadata line"},"status":400}`)
			return
		}
		a, ok := action["index"]
		if !ok || !sc.Scan() {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":{"type":"illegal_argument_exception","reason":"expected index action and source"},"status":400}`)
			return
		}
		doc := json.RawMessage(bytes.Clone(sc.Bytes()))
		status := 0
		if f.itemFail != nil {
			status = f.itemFail(a.ID)
		}
		if status != 0 {
			hasErr = true
			items = append(items, item{"index": {"_index": a.Index, "_id": a.ID, "status": status,
				"error": map[string]any{"type": "es_rejected_execution_exception", "reason": "injected"}}})
			continue
		}
		f.mu.Lock()
		_, exists := f.docs[a.ID]
		f.docs[a.ID] = doc
		result, code := "created", 201
		if exists {
			result, code = "updated", 200
			f.overwrite++
		} else {
			f.creates[a.ID]++
		}
		f.mu.Unlock()
		items = append(items, item{"index": {"_index": a.Index, "_id": a.ID, "_version": 1, "result": result,
			"_shards": map[string]int{"total": 2, "successful": 1, "failed": 0}, "_seq_no": 0, "_primary_term": 1, "status": code}})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"took": 3, "errors": hasErr, "items": items})
}

func (f *fakeES) stored() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, n := range f.creates {
		for range n {
			out = append(out, id)
		}
	}
	return out
}

func newSink(t *testing.T, url string) *Sink {
	t.Helper()
	s, err := New(Config{URL: url, APIKey: "a2V5"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSinkTable(t *testing.T) {
	t.Parallel()
	sinktest.Run(t, func(t *testing.T) *sinktest.Harness {
		f, srv := newFake(t)
		return &sinktest.Harness{Sink: newSink(t, srv.URL), Faults: f.faults, Stored: f.stored, SplitsOnTooLarge: true}
	})
}

func TestPartialItemFailures(t *testing.T) {
	t.Parallel()
	f, srv := newFake(t)
	f.itemFail = func(id string) int {
		return map[string]int{"e-1": 429, "e-2": 400, "e-3": 503, "e-4": 409}[id]
	}
	s := newSink(t, srv.URL)
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
	if got := len(f.stored()); got != 2 { // e-0, e-5; 409 (e-4) counts as success
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
// per-item rejections) and checks every _id is stored exactly once.
func TestFaultInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	t.Parallel()
	const n = 10000
	f, srv := newFake(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var rmu sync.Mutex
	roll := func() float64 { rmu.Lock(); defer rmu.Unlock(); return rng.Float64() }
	faultReqs := 0
	f.faults = &sinktest.Faults{}
	inner := f.faults
	// Decide per request: 30% fail, split among whole-request and per-item failures.
	srvHandler := srv.Config.Handler
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.itemFail = nil
		f.mu.Unlock()
		if x := roll(); x < 0.3 {
			f.mu.Lock()
			faultReqs++
			f.mu.Unlock()
			switch {
			case x < 0.1:
				inner.Push(sinktest.Fault{Status: 503})
			case x < 0.15:
				inner.Push(sinktest.Fault{Status: 429, RetryAfter: "1"})
			case x < 0.2:
				inner.Push(sinktest.Fault{Drop: true})
			default:
				f.itemFail = func(string) int {
					if roll() < 0.3 {
						return 429
					}
					return 0
				}
			}
		}
		srvHandler.ServeHTTP(w, r)
	})
	s := newSink(t, srv.URL)
	var sleeps int
	var dead int
	b, err := batch.New(s, batch.Config{
		MaxBatch: 200, MaxWait: 50 * time.Millisecond, QueueSize: 400, MaxAttempts: -1,
		Sleep:      func(ctx context.Context, d time.Duration) error { sleeps++; return ctx.Err() },
		DeadLetter: func(fs []*finding_t, err error) { dead += len(fs) },
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
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.docs) != n || dead != 0 {
		t.Fatalf("stored %d documents, dead-lettered %d; want %d and 0", len(f.docs), dead, n)
	}
	for id, c := range f.creates {
		if c != 1 {
			t.Errorf("%s created %d times", id, c)
		}
	}
	for i := range n {
		if _, ok := f.docs[fmt.Sprintf("ev-%d", i)]; !ok {
			t.Errorf("ev-%d missing", i)
		}
	}
	t.Logf("findings=%d stored=%d unique_ids=%d requests=%d faulted_requests=%d (%.1f%%) sends=%d retries=%d backoff_sleeps=%d overwrites_of_same_id=%d dead=%d",
		n, len(f.docs), len(f.creates), f.requests, faultReqs, 100*float64(faultReqs)/float64(f.requests), st.Batches, st.Retries, sleeps, f.overwrite, dead)
}
