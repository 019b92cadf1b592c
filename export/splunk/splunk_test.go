package splunk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/export"
	"github.com/ttpmap/ttpmap/export/sinktest"
	"github.com/ttpmap/ttpmap/finding"
)

const (
	testToken   = "11111111-2222-3333-4444-s3cr3tt0k3n"
	testChannel = "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba"
)

// fakeHEC speaks the HEC wire protocol: stacked event objects in, the
// documented {"text","code",["ackId"|"invalid-event-number"]} replies out,
// and the /services/collector/ack poll.
type fakeHEC struct {
	t *testing.T

	mu       sync.Mutex
	script   []func(w http.ResponseWriter, r *http.Request) // consumed one per event POST
	faults   *sinktest.Faults                               // shared-table faults, after script
	maxBytes int                                            // > 0: 413 for larger bodies
	useAck   bool                                           // token has indexer acknowledgement enabled
	ackAfter int                                            // polls answered false before true; < 0: never
	stored   map[string]int                                 // event_id → times indexed
	ackID    int64
	acks     map[int64]bool // issued, not yet reported true
	posts    int
	ackPolls int
}

func newFake(t *testing.T) *fakeHEC {
	return &fakeHEC{t: t, stored: map[string]int{}, acks: map[int64]bool{}}
}

func hecReply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (f *fakeHEC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("fake: read body: %v", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method != http.MethodPost {
		hecReply(w, http.StatusMethodNotAllowed, `{"text":"Method not allowed","code":...}`)
		return
	}
	switch auth := r.Header.Get("Authorization"); {
	case auth == "":
		hecReply(w, http.StatusUnauthorized, `{"text":"Token is required","code":2}`)
		return
	case !strings.HasPrefix(auth, "Splunk "):
		hecReply(w, http.StatusUnauthorized, `{"text":"Invalid authorization","code":3}`)
		return
	case auth != "Splunk "+testToken:
		hecReply(w, http.StatusForbidden, `{"text":"Invalid token","code":4}`)
		return
	}
	ch := r.Header.Get("X-Splunk-Request-Channel")
	if ch != testChannel {
		f.t.Errorf("fake: channel %q, want %q", ch, testChannel)
	}
	switch r.URL.Path {
	case "/services/collector/event":
		f.event(w, r, body)
	case "/services/collector/ack":
		f.ack(w, body)
	default:
		hecReply(w, http.StatusNotFound, `{"text":"The requested URL was not found on this server.","code":404}`)
	}
}

func (f *fakeHEC) event(w http.ResponseWriter, r *http.Request, body []byte) {
	f.posts++
	if len(f.script) > 0 {
		step := f.script[0]
		f.script = f.script[1:]
		if step != nil {
			step(w, r)
			return
		}
	}
	if f.faults != nil && f.faults.Apply(w) {
		return
	}
	if f.maxBytes > 0 && len(body) > f.maxBytes {
		hecReply(w, http.StatusRequestEntityTooLarge, fmt.Sprintf(`{"text":"Content-Length of %d too large (maximum is %d)","code":27}`, len(body), f.maxBytes))
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var batch []string
	for i := 0; ; i++ {
		var ev map[string]json.RawMessage
		if err := dec.Decode(&ev); err == io.EOF {
			break
		} else if err != nil {
			f.index(batch)
			hecReply(w, http.StatusBadRequest, fmt.Sprintf(`{"text":"Invalid data format","code":6,"invalid-event-number":%d}`, i))
			return
		}
		raw, ok := ev["event"]
		if !ok {
			f.index(batch)
			hecReply(w, http.StatusBadRequest, fmt.Sprintf(`{"text":"Event field is required","code":12,"invalid-event-number":%d}`, i))
			return
		}
		var fi finding.Finding
		if err := json.Unmarshal(raw, &fi); err != nil || strings.HasPrefix(fi.EventID, "bad") {
			f.index(batch)
			hecReply(w, http.StatusBadRequest, fmt.Sprintf(`{"text":"Invalid data format","code":6,"invalid-event-number":%d}`, i))
			return
		}
		batch = append(batch, fi.EventID)
	}
	if len(batch) == 0 {
		hecReply(w, http.StatusBadRequest, `{"text":"No data","code":5}`)
		return
	}
	f.index(batch)
	if !f.useAck {
		hecReply(w, http.StatusOK, `{"text":"Success","code":0}`)
		return
	}
	f.ackID++
	f.acks[f.ackID] = false
	hecReply(w, http.StatusOK, fmt.Sprintf(`{"text":"Success","code":0,"ackId":%d}`, f.ackID))
}

func (f *fakeHEC) index(ids []string) {
	for _, id := range ids {
		f.stored[id]++
	}
}

func (f *fakeHEC) ack(w http.ResponseWriter, body []byte) {
	if !f.useAck {
		hecReply(w, http.StatusBadRequest, `{"text":"ACK is disabled","code":14}`)
		return
	}
	var q struct {
		Acks []int64 `json:"acks"`
	}
	if err := json.Unmarshal(body, &q); err != nil || q.Acks == nil {
		hecReply(w, http.StatusBadRequest, `{"text":"Invalid data format","code":6}`)
		return
	}
	f.ackPolls++
	done := f.ackAfter >= 0 && f.ackPolls > f.ackAfter
	out := map[string]bool{}
	for _, id := range q.Acks {
		_, issued := f.acks[id]
		out[strconv.FormatInt(id, 10)] = issued && done
		if issued && done {
			delete(f.acks, id) // HEC forgets an ackId once reported true
		}
	}
	b, _ := json.Marshal(map[string]any{"acks": out})
	hecReply(w, http.StatusOK, string(b))
}

func testFindings(ids ...string) []*finding.Finding {
	var out []*finding.Finding
	for i, id := range ids {
		sev := "high"
		if s, ok := strings.CutPrefix(id, "sev:"); ok {
			sev, id, _ = strings.Cut(s, ":")
		}
		out = append(out, &finding.Finding{
			EventID:      id,
			Timestamp:    time.Date(2026, 11, 23, 7, 42, 26, int(i)*int(time.Millisecond), time.UTC),
			Host:         "WS01",
			TechniqueIDs: []string{"T1059.001"},
			Severity:     sev,
			RuleID:       "rule-" + id,
			Description:  strings.Repeat("x", 200),
		})
	}
	return out
}

func eventIDs(fs []*finding.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.EventID)
	}
	return out
}

