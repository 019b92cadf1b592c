package splunk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/export"
	"github.com/ttpmap/ttpmap/export/batch"
	"github.com/ttpmap/ttpmap/export/sinktest"
	"github.com/ttpmap/ttpmap/export/splunk/splunktest"
	"github.com/ttpmap/ttpmap/finding"
)

const (
	testToken   = "11111111-2222-3333-4444-s3cr3tt0k3n"
	testChannel = "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba"
)

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

// busy is HEC's 503 "Server is busy" (code 9), with Retry-After when
// after is not empty.
func busy(after string) sinktest.Fault {
	return sinktest.Fault{Status: http.StatusServiceUnavailable, RetryAfter: after}
}

// reply answers one event POST with status and body.
func reply(status int, body string) sinktest.Fault {
	return sinktest.Fault{Status: status, Body: body}
}

// hangUp reads the request, then drops the connection without answering.
var hangUp = sinktest.Fault{Drop: true}

// serve lets one event POST through.
var serve = sinktest.Fault{}

// rejectBad makes the fake refuse events whose id starts with "bad".
var rejectBad = splunktest.WithReject(func(id string) bool { return strings.HasPrefix(id, "bad") })

// newFake starts a fake HEC expecting testToken on testChannel.
func newFake(t *testing.T, opts ...splunktest.Option) *splunktest.Server {
	return splunktest.New(t, append([]splunktest.Option{splunktest.WithToken(testToken), splunktest.WithChannel(testChannel), rejectBad}, opts...)...)
}

// outcome is what one Send call must return.
type outcome struct {
	kind       string // "", "retry", "perm", "creds" (perm wrapping ErrCredentials), "both", "ctx", "closed"
	failed     []string
	after      time.Duration
	permFailed []string // with kind "both"
	msg        string   // substring of the error
}

