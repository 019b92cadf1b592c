package elastictest_test

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/export/elastic/elastictest"
	"github.com/ttpmap/ttpmap/export/sinktest"
)

// answer is a decoded reply of the fake.
type answer = sinktest.Answer

// do sends one request; auth "" sends the default API key, "-" none.
func do(t *testing.T, c *http.Client, method, url, ctype, auth, body string) (answer, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	switch auth {
	case "":
		req.Header.Set("Authorization", "ApiKey "+elastictest.DefaultAPIKey)
	case "-":
	default:
		req.Header.Set("Authorization", auth)
	}
	return sinktest.Do(c, req)
}

func bulk(t *testing.T, s *elastictest.Server, body string) answer {
	t.Helper()
	a, err := do(t, s.Client(), http.MethodPost, s.URL+"/_bulk", "application/x-ndjson", "", body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// itemStatuses returns "action:status" per item.
func itemStatuses(a answer) []string {
	items, _ := a.Body["items"].([]any)
	var out []string
	for _, it := range items {
		for op, v := range it.(map[string]any) {
			m := v.(map[string]any)
			s := op + ":" + jsonString(m["status"])
			if r, ok := m["result"].(string); ok {
				s += ":" + r
			}
			if e, ok := m["error"].(map[string]any); ok {
				s += ":" + e["type"].(string)
			}
			out = append(out, s)
		}
	}
	return out
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestBulk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		path       string
		ctype      string
		bodies     []string // sent in turn; the last answer is checked
		status     int
		errors     bool
		items      []string
		errType    string // whole-request error type
		docs       []string
		created    map[string]int
		overwrites map[string]int
	}{
		{name: "index new", bodies: []string{"{\"index\":{\"_index\":\"x\",\"_id\":\"a\"}}\n{\"v\":1}\n{\"index\":{\"_index\":\"x\",\"_id\":\"b\"}}\n{\"v\":2}\n"},
			status: 200, items: []string{"index:201:created", "index:201:created"}, docs: []string{"a", "b"},
			created: map[string]int{"a": 1, "b": 1}, overwrites: map[string]int{}},
		{name: "index again overwrites", bodies: []string{"{\"index\":{\"_index\":\"x\",\"_id\":\"a\"}}\n{\"v\":1}\n", "{\"index\":{\"_index\":\"x\",\"_id\":\"a\"}}\n{\"v\":2}\n"},
			status: 200, items: []string{"index:200:updated"}, docs: []string{"a"},
			created: map[string]int{"a": 1}, overwrites: map[string]int{"a": 1}},
		{name: "create existing conflicts", bodies: []string{"{\"create\":{\"_index\":\"x\",\"_id\":\"a\"}}\n{}\n", "{\"create\":{\"_index\":\"x\",\"_id\":\"a\"}}\n{}\n"},
			status: 200, errors: true, items: []string{"create:409:version_conflict_engine_exception"}, docs: []string{"a"},
			created: map[string]int{"a": 1}, overwrites: map[string]int{}},
		{name: "delete", bodies: []string{"{\"index\":{\"_index\":\"x\",\"_id\":\"a\"}}\n{}\n", "{\"delete\":{\"_index\":\"x\",\"_id\":\"a\"}}\n{\"delete\":{\"_index\":\"x\",\"_id\":\"zz\"}}\n"},
			status: 200, items: []string{"delete:200:deleted", "delete:404:not_found"}, docs: []string{},
			created: map[string]int{"a": 1}, overwrites: map[string]int{}},
		{name: "index from the path", path: "/logs/_bulk", bodies: []string{"{\"index\":{\"_id\":\"a\"}}\n{}\n"},
			status: 200, items: []string{"index:201:created"}, docs: []string{"a"}, created: map[string]int{"a": 1}, overwrites: map[string]int{}},
		{name: "generated id", bodies: []string{"{\"index\":{\"_index\":\"x\"}}\n{}\n"},
			status: 200, items: []string{"index:201:created"}, docs: []string{"elastictest000000001"}, created: map[string]int{"elastictest000000001": 1}, overwrites: map[string]int{}},
		{name: "source not an object", bodies: []string{"{\"index\":{\"_index\":\"x\",\"_id\":\"a\"}}\n[1]\n{\"index\":{\"_index\":\"x\",\"_id\":\"b\"}}\n{}\n"},
			status: 200, errors: true, items: []string{"index:400:mapper_parsing_exception", "index:201:created"}, docs: []string{"b"},
			created: map[string]int{"b": 1}, overwrites: map[string]int{}},
		{name: "update refused", bodies: []string{"{\"update\":{\"_index\":\"x\",\"_id\":\"a\"}}\n{\"doc\":{}}\n"},
			status: 200, errors: true, items: []string{"update:400:illegal_argument_exception"}, docs: []string{}, created: map[string]int{}, overwrites: map[string]int{}},
		{name: "index missing", bodies: []string{"{\"index\":{\"_id\":\"a\"}}\n{}\n"},
			status: 400, errType: "action_request_validation_exception", docs: []string{}, created: map[string]int{}, overwrites: map[string]int{}},
		{name: "no final newline", bodies: []string{"{\"index\":{\"_index\":\"x\",\"_id\":\"a\"}}\n{}"},
			status: 400, errType: "illegal_argument_exception", docs: []string{}, created: map[string]int{}, overwrites: map[string]int{}},
		{name: "empty body", bodies: []string{""},
			status: 400, errType: "action_request_validation_exception", docs: []string{}, created: map[string]int{}, overwrites: map[string]int{}},
		{name: "unknown action", bodies: []string{"{\"upsert\":{\"_index\":\"x\"}}\n{}\n"},
			status: 400, errType: "illegal_argument_exception", docs: []string{}, created: map[string]int{}, overwrites: map[string]int{}},
		{name: "wrong content type", ctype: "text/plain", bodies: []string{"{\"index\":{\"_index\":\"x\",\"_id\":\"a\"}}\n{}\n"},
			status: 406, docs: []string{}, created: map[string]int{}, overwrites: map[string]int{}},
		{name: "json content type with charset", ctype: "application/json; charset=utf-8", bodies: []string{"{\"index\":{\"_index\":\"x\",\"_id\":\"a\"}}\n{}\n"},
			status: 200, items: []string{"index:201:created"}, docs: []string{"a"}, created: map[string]int{"a": 1}, overwrites: map[string]int{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := elastictest.New(t)
			path, ctype := tc.path, tc.ctype
			if path == "" {
				path = "/_bulk"
			}
			if ctype == "" {
				ctype = "application/x-ndjson"
			}
			var a answer
			for _, b := range tc.bodies {
				var err error
				if a, err = do(t, s.Client(), http.MethodPost, s.URL+path, ctype, "", b); err != nil {
					t.Fatal(err)
				}
			}
			if a.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.Status, tc.status, a.Raw)
			}
			if got := a.Header.Get("X-Elastic-Product"); got != "Elasticsearch" {
				t.Errorf("X-Elastic-Product = %q", got)
			}
			if tc.status == 200 {
				if a.Body["errors"] != tc.errors {
					t.Errorf("errors = %v, want %v", a.Body["errors"], tc.errors)
				}
				if got := itemStatuses(a); strings.Join(got, " ") != strings.Join(tc.items, " ") {
					t.Errorf("items %v, want %v", got, tc.items)
				}
			}
			if tc.errType != "" {
				if got := a.Body["error"].(map[string]any)["type"]; got != tc.errType {
					t.Errorf("error type %v, want %s", got, tc.errType)
				}
			}
			docs := s.Docs()
			if got := strings.Join(sortedKeys(docs), ","); got != strings.Join(tc.docs, ",") {
				t.Errorf("docs %s, want %v", got, tc.docs)
			}
			if got := s.Created(); !maps.Equal(got, tc.created) {
				t.Errorf("created %v, want %v", got, tc.created)
			}
			if got := s.Overwrites(); !maps.Equal(got, tc.overwrites) {
				t.Errorf("overwrites %v, want %v", got, tc.overwrites)
			}
		})
	}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func TestAuth(t *testing.T) {
	t.Parallel()
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("elastic:changeme"))
	tests := []struct {
		name   string
		opts   []elastictest.Option
		auth   string
		status int
	}{
		{"default api key", nil, "", 200},
		{"wrong api key", nil, "ApiKey bm9wZQ==", 401},
		{"missing", nil, "-", 401},
		{"basic not configured", nil, basic, 401},
		{"custom api key", []elastictest.Option{elastictest.WithAPIKey("a2V5")}, "ApiKey a2V5", 200},
		{"basic", []elastictest.Option{elastictest.WithBasicAuth("elastic", "changeme")}, basic, 200},
		{"basic wrong password", []elastictest.Option{elastictest.WithBasicAuth("elastic", "other")}, basic, 401},
		{"api key off", []elastictest.Option{elastictest.WithAPIKey(""), elastictest.WithBasicAuth("elastic", "changeme")}, "", 401},
		{"security off", []elastictest.Option{elastictest.WithoutAuth()}, "-", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := elastictest.New(t, tc.opts...)
			for _, path := range []string{"/", "/_bulk"} {
				method := http.MethodGet
				body := ""
				if path == "/_bulk" {
					method, body = http.MethodPost, "{\"index\":{\"_index\":\"x\",\"_id\":\"a\"}}\n{}\n"
				}
				a, err := do(t, s.Client(), method, s.URL+path, "application/x-ndjson", tc.auth, body)
				if err != nil {
					t.Fatal(err)
				}
				if a.Status != tc.status {
					t.Errorf("%s: status %d, want %d: %s", path, a.Status, tc.status, a.Raw)
				}
				if a.Status == 401 {
					if a.Header.Values("WWW-Authenticate") == nil {
						t.Errorf("%s: 401 without WWW-Authenticate", path)
					}
					if a.Body["error"].(map[string]any)["type"] != "security_exception" {
						t.Errorf("%s: %s", path, a.Raw)
					}
				}
			}
		})
	}
}