func testConfig(url string) Config {
	return Config{
		URL:             url,
		Token:           testToken,
		Index:           "security",
		Channel:         testChannel,
		AckTimeout:      200 * time.Millisecond,
		AckPollInterval: 5 * time.Millisecond,
	}
}

func busy(after string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		if after != "" {
			w.Header().Set("Retry-After", after)
		}
		hecReply(w, http.StatusServiceUnavailable, `{"text":"Server is busy","code":9}`)
	}
}

func reply(status int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) { hecReply(w, status, body) }
}

// hangUp reads the request, then drops the connection without answering.
func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	_ = conn.Close()
}

// outcome is what one Send call must return.
type outcome struct {
	kind       string // "", "retry", "perm", "both", "ctx", "closed"
	failed     []string
	after      time.Duration
	permFailed []string // with kind "both"
	msg        string   // substring of the error
}

func TestSend(t *testing.T) {
	tests := []struct {
		name     string
		cfg      func(*Config)
		fake     func(*fakeHEC)
		batch    []*finding.Finding
		cancel   bool
		sends    []outcome // one Send of batch per entry
		stored   map[string]int
		posts    int // event POSTs expected, 0 = don't check
		ackPolls int // ack polls expected, 0 = don't check
	}{
		{
			name:   "ok",
			batch:  testFindings("a", "b", "c"),
			sends:  []outcome{{}},
			stored: map[string]int{"a": 1, "b": 1, "c": 1},
			posts:  1,
		},
		{
			name:   "503 server busy then 200",
			fake:   func(f *fakeHEC) { f.script = append(f.script, busy("2")) },
			batch:  testFindings("a", "b"),
			sends:  []outcome{{kind: "retry", failed: []string{"a", "b"}, after: 2 * time.Second, msg: "Server is busy"}, {}},
			stored: map[string]int{"a": 1, "b": 1},
			posts:  2,
		},
		{
			name: "429 with Retry-After",
			fake: func(f *fakeHEC) {
				f.script = append(f.script, reply(http.StatusTooManyRequests, `{"text":"Too many requests"}`))
			},
			batch:  testFindings("a"),
			sends:  []outcome{{kind: "retry", failed: []string{"a"}, msg: "status 429"}, {}},
			stored: map[string]int{"a": 1},
		},
		{
			name: "500 internal error is retryable",
			fake: func(f *fakeHEC) {
				f.script = append(f.script, reply(http.StatusInternalServerError, `{"text":"Internal server error","code":8}`))
			},
			batch:  testFindings("a"),
			sends:  []outcome{{kind: "retry", failed: []string{"a"}, msg: "Internal server error"}},
			stored: map[string]int{},
		},
		{
			name:   "400 invalid event in the middle: dead-letter it, resend all others (a may be indexed twice)",
			batch:  testFindings("a", "bad1", "c", "d"),
			sends:  []outcome{{kind: "perm", failed: []string{"bad1"}, msg: "Invalid data format"}},
			stored: map[string]int{"a": 2, "c": 1, "d": 1},
			posts:  2,
		},
		{
			name:   "400 two invalid events",
			batch:  testFindings("bad1", "b", "bad3"),
			sends:  []outcome{{kind: "perm", failed: []string{"bad1", "bad3"}}},
			stored: map[string]int{"b": 2},
			posts:  3,
		},
		{
			name: "400 incorrect index fails the whole batch",
			fake: func(f *fakeHEC) {
				f.script = append(f.script, reply(http.StatusBadRequest, `{"text":"Incorrect index","code":7,"invalid-event-number":0}`))
			},
			cfg:    func(c *Config) {},
			batch:  testFindings("a"),
			sends:  []outcome{{kind: "perm", failed: []string{"a"}, msg: "Incorrect index"}},
			stored: map[string]int{},
		},
		{
			name: "400 without event number fails the whole batch",
			fake: func(f *fakeHEC) {
				f.script = append(f.script, reply(http.StatusBadRequest, `{"text":"Data channel is missing","code":10}`))
			},
			batch:  testFindings("a", "b"),
			sends:  []outcome{{kind: "perm", failed: []string{"a", "b"}, msg: "code 10: Data channel is missing"}},
			stored: map[string]int{},
		},
		{
			name:   "403 invalid token",
			cfg:    func(c *Config) { c.Token = "wrong-token" },
			batch:  testFindings("a"),
			sends:  []outcome{{kind: "perm", failed: []string{"a"}, msg: "HEC refused the token (status 403, HEC code 4: Invalid token): check SPLUNK_TOKEN"}},
			stored: map[string]int{},
		},
		{
			name: "401 invalid authorization",
			fake: func(f *fakeHEC) {
				f.script = append(f.script, reply(http.StatusUnauthorized, `{"text":"Invalid authorization","code":3}`))
			},
			batch:  testFindings("a"),
			sends:  []outcome{{kind: "perm", failed: []string{"a"}, msg: "status 401, HEC code 3: Invalid authorization"}},
			stored: map[string]int{},
		},
		{
			name:   "404 wrong path (proxy HTML body)",
			fake:   func(f *fakeHEC) { f.script = append(f.script, reply(http.StatusNotFound, `<html>not found</html>`)) },
			batch:  testFindings("a"),
			sends:  []outcome{{kind: "perm", failed: []string{"a"}, msg: "status 404, Not Found"}},
			stored: map[string]int{},
		},
		{
			name:   "413 splits the batch until it fits",
			fake:   func(f *fakeHEC) { f.maxBytes = 900 },
			batch:  testFindings("a", "b", "c", "d", "e"),
			sends:  []outcome{{}},
			stored: map[string]int{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1},
		},
		{
			name:   "413 for a single event is permanent",
			fake:   func(f *fakeHEC) { f.maxBytes = 100 },
			batch:  testFindings("a", "b"),
			sends:  []outcome{{kind: "perm", failed: []string{"a", "b"}, msg: "max_content_length"}},
			stored: map[string]int{},
			posts:  3,
		},
		{
			name: "413 then busy on the second half",
			fake: func(f *fakeHEC) {
				f.script = append(f.script, reply(http.StatusRequestEntityTooLarge, `{"text":"Content too large"}`), nil, busy("1"))
			},
			batch:  testFindings("a", "b", "c", "d"),
			sends:  []outcome{{kind: "retry", failed: []string{"c", "d"}, after: time.Second}},
			stored: map[string]int{"a": 1, "b": 1},
		},
		{
			name:   "invalid event then busy: retry lists both",
			fake:   func(f *fakeHEC) { f.script = append(f.script, nil, busy("")) },
			batch:  testFindings("a", "bad2", "c"),
			sends:  []outcome{{kind: "both", failed: []string{"a", "c"}, permFailed: []string{"bad2"}, msg: "Server is busy"}},
			stored: map[string]int{"a": 1},
		},
		{
			name: "413 then 401 on the first half: the second half is still sent",
			fake: func(f *fakeHEC) {
				f.script = append(f.script, reply(http.StatusRequestEntityTooLarge, `{"text":"Content too large"}`),
					reply(http.StatusUnauthorized, `{"text":"Invalid authorization","code":3}`))
			},
			batch:  testFindings("a", "b", "c", "d"),
			sends:  []outcome{{kind: "perm", failed: []string{"a", "b"}, msg: "Invalid authorization"}},
			stored: map[string]int{"c": 1, "d": 1},
			posts:  3,
		},
		{
			name:  "ack timeout after an invalid event: both kinds",
			cfg:   func(c *Config) { c.UseAck = true; c.AckTimeout = 30 * time.Millisecond },
			fake:  func(f *fakeHEC) { f.useAck = true; f.ackAfter = -1 },
			batch: testFindings("a", "bad2", "c"),
			sends: []outcome{{kind: "both", failed: []string{"a", "c"}, permFailed: []string{"bad2"}, msg: "not acknowledged"}},
			// a was indexed without an ackId; c's ack never came.
			stored: map[string]int{"a": 2, "c": 1},
		},
		{
			name:     "ack pending then acked",
			cfg:      func(c *Config) { c.UseAck = true },
			fake:     func(f *fakeHEC) { f.useAck = true; f.ackAfter = 2 },
			batch:    testFindings("a", "b"),
			sends:    []outcome{{}},
			stored:   map[string]int{"a": 1, "b": 1},
			ackPolls: 3,
		},
		{
			name:   "ack over split batches",
			cfg:    func(c *Config) { c.UseAck = true },
			fake:   func(f *fakeHEC) { f.useAck = true; f.ackAfter = 1; f.maxBytes = 1200 },
			batch:  testFindings("a", "b", "c", "d"),
			sends:  []outcome{{}},
			stored: map[string]int{"a": 1, "b": 1, "c": 1, "d": 1},
		},
		{
			name:   "ack timeout is retryable (may duplicate)",
			cfg:    func(c *Config) { c.UseAck = true; c.AckTimeout = 40 * time.Millisecond },
			fake:   func(f *fakeHEC) { f.useAck = true; f.ackAfter = -1 },
			batch:  testFindings("a", "b"),
			sends:  []outcome{{kind: "retry", failed: []string{"a", "b"}, msg: "not acknowledged"}},
			stored: map[string]int{"a": 1, "b": 1},
		},
		{
			name:   "ack requested but disabled on the token",
			cfg:    func(c *Config) { c.UseAck = true },
			batch:  testFindings("a"),
			sends:  []outcome{{}},
			stored: map[string]int{"a": 1},
		},
		{
			name:   "dropped connection then ok",
			fake:   func(f *fakeHEC) { f.script = append(f.script, hangUp) },
			batch:  testFindings("a", "b"),
			sends:  []outcome{{kind: "retry", failed: []string{"a", "b"}, msg: "send 2 events"}, {}},
			stored: map[string]int{"a": 1, "b": 1},
			posts:  2,
		},
		{
			name:   "cancelled context",
			batch:  testFindings("a"),
			cancel: true,
			sends:  []outcome{{kind: "ctx"}},
			stored: map[string]int{},
		},
		{
			name:   "min severity filters",
			cfg:    func(c *Config) { c.MinSeverity = "High" },
			batch:  testFindings("sev:low:a", "sev:high:b", "sev:critical:c", "sev:weird:d"),
			sends:  []outcome{{}},
			stored: map[string]int{"b": 1, "c": 1, "d": 1},
		},
		{
			name:   "nothing above min severity sends nothing",
			cfg:    func(c *Config) { c.MinSeverity = "critical" },
			batch:  testFindings("sev:low:a"),
			sends:  []outcome{{}},
			stored: map[string]int{},
			posts:  -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			if tt.fake != nil {
				tt.fake(fake)
			}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			cfg := testConfig(srv.URL)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			sink, err := New(cfg, srv.Client(), nil)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer sink.Close(context.Background())
			ctx := context.Background()
			if tt.cancel {
				c, cancel := context.WithCancel(ctx)
				cancel()
				ctx = c
			}
			for i, want := range tt.sends {
				checkOutcome(t, i, sink.Send(ctx, tt.batch), want)
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if fmt.Sprint(fake.stored) != fmt.Sprint(tt.stored) {
				t.Errorf("stored %v, want %v", fake.stored, tt.stored)
			}
			switch {
			case tt.posts > 0 && fake.posts != tt.posts:
				t.Errorf("event POSTs = %d, want %d", fake.posts, tt.posts)
			case tt.posts < 0 && fake.posts != 0:
				t.Errorf("event POSTs = %d, want none", fake.posts)
			}
			if tt.ackPolls > 0 && fake.ackPolls != tt.ackPolls {
				t.Errorf("ack polls = %d, want %d", fake.ackPolls, tt.ackPolls)
			}
		})
	}
}

