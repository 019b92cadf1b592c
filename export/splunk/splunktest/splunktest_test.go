package splunktest_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/export/sinktest"
	"github.com/ttpmap/ttpmap/export/splunk/splunktest"
)

const (
	chanA = "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba"
	chanB = "11111111-2222-4333-8444-555555555555"
)

// answer is a decoded reply of the fake.
type answer = sinktest.Answer

// req describes one request; Auth "" sends the default token, "-" none.
type req struct {
	path, auth, channel, body string
	gzip                      bool
}

func send(t *testing.T, c *http.Client, base string, r req) (answer, error) {
	t.Helper()
	if r.path == "" {
		r.path = "/services/collector/event"
	}
	body := []byte(r.body)
	if r.gzip {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = b.Bytes()
	}
	hr, err := http.NewRequest(http.MethodPost, base+r.path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	switch r.auth {
	case "":
		hr.Header.Set("Authorization", "Splunk "+splunktest.DefaultToken)
	case "-":
	default:
		hr.Header.Set("Authorization", r.auth)
	}
	if r.channel != "" {
		hr.Header.Set("X-Splunk-Request-Channel", r.channel)
	}
	if r.gzip {
		hr.Header.Set("Content-Encoding", "gzip")
	}
	return sinktest.Do(c, hr)
}

func must(t *testing.T, s *splunktest.Server, r req) answer {
	t.Helper()
	a, err := send(t, s.Client(), s.URL, r)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func ev(id string) string { return `{"event":{"event_id":"` + id + `"},"sourcetype":"ttpmap:finding"}` }

func TestEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opts   []splunktest.Option
		reqs   []req // sent in turn; the last answer is checked
		status int
		code   float64
		number any // invalid-event-number, nil when absent
		ackID  any // nil when absent
		stored map[string]int
	}{
		{name: "stacked events", reqs: []req{{body: ev("a") + ev("b") + "\n" + ev("c")}}, status: 200, code: 0,
			stored: map[string]int{"a": 1, "b": 1, "c": 1}},
		{name: "resend duplicates", reqs: []req{{body: ev("a")}, {body: ev("a")}}, status: 200, code: 0, stored: map[string]int{"a": 2}},
		{name: "collector alias and gzip", reqs: []req{{path: "/services/collector", body: ev("a"), gzip: true}}, status: 200, code: 0, stored: map[string]int{"a": 1}},
		{name: "event without event_id is keyed by its JSON", reqs: []req{{body: `{"event":"hello"}`}}, status: 200, stored: map[string]int{`"hello"`: 1}},
		{name: "invalid JSON in the middle", reqs: []req{{body: ev("a") + `{"event":`}}, status: 400, code: 6, number: 1.0, stored: map[string]int{"a": 1}},
		{name: "event field missing", reqs: []req{{body: ev("a") + ev("b") + `{"host":"h"}`}}, status: 400, code: 12, number: 2.0, stored: map[string]int{"a": 1, "b": 1}},
		{name: "event field blank", reqs: []req{{body: `{"event":""}`}}, status: 400, code: 13, number: 0.0, stored: map[string]int{}},
		{name: "incorrect index", opts: []splunktest.Option{splunktest.WithIndexes("main", "security")},
			reqs: []req{{body: `{"event":{"event_id":"a"},"index":"security"}{"event":{"event_id":"b"},"index":"other"}`}}, status: 400, code: 7, number: 1.0, stored: map[string]int{"a": 1}},
		{name: "rejected by the hook", opts: []splunktest.Option{splunktest.WithReject(func(id string) bool { return id == "b" })},
			reqs: []req{{body: ev("a") + ev("b") + ev("c")}}, status: 400, code: 6, number: 1.0, stored: map[string]int{"a": 1}},
		{name: "no data", reqs: []req{{body: ""}}, status: 400, code: 5, stored: map[string]int{}},
		{name: "token missing", reqs: []req{{auth: "-", body: ev("a")}}, status: 401, code: 2, stored: map[string]int{}},
		{name: "wrong scheme", reqs: []req{{auth: "Bearer " + splunktest.DefaultToken, body: ev("a")}}, status: 401, code: 3, stored: map[string]int{}},
		{name: "wrong token", reqs: []req{{auth: "Splunk nope", body: ev("a")}}, status: 403, code: 4, stored: map[string]int{}},
		{name: "custom token", opts: []splunktest.Option{splunktest.WithToken("tok")}, reqs: []req{{auth: "Splunk tok", body: ev("a")}}, status: 200, stored: map[string]int{"a": 1}},
		{name: "channel not a GUID", reqs: []req{{channel: "chan-1", body: ev("a")}}, status: 400, code: 11, stored: map[string]int{}},
		{name: "pinned channel", opts: []splunktest.Option{splunktest.WithChannel(chanA)}, reqs: []req{{channel: chanB, body: ev("a")}}, status: 400, code: 11, stored: map[string]int{}},
		{name: "ack needs a channel", opts: []splunktest.Option{splunktest.WithAck()}, reqs: []req{{body: ev("a")}}, status: 400, code: 10, stored: map[string]int{}},
		{name: "ack ids count per channel", opts: []splunktest.Option{splunktest.WithAck()},
			reqs: []req{{channel: chanA, body: ev("a")}, {channel: chanB, body: ev("b")}, {channel: chanA, body: ev("c")}}, status: 200, ackID: 1.0,
			stored: map[string]int{"a": 1, "b": 1, "c": 1}},
		{name: "too large", opts: []splunktest.Option{splunktest.WithMaxContentLength(10)}, reqs: []req{{body: ev("a")}}, status: 413, stored: map[string]int{}},
		{name: "unknown path", reqs: []req{{path: "/services/collector/raw", body: "x"}}, status: 404, code: 404, stored: map[string]int{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := splunktest.New(t, tc.opts...)
			var a answer
			for _, r := range tc.reqs {
				a = must(t, s, r)
			}
			if a.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.Status, tc.status, a.Raw)
			}
			if tc.status != 413 && a.Body["code"] != tc.code {
				t.Errorf("code %v, want %v: %s", a.Body["code"], tc.code, a.Raw)
			}
			if a.Body["invalid-event-number"] != tc.number {
				t.Errorf("invalid-event-number %v, want %v", a.Body["invalid-event-number"], tc.number)
			}
			if a.Body["ackId"] != tc.ackID {
				t.Errorf("ackId %v, want %v", a.Body["ackId"], tc.ackID)
			}
			if got := s.Stored(); !maps.Equal(got, tc.stored) {
				t.Errorf("stored %v, want %v", got, tc.stored)
			}
		})
	}
}