func TestClusterInfo(t *testing.T) {
	t.Parallel()
	s := elastictest.New(t)
	a, err := do(t, s.Client(), http.MethodGet, s.URL+"/", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := a.Body["version"].(map[string]any)
	if a.Status != 200 || a.Body["tagline"] != "You Know, for Search" || !strings.HasPrefix(v["number"].(string), "8.") ||
		a.Header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Errorf("GET / = %d %s", a.Status, a.Raw)
	}
	for _, c := range []struct{ method, path string }{{http.MethodHead, "/"}, {http.MethodGet, "/_cluster/health"}} {
		if a, err := do(t, s.Client(), c.method, s.URL+c.path, "", "", ""); err != nil || a.Status != 200 {
			t.Errorf("%s %s = %d %v", c.method, c.path, a.Status, err)
		}
	}
	if a, _ := do(t, s.Client(), http.MethodGet, s.URL+"/_search", "", "", ""); a.Status != 400 || !strings.Contains(a.Raw, "no handler found") {
		t.Errorf("GET /_search = %d %s", a.Status, a.Raw)
	}
	if s.Requests() != 0 {
		t.Errorf("Requests = %d, want 0 (no _bulk)", s.Requests())
	}
}

const fourDocs = "{\"index\":{\"_index\":\"x\",\"_id\":\"a\"}}\n{}\n{\"index\":{\"_index\":\"x\",\"_id\":\"b\"}}\n{}\n" +
	"{\"index\":{\"_index\":\"x\",\"_id\":\"c\"}}\n{}\n{\"index\":{\"_index\":\"x\",\"_id\":\"d\"}}\n{}\n"

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		fault      sinktest.Fault
		wantErr    bool // transport error at the client
		status     int
		items      []string
		retryAfter string
		errType    string
		docs       string
	}{
		{name: "none", fault: sinktest.Fault{}, status: 200, items: []string{"index:201:created", "index:201:created", "index:201:created", "index:201:created"}, docs: "a,b,c,d"},
		{name: "503", fault: sinktest.Fault{Status: 503, RetryAfter: "3"}, status: 503, retryAfter: "3", errType: "cluster_block_exception", docs: ""},
		{name: "429", fault: sinktest.Fault{Status: 429}, status: 429, errType: "es_rejected_execution_exception", docs: ""},
		{name: "custom body", fault: sinktest.Fault{Status: 502, Body: "<html>bad gateway</html>"}, status: 502, docs: ""},
		{name: "drop", fault: sinktest.Fault{Drop: true}, wantErr: true, docs: ""},
		{name: "partial 429", fault: sinktest.Fault{Partial: 429, RetryAfter: "1"}, status: 200, retryAfter: "1",
			items: []string{"index:201:created", "index:429:es_rejected_execution_exception", "index:201:created", "index:429:es_rejected_execution_exception"}, docs: "a,c"},
		{name: "partial 400", fault: sinktest.Fault{Partial: 400}, status: 200,
			items: []string{"index:201:created", "index:400:mapper_parsing_exception", "index:201:created", "index:400:mapper_parsing_exception"}, docs: "a,c"},
		{name: "lose response", fault: sinktest.Fault{LoseResponse: true}, wantErr: true, docs: "a,b,c,d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := elastictest.New(t)
			s.Faults.Push(tc.fault)
			a, err := do(t, s.Client(), http.MethodPost, s.URL+"/_bulk", "application/x-ndjson", "", fourDocs)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %t", err, tc.wantErr)
			}
			if err == nil {
				if a.Status != tc.status {
					t.Errorf("status %d, want %d: %s", a.Status, tc.status, a.Raw)
				}
				if got := a.Header.Get("Retry-After"); got != tc.retryAfter {
					t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
				}
				if tc.items != nil {
					if got := itemStatuses(a); strings.Join(got, " ") != strings.Join(tc.items, " ") {
						t.Errorf("items %v, want %v", got, tc.items)
					}
					if want := len(tc.items) > 0 && tc.fault.Partial != 0; a.Body["errors"] != want {
						t.Errorf("errors = %v, want %v", a.Body["errors"], want)
					}
				}
				if tc.errType != "" {
					if e, _ := a.Body["error"].(map[string]any); e == nil || e["type"] != tc.errType {
						t.Errorf("error %s, want type %s", a.Raw, tc.errType)
					}
				}
			}
			if got := strings.Join(sortedKeys(s.Docs()), ","); got != tc.docs {
				t.Errorf("docs %q, want %q", got, tc.docs)
			}
			if s.Requests() != 1 {
				t.Errorf("Requests = %d, want 1", s.Requests())
			}
		})
	}
}