func checkOutcome(t *testing.T, i int, err error, want outcome) {
	t.Helper()
	var re *export.RetryableError
	var pe *export.PermanentError
	var failed, permFailed []string
	var after time.Duration
	kind := ""
	isRetry, isPerm := errors.As(err, &re), errors.As(err, &pe)
	switch {
	case err == nil:
	case isRetry && isPerm:
		kind, failed, permFailed, after = "both", eventIDs(re.Failed), eventIDs(pe.Failed), re.After
	case isRetry:
		kind, failed, after = "retry", eventIDs(re.Failed), re.After
	case isPerm:
		kind, failed = "perm", eventIDs(pe.Failed)
	case errors.Is(err, context.Canceled):
		kind = "ctx"
	case errors.Is(err, errClosed):
		kind = "closed"
	default:
		kind = "other"
	}
	if kind != want.kind {
		t.Fatalf("send %d: error %v (kind %q), want kind %q", i, err, kind, want.kind)
	}
	if !slices.Equal(failed, want.failed) {
		t.Errorf("send %d: failed %v, want %v", i, failed, want.failed)
	}
	if !slices.Equal(permFailed, want.permFailed) {
		t.Errorf("send %d: permanent failed %v, want %v", i, permFailed, want.permFailed)
	}
	if after != want.after {
		t.Errorf("send %d: retry after %s, want %s", i, after, want.after)
	}
	if want.msg != "" && !strings.Contains(err.Error(), want.msg) {
		t.Errorf("send %d: error %q does not contain %q", i, err, want.msg)
	}
}