func TestEventsAndChannels(t *testing.T) {
	t.Parallel()
	s := splunktest.New(t)
	must(t, s, req{channel: chanA, body: `{"time":1.5,"host":"h","source":"s","sourcetype":"st","index":"i","fields":{"k":"v"},"event":{"event_id":"a"}}`})
	must(t, s, req{body: ev("b")})
	evs := s.Events()
	if len(evs) != 2 || evs[0].Channel != chanA || evs[0].Host != "h" || evs[0].Source != "s" || evs[0].Sourcetype != "st" ||
		evs[0].Index != "i" || string(evs[0].Time) != "1.5" || string(evs[0].Fields["k"]) != `"v"` || evs[0].ID != "a" || evs[1].ID != "b" {
		t.Errorf("events %+v", evs)
	}
	if got := s.Channels(); !maps.Equal(got, map[string]int{chanA: 1, "": 1}) {
		t.Errorf("channels %v", got)
	}
	if s.Posts() != 2 {
		t.Errorf("posts %d, want 2", s.Posts())
	}
}

func ackQuery(t *testing.T, s *splunktest.Server, ch, ids string) answer {
	t.Helper()
	return must(t, s, req{path: "/services/collector/ack", channel: ch, body: `{"acks":` + ids + `}`})
}

func TestAck(t *testing.T) {
	t.Parallel()
	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		s := splunktest.New(t)
		if a := ackQuery(t, s, chanA, "[0]"); a.Status != 400 || a.Body["code"] != 14.0 {
			t.Errorf("ack = %d %s, want 400 code 14", a.Status, a.Raw)
		}
	})
	t.Run("after one poll, then forgotten", func(t *testing.T) {
		t.Parallel()
		s := splunktest.New(t, splunktest.WithAckAfter(1))
		if a := must(t, s, req{channel: chanA, body: ev("a")}); a.Body["ackId"] != 0.0 {
			t.Fatalf("event = %s", a.Raw)
		}
		var got []string
		for range 3 {
			got = append(got, ackQuery(t, s, chanA, "[0,9]").Raw)
		}
		want := []string{`{"acks":{"0":false,"9":false}}`, `{"acks":{"0":true,"9":false}}`, `{"acks":{"0":false,"9":false}}`}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("polls %v, want %v", got, want)
		}
		if a := ackQuery(t, s, chanB, "[0]"); a.Raw != `{"acks":{"0":false}}` {
			t.Errorf("other channel: %s", a.Raw)
		}
		if s.AckPolls() != 4 {
			t.Errorf("AckPolls = %d, want 4", s.AckPolls())
		}
	})
	t.Run("never", func(t *testing.T) {
		t.Parallel()
		s := splunktest.New(t, splunktest.WithAckAfter(-1))
		must(t, s, req{channel: chanA, body: ev("a")})
		for range 5 {
			if a := ackQuery(t, s, chanA, "[0]"); a.Raw != `{"acks":{"0":false}}` {
				t.Fatalf("poll: %s", a.Raw)
			}
		}
	})
	t.Run("bad query", func(t *testing.T) {
		t.Parallel()
		s := splunktest.New(t, splunktest.WithAck())
		if a := ackQuery(t, s, chanA, `"x"`); a.Status != 400 || a.Body["code"] != 6.0 {
			t.Errorf("ack = %d %s", a.Status, a.Raw)
		}
	})
}