func TestSend(t *testing.T) {
	tests := []struct {
		name     string
		cfg      func(*Config)
		opts     []splunktest.Option
		faults   []sinktest.Fault // pushed before the first Send
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
			faults: []sinktest.Fault{busy("2")},
			batch:  testFindings("a", "b"),
			sends:  []outcome{{kind: "retry", failed: []string{"a", "b"}, after: 2 * time.Second, msg: "Server is busy"}, {}},
			stored: map[string]int{"a": 1, "b": 1},
			posts:  2,
		},
		{
			name:   "429 with Retry-After",
			faults: []sinktest.Fault{reply(http.StatusTooManyRequests, `{"text":"Too many requests"}`)},
			batch:  testFindings("a"),
			sends:  []outcome{{kind: "retry", failed: []string{"a"}, msg: "status 429"}, {}},
			stored: map[string]int{"a": 1},
		},
		{
			name:   "500 internal error is retryable",
			faults: []sinktest.Fault{{Status: http.StatusInternalServerError}},
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
			name:   "400 incorrect index fails the whole batch",
			faults: []sinktest.Fault{reply(http.StatusBadRequest, `{"text":"Incorrect index","code":7,"invalid-event-number":0}`)},
			cfg:    func(c *Config) {},
			batch:  testFindings("a"),
			sends:  []outcome{{kind: "perm", failed: []string{"a"}, msg: "Incorrect index"}},
			stored: map[string]int{},
		},
		{
			name:   "400 without event number fails the whole batch",
			faults: []sinktest.Fault{reply(http.StatusBadRequest, `{"text":"Data channel is missing","code":10}`)},
			batch:  testFindings("a", "b"),
			sends:  []outcome{{kind: "perm", failed: []string{"a", "b"}, msg: "code 10: Data channel is missing"}},
			stored: map[string]int{},
		},
		{
			name:   "403 invalid token",
			cfg:    func(c *Config) { c.Token = "wrong-token" },
			batch:  testFindings("a"),
			sends:  []outcome{{kind: "creds", failed: []string{"a"}, msg: "HEC refused the token (status 403, HEC code 4: Invalid token): check SPLUNK_TOKEN"}},
			stored: map[string]int{},
		},
		{
			name:   "401 invalid authorization",
			faults: []sinktest.Fault{{Status: http.StatusUnauthorized}},
			batch:  testFindings("a"),
			sends:  []outcome{{kind: "creds", failed: []string{"a"}, msg: "status 401, HEC code 3: Invalid authorization"}},
			stored: map[string]int{},
		},
		{
			name:   "404 wrong path (proxy HTML body)",
			faults: []sinktest.Fault{reply(http.StatusNotFound, `<html>not found</html>`)},
			batch:  testFindings("a"),
			sends:  []outcome{{kind: "perm", failed: []string{"a"}, msg: "status 404, Not Found"}},
			stored: map[string]int{},
		},
		{
			name:   "413 splits the batch until it fits",
			opts:   []splunktest.Option{splunktest.WithMaxContentLength(900)},
			batch:  testFindings("a", "b", "c", "d", "e"),
			sends:  []outcome{{}},
			stored: map[string]int{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1},
		},
		{
			name:   "413 for a single event is permanent",
			opts:   []splunktest.Option{splunktest.WithMaxContentLength(100)},
			batch:  testFindings("a", "b"),
			sends:  []outcome{{kind: "perm", failed: []string{"a", "b"}, msg: "max_content_length"}},
			stored: map[string]int{},
			posts:  3,
		},
		{
			name:   "413 then busy on the second half",
			faults: []sinktest.Fault{{Status: http.StatusRequestEntityTooLarge}, serve, busy("1")},
			batch:  testFindings("a", "b", "c", "d"),
			sends:  []outcome{{kind: "retry", failed: []string{"c", "d"}, after: time.Second}},
			stored: map[string]int{"a": 1, "b": 1},
		},
		{
			name:   "invalid event then busy: retry lists both",
			faults: []sinktest.Fault{serve, busy("")},
			batch:  testFindings("a", "bad2", "c"),
			sends:  []outcome{{kind: "both", failed: []string{"a", "c"}, permFailed: []string{"bad2"}, msg: "Server is busy"}},
			stored: map[string]int{"a": 1},
		},
		{
			name:   "413 then 401 on the first half: the second half is still sent",
			faults: []sinktest.Fault{{Status: http.StatusRequestEntityTooLarge}, {Status: http.StatusUnauthorized}},
			batch:  testFindings("a", "b", "c", "d"),
			sends:  []outcome{{kind: "creds", failed: []string{"a", "b"}, msg: "Invalid authorization"}},
			stored: map[string]int{"c": 1, "d": 1},
			posts:  3,
		},
		{
			name:  "ack timeout after an invalid event: both kinds",
			cfg:   func(c *Config) { c.UseAck = true; c.AckTimeout = 30 * time.Millisecond },
			opts:  []splunktest.Option{splunktest.WithAckAfter(-1)},
			batch: testFindings("a", "bad2", "c"),
			sends: []outcome{{kind: "both", failed: []string{"a", "c"}, permFailed: []string{"bad2"}, msg: "not acknowledged"}},
			// a was indexed without an ackId; c's ack never came.
			stored: map[string]int{"a": 2, "c": 1},
		},
		{
			name:     "ack pending then acked",
			cfg:      func(c *Config) { c.UseAck = true },
			opts:     []splunktest.Option{splunktest.WithAckAfter(2)},
			batch:    testFindings("a", "b"),
			sends:    []outcome{{}},
			stored:   map[string]int{"a": 1, "b": 1},
			ackPolls: 3,
		},
		{
			name:   "ack over split batches",
			cfg:    func(c *Config) { c.UseAck = true },
			opts:   []splunktest.Option{splunktest.WithAckAfter(1), splunktest.WithMaxContentLength(1200)},
			batch:  testFindings("a", "b", "c", "d"),
			sends:  []outcome{{}},
			stored: map[string]int{"a": 1, "b": 1, "c": 1, "d": 1},
		},
		{
			name:   "ack timeout is retryable (may duplicate)",
			cfg:    func(c *Config) { c.UseAck = true; c.AckTimeout = 40 * time.Millisecond },
			opts:   []splunktest.Option{splunktest.WithAckAfter(-1)},
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
			faults: []sinktest.Fault{hangUp},
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
			fake := newFake(t, tt.opts...)
			fake.Faults.Push(tt.faults...)
			cfg := testConfig(fake.URL)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			sink, err := New(cfg, fake.Client(), nil)
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
			if got := fake.Stored(); !maps.Equal(got, tt.stored) {
				t.Errorf("stored %v, want %v", got, tt.stored)
			}
			switch posts := fake.Posts(); {
			case tt.posts > 0 && posts != tt.posts:
				t.Errorf("event POSTs = %d, want %d", posts, tt.posts)
			case tt.posts < 0 && posts != 0:
				t.Errorf("event POSTs = %d, want none", posts)
			}
			if polls := fake.AckPolls(); tt.ackPolls > 0 && polls != tt.ackPolls {
				t.Errorf("ack polls = %d, want %d", polls, tt.ackPolls)
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
		if errors.Is(err, export.ErrCredentials) {
			kind = "creds"
		}
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
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = io.WriteString(w, `{"text":"Success","code":0}`)
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
	fake.Faults.Push(sinktest.Fault{Status: http.StatusUnauthorized}, hangUp)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := testConfig(fake.URL)
	cfg.UseAck = true // token has ack disabled in the fake: logs a warning
	sink, err := New(cfg, fake.Client(), logger)
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
		sink, err := New(testConfig(fake.URL), fake.Client(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return &sinktest.Harness{
			Sink:             sink,
			Faults:           fake.Faults,
			Stored:           func() []string { return slices.Collect(maps.Keys(fake.Stored())) },
			SplitsOnTooLarge: true,
		}
	})
}

// TestFaultInjection sends 5,000 findings through the batcher, with
// indexer acknowledgement, while the fake fails 30% of event POSTs at
// random (busy, 429, dropped connections, half-indexed batches, slow
// answers, responses lost after indexing): every finding must be indexed
// at least once and none dead-lettered.
func TestFaultInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const n = 5000
	fake := newFake(t, splunktest.WithAck())
	fake.Faults.Random(0.3, 1,
		busy(""),
		sinktest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"},
		hangUp,
		sinktest.Fault{Partial: http.StatusServiceUnavailable},
		sinktest.Fault{Delay: 20 * time.Millisecond},
		sinktest.Fault{LoseResponse: true},
	)
	cfg := testConfig(fake.URL)
	cfg.UseAck, cfg.AckPollInterval = true, time.Millisecond
	sink, err := New(cfg, fake.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	dead := 0
	b, err := batch.New(sink, batch.Config{
		MaxBatch: 100, MaxWait: 20 * time.Millisecond, QueueSize: 200, MaxAttempts: -1,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
		DeadLetter: func(fs []*finding.Finding, err error) {
			mu.Lock()
			dead += len(fs)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range sinktest.Findings("ev", n) {
		if err := b.Add(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	stored := fake.Stored()
	dup := 0
	for i := range n {
		switch c := stored[fmt.Sprintf("ev-%d", i)]; {
		case c == 0:
			t.Errorf("ev-%d never indexed", i)
		case c > 1:
			dup += c - 1
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(stored) != n || dead != 0 {
		t.Errorf("indexed %d distinct events, dead-lettered %d; want %d and 0", len(stored), dead, n)
	}
	st := fake.Faults.Stats()
	t.Logf("findings=%d distinct=%d duplicates=%d posts=%d faulted=%d ack_polls=%d", n, len(stored), dup, fake.Posts(), st.Injected, fake.AckPolls())
}