func TestSendAfterClose(t *testing.T) {
	sink, err := New(testConfig("http://127.0.0.1:1"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkOutcome(t, 0, sink.Send(context.Background(), testFindings("a")), outcome{kind: "closed"})
}

func TestRequestShape(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		body, _ = io.ReadAll(r.Body)
		hecReply(w, http.StatusOK, `{"text":"Success","code":0}`)
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL + "/services/collector/event/") // full endpoint URL is accepted
	cfg.Channel = ""
	sink, err := New(cfg, srv.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Send(context.Background(), testFindings("a")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ what, got, want string }{
		{"method", got.Method, http.MethodPost},
		{"path", got.URL.Path, "/services/collector/event"},
		{"authorization", got.Header.Get("Authorization"), "Splunk " + testToken},
		{"channel", got.Header.Get("X-Splunk-Request-Channel"), sink.Channel()},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if !guidRE.MatchString(sink.Channel()) {
		t.Errorf("generated channel %q is not a GUID", sink.Channel())
	}
	if !bytes.Contains(body, []byte(`"event_id":"a"`)) {
		t.Errorf("body lacks the event_id: %s", body)
	}
}

func TestNoSecretLeaks(t *testing.T) {
	fake := newFake(t)
	fake.script = append(fake.script, reply(http.StatusUnauthorized, `{"text":"Invalid authorization","code":3}`), hangUp)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := testConfig(srv.URL)
	cfg.UseAck = true // token has ack disabled in the fake: logs a warning
	sink, err := New(cfg, srv.Client(), logger)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for range 3 {
		if err := sink.Send(context.Background(), testFindings("a", "bad", "c")); err != nil {
			texts = append(texts, err.Error(), fmt.Sprintf("%+v", err))
		}
	}
	if len(texts) != 6 {
		t.Fatalf("want 3 errors, got %d: %q", len(texts)/2, texts)
	}
	logger.Info("config", "cfg", cfg, "sink", sink)
	for _, v := range []any{cfg, &cfg, sink} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			texts = append(texts, fmt.Sprintf(verb, v))
		}
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	texts = append(texts, string(js), logs.String())
	if !strings.Contains(logs.String(), "no ackId") {
		t.Errorf("expected the ack warning in the logs:\n%s", logs.String())
	}
	for _, s := range texts {
		if strings.Contains(s, "s3cr3t") {
			t.Errorf("token leaked: %s", s)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Config{URL: "https://splunk.example:8088", Token: "t"}
	tests := []struct {
		name string
		mod  func(*Config)
		want []string // substrings; nil = valid
	}{
		{"valid", func(*Config) {}, nil},
		{"valid full", func(c *Config) { c.Channel = testChannel; c.MinSeverity = "medium"; c.UseAck = true }, nil},
		{"empty", func(c *Config) { *c = Config{} }, []string{"URL is required", "token is required"}},
		{"bad scheme", func(c *Config) { c.URL = "ftp://x" }, []string{"want http(s)://host"}},
		{"no host", func(c *Config) { c.URL = "https://" }, []string{"want http(s)://host"}},
		{"credentials in URL", func(c *Config) { c.URL = "https://u:p@x" }, []string{"must not carry credentials"}},
		{"bad channel", func(c *Config) { c.Channel = "chan-1" }, []string{"not a GUID"}},
		{"negative ack", func(c *Config) { c.AckTimeout = -time.Second; c.AckPollInterval = -1 }, []string{"negative ack timeout", "negative ack poll"}},
		{"bad severity", func(c *Config) { c.MinSeverity = "urgent" }, []string{`unknown severity "urgent"`}},
		{"token whitespace", func(c *Config) { c.Token = "a b" }, []string{"whitespace"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, nerr := New(c, nil, nil); nerr == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"SPLUNK_URL":          "https://splunk:8088",
		"SPLUNK_TOKEN":        "tok",
		"SPLUNK_INDEX":        "sec",
		"SPLUNK_USE_ACK":      "true",
		"SPLUNK_ACK_TIMEOUT":  "5s",
		"SPLUNK_MIN_SEVERITY": "medium",
	}
	cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := Config{URL: "https://splunk:8088", Token: "tok", Index: "sec", UseAck: true, AckTimeout: 5 * time.Second, MinSeverity: "medium"}
	if cfg != want {
		t.Errorf("got %+v, want %+v", cfg, want)
	}
	if !cfg.Enabled() || (Config{}).Enabled() {
		t.Error("Enabled wrong")
	}
	env["SPLUNK_USE_ACK"], env["SPLUNK_ACK_TIMEOUT"] = "maybe", "soon"
	_, err = ConfigFromEnv(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "SPLUNK_USE_ACK") || !strings.Contains(err.Error(), "SPLUNK_ACK_TIMEOUT") {
		t.Errorf("want both parse errors, got %v", err)
	}
}

// TestSinkTable runs the shared export/sinktest table. HEC has no
// idempotency key: a resent event is indexed again, so Stored reports
// distinct event_ids, as a Splunk search with `dedup event_id` would; the
// raw counts are asserted in TestSend.
func TestSinkTable(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) *sinktest.Harness {
		fake := newFake(t)
		fake.faults = &sinktest.Faults{}
		srv := httptest.NewServer(fake)
		t.Cleanup(srv.Close)
		sink, err := New(testConfig(srv.URL), srv.Client(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return &sinktest.Harness{
			Sink:   sink,
			Faults: fake.faults,
			Stored: func() []string {
				fake.mu.Lock()
				defer fake.mu.Unlock()
				var ids []string
				for id := range fake.stored {
					ids = append(ids, id)
				}
				return ids
			},
			SplitsOnTooLarge: true,
		}
	})
}