func TestHealth(t *testing.T) {
	t.Parallel()
	s := splunktest.New(t)
	get := func() (int, string) {
		resp, err := s.Client().Get(s.URL + "/services/collector/health")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, b := get(); st != 200 || !strings.Contains(b, `"code":17`) {
		t.Errorf("health = %d %s", st, b)
	}
	s.SetHealthy(false)
	if st, b := get(); st != 503 || !strings.Contains(b, `"code":18`) {
		t.Errorf("unhealthy = %d %s", st, b)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	four := ev("a") + ev("b") + ev("c") + ev("d")
	tests := []struct {
		name       string
		opts       []splunktest.Option
		fault      sinktest.Fault
		wantErr    bool
		status     int
		text       string
		number     any
		retryAfter string
		stored     map[string]int
	}{
		{name: "busy", fault: sinktest.Fault{Status: 503, RetryAfter: "2"}, status: 503, text: "Server is busy", retryAfter: "2", stored: map[string]int{}},
		{name: "500", fault: sinktest.Fault{Status: 500}, status: 500, text: "Internal server error", stored: map[string]int{}},
		{name: "custom body", fault: sinktest.Fault{Status: 400, Body: `{"text":"Incorrect index","code":7,"invalid-event-number":0}`}, status: 400, text: "Incorrect index", number: 0.0, stored: map[string]int{}},
		{name: "drop", fault: sinktest.Fault{Drop: true}, wantErr: true, stored: map[string]int{}},
		{name: "partial 400", fault: sinktest.Fault{Partial: 400}, status: 400, text: "Invalid data format", number: 2.0, stored: map[string]int{"a": 1, "b": 1}},
		{name: "partial 503", fault: sinktest.Fault{Partial: 503, RetryAfter: "1"}, status: 503, text: "Server is busy", retryAfter: "1", stored: map[string]int{"a": 1, "b": 1}},
		{name: "partial before a bad event", opts: []splunktest.Option{splunktest.WithReject(func(id string) bool { return id == "d" })},
			fault: sinktest.Fault{Partial: 400}, status: 400, text: "Invalid data format", number: 2.0, stored: map[string]int{"a": 1, "b": 1}},
		{name: "lose response", fault: sinktest.Fault{LoseResponse: true}, wantErr: true, stored: map[string]int{"a": 1, "b": 1, "c": 1, "d": 1}},
		{name: "zero fault serves", fault: sinktest.Fault{}, status: 200, text: "Success", stored: map[string]int{"a": 1, "b": 1, "c": 1, "d": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := splunktest.New(t, tc.opts...)
			s.Faults.Push(tc.fault)
			a, err := send(t, s.Client(), s.URL, req{body: four})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %t", err, tc.wantErr)
			}
			if err == nil {
				if a.Status != tc.status || a.Body["text"] != tc.text || a.Body["invalid-event-number"] != tc.number {
					t.Errorf("answer %d %s, want %d %q number %v", a.Status, a.Raw, tc.status, tc.text, tc.number)
				}
				if got := a.Header.Get("Retry-After"); got != tc.retryAfter {
					t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
				}
			}
			if got := s.Stored(); !maps.Equal(got, tc.stored) {
				t.Errorf("stored %v, want %v", got, tc.stored)
			}
			if s.Posts() != 1 {
				t.Errorf("posts %d, want 1", s.Posts())
			}
		})
	}
}

// TestRandomFaultsConcurrent hammers the fake with acks on from several
// goroutines (run with -race).
func TestRandomFaultsConcurrent(t *testing.T) {
	t.Parallel()
	s := splunktest.New(t, splunktest.WithAck())
	s.Faults.Random(0.2, 3)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				a, err := send(t, s.Client(), s.URL, req{channel: chanA, body: ev(string(rune('a'+g)) + string(rune('a'+i)))})
				if err == nil && a.Status == 200 {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	st := s.Faults.Stats()
	if st.Requests != 200 || len(s.Stored()) != ok || ok+st.Injected != 200 {
		t.Errorf("stats %+v, %d stored, %d ok", st, len(s.Stored()), ok)
	}
	if a := ackQuery(t, s, chanA, "[0,199]"); !strings.Contains(a.Raw, `"0":true`) {
		t.Errorf("ack = %s", a.Raw)
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	t.Run("slow then served", func(t *testing.T) {
		t.Parallel()
		s := splunktest.New(t)
		s.Faults.Push(sinktest.Fault{Delay: 150 * time.Millisecond})
		start := time.Now()
		a := must(t, s, req{body: ev("a")})
		if d := time.Since(start); d < 150*time.Millisecond || a.Status != 200 || s.Stored()["a"] != 1 {
			t.Errorf("took %s, status %d, stored %v", d, a.Status, s.Stored())
		}
	})
	t.Run("slow then busy", func(t *testing.T) {
		t.Parallel()
		s := splunktest.New(t)
		s.Faults.Push(sinktest.Fault{Delay: 100 * time.Millisecond, Status: 503})
		start := time.Now()
		a := must(t, s, req{body: ev("a")})
		if d := time.Since(start); d < 100*time.Millisecond || a.Status != 503 || len(s.Stored()) != 0 {
			t.Errorf("took %s, status %d, stored %v", d, a.Status, s.Stored())
		}
	})
	t.Run("client gives up, server still indexes", func(t *testing.T) {
		t.Parallel()
		s := splunktest.New(t)
		s.Faults.Push(sinktest.Fault{Delay: 150 * time.Millisecond})
		c := s.Client()
		c.Timeout = 30 * time.Millisecond
		if _, err := send(t, c, s.URL, req{body: ev("a")}); err == nil {
			t.Fatal("want a client timeout")
		}
		deadline := time.Now().Add(5 * time.Second)
		for s.Stored()["a"] != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("stored %v after the delay", s.Stored())
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("close cuts the delay short", func(t *testing.T) {
		t.Parallel()
		s := splunktest.New(t)
		s.Faults.Push(sinktest.Fault{Delay: time.Minute})
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = send(t, s.Client(), s.URL, req{body: ev("a")})
		}()
		for s.Posts() == 0 {
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

// FuzzEvent sends arbitrary event bodies: the fake must answer every one
// (a panic would close the connection) with 200 or 400 and HEC JSON.
func FuzzEvent(f *testing.F) {
	f.Add(ev("a") + ev("b"))
	f.Add(`{"event":""}`)
	f.Add(`{"event":null,"fields":[]}`)
	f.Add(`{"event":{"event_id":7}} {"event":"x"}`)
	f.Add(``)
	s := splunktest.New(f, splunktest.WithAck(), splunktest.WithIndexes("main"))
	f.Fuzz(func(t *testing.T, body string) {
		a, err := send(t, s.Client(), s.URL, req{channel: chanA, body: body})
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		if (a.Status != 200 && a.Status != 400) || a.Body["text"] == nil {
			t.Fatalf("status %d: %s", a.Status, a.Raw)
		}
	})
}