func TestItemStatusHook(t *testing.T) {
	t.Parallel()
	s := elastictest.New(t)
	s.SetItemStatus(func(id string) int {
		if id == "b" {
			return 409
		}
		return 0
	})
	a := bulk(t, s, fourDocs)
	want := "index:201:created index:409:version_conflict_engine_exception index:201:created index:201:created"
	if got := strings.Join(itemStatuses(a), " "); got != want || a.Body["errors"] != true {
		t.Errorf("items %s errors %v, want %s", got, a.Body["errors"], want)
	}
	s.SetItemStatus(nil)
	if a := bulk(t, s, fourDocs); a.Body["errors"] != false {
		t.Errorf("after removing the hook: %s", a.Raw)
	}
}

// TestRandomFaultsConcurrent hammers the fake from several goroutines
// (run with -race).
func TestRandomFaultsConcurrent(t *testing.T) {
	t.Parallel()
	s := elastictest.New(t)
	s.Faults.Random(0.2, 3)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				body := "{\"index\":{\"_index\":\"x\",\"_id\":\"" + string(rune('a'+g)) + string(rune('a'+i)) + "\"}}\n{}\n"
				_, _ = do(t, s.Client(), http.MethodPost, s.URL+"/_bulk", "application/x-ndjson", "", body)
			}
		})
	}
	wg.Wait()
	st := s.Faults.Stats()
	if st.Requests != 200 || len(s.Docs())+st.Injected != 200 {
		t.Errorf("stats %+v, %d docs: want 200 requests, docs + injected = 200", st, len(s.Docs()))
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	t.Run("slow then served", func(t *testing.T) {
		t.Parallel()
		s := elastictest.New(t)
		s.Faults.Push(sinktest.Fault{Delay: 150 * time.Millisecond})
		start := time.Now()
		a := bulk(t, s, fourDocs)
		if d := time.Since(start); d < 150*time.Millisecond || a.Status != 200 || len(s.Docs()) != 4 {
			t.Errorf("took %s, status %d, %d docs; want ≥150ms, 200, 4", d, a.Status, len(s.Docs()))
		}
	})
	t.Run("slow then fault", func(t *testing.T) {
		t.Parallel()
		s := elastictest.New(t)
		s.Faults.Push(sinktest.Fault{Delay: 100 * time.Millisecond, Status: 503})
		start := time.Now()
		a := bulk(t, s, fourDocs)
		if d := time.Since(start); d < 100*time.Millisecond || a.Status != 503 || len(s.Docs()) != 0 {
			t.Errorf("took %s, status %d, %d docs; want ≥100ms, 503, 0", d, a.Status, len(s.Docs()))
		}
	})
	t.Run("client gives up, server still stores", func(t *testing.T) {
		t.Parallel()
		s := elastictest.New(t)
		s.Faults.Push(sinktest.Fault{Delay: 150 * time.Millisecond})
		c := s.Client()
		c.Timeout = 30 * time.Millisecond
		if _, err := do(t, c, http.MethodPost, s.URL+"/_bulk", "application/x-ndjson", "", fourDocs); err == nil {
			t.Fatal("want a client timeout")
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(s.Docs()) != 4 {
			if time.Now().After(deadline) {
				t.Fatalf("%d docs after the delay, want 4", len(s.Docs()))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("close cuts the delay short", func(t *testing.T) {
		t.Parallel()
		s := elastictest.New(t)
		s.Faults.Push(sinktest.Fault{Delay: time.Minute})
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = do(t, s.Client(), http.MethodPost, s.URL+"/_bulk", "application/x-ndjson", "", fourDocs)
		}()
		for s.Requests() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		start := time.Now()
		s.Close()
		<-done
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Close took %s", d)
		}
	})
}

// FuzzBulk sends arbitrary _bulk bodies: the fake must answer every one
// (a panic would close the connection) with 200 or 400, and a 200 must
// list items.
func FuzzBulk(f *testing.F) {
	f.Add(fourDocs)
	f.Add("{\"delete\":{\"_index\":\"x\",\"_id\":\"a\"}}\n")
	f.Add("{\"index\":{}}\n{}\n")
	f.Add("{\"create\":{\"_index\":\"x\"}}\n\n[]\n")
	f.Add("\n\n")
	s := elastictest.New(f)
	f.Fuzz(func(t *testing.T, body string) {
		a, err := do(t, s.Client(), http.MethodPost, s.URL+"/_bulk", "application/x-ndjson", "", body)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		switch a.Status {
		case 200:
			if _, ok := a.Body["items"].([]any); !ok {
				t.Fatalf("200 without items: %s", a.Raw)
			}
		case 400:
		default:
			t.Fatalf("status %d: %s", a.Status, a.Raw)
		}
	})
}
