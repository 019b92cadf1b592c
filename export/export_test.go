package export

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/finding"
)

func TestParseSeverity(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"informational": 1, "Info": 1, "low": 2, " medium ": 3, "HIGH": 4, "critical": 5, "": 0, "urgent": 0} {
		got, err := ParseSeverity(in)
		if got != want || (want == 0) != (err != nil) {
			t.Errorf("ParseSeverity(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestClassifyHTTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code       int
		retryAfter string
		want       string
		after      time.Duration
	}{
		{200, "", "nil", 0}, {201, "", "nil", 0}, {503, "", "retry", 0}, {429, "5", "retry", 5 * time.Second},
		{408, "", "retry", 0}, {500, "bogus", "retry", 0}, {400, "", "perm", 0}, {401, "", "credentials", 0}, {403, "", "credentials", 0}, {413, "", "perm", 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			t.Parallel()
			resp := &http.Response{StatusCode: tc.code, Header: http.Header{}}
			if tc.retryAfter != "" {
				resp.Header.Set("Retry-After", tc.retryAfter)
			}
			err := ClassifyHTTP(resp, nil)
			var r *RetryableError
			var p *PermanentError
			switch tc.want {
			case "nil":
				if err != nil {
					t.Fatal(err)
				}
			case "retry":
				if !errors.As(err, &r) || r.After != tc.after {
					t.Fatalf("got %v, want retryable after %s", err, tc.after)
				}
			case "perm", "credentials":
				if !errors.As(err, &p) {
					t.Fatalf("got %v, want permanent", err)
				}
				if errors.Is(err, ErrCredentials) != (tc.want == "credentials") {
					t.Fatalf("%v: wraps ErrCredentials = %v", err, errors.Is(err, ErrCredentials))
				}
			}
		})
	}
}

func TestRetryAfterDate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := RetryAfter(now.Add(90*time.Second).Format(http.TimeFormat), now); got != 90*time.Second {
		t.Errorf("got %s", got)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second}
	one := func() float64 { return 0.999999 }
	for attempt, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		if got := b.Delay(attempt, one); got > want*time.Millisecond || got < want*time.Millisecond*99/100 {
			t.Errorf("Delay(%d) = %s, want ≈%dms", attempt, got, want)
		}
	}
	if got := b.Delay(1000, one); got > time.Second {
		t.Errorf("Delay(1000) = %s: overflow", got)
	}
	if got := b.Delay(3, func() float64 { return 0 }); got != 0 {
		t.Errorf("full jitter must reach 0, got %s", got)
	}
}

func TestSecret(t *testing.T) {
	t.Parallel()
	s := Secret("hunter2")
	j, _ := json.Marshal(struct{ P Secret }{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %q %+v %#v", s, s, s, s, s), string(j)} {
		if !strings.Contains(out, "secret") || strings.Contains(out, "hunter2") {
			t.Errorf("leak or missing redaction: %s", out)
		}
	}
}

func TestSplit(t *testing.T) {
	a, b, c := &finding.Finding{EventID: "a"}, &finding.Finding{EventID: "b"}, &finding.Finding{EventID: "c"}
	all := []*finding.Finding{a, b, c}
	cases := []struct {
		name        string
		err         error
		retry, dead int
	}{
		{"ok", nil, 0, 0},
		{"transport", errors.New("eof"), 3, 0},
		{"retry all", &RetryableError{}, 3, 0},
		{"retry some", &RetryableError{Failed: []*finding.Finding{b}}, 1, 0},
		{"permanent all", &PermanentError{}, 0, 3},
		{"permanent some", &PermanentError{Failed: []*finding.Finding{c}}, 0, 1},
		{"both", errors.Join(&PermanentError{Failed: []*finding.Finding{c}}, &RetryableError{}), 2, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, d := Split(all, tc.err)
			if len(r) != tc.retry || len(d) != tc.dead {
				t.Errorf("retry %d dead %d, want %d %d", len(r), len(d), tc.retry, tc.dead)
			}
		})
	}
}
