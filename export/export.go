// Package export defines what every SIEM sink (Elastic, Splunk, …) shares:
// the Sink interface, the retryable and permanent error kinds the batcher
// acts on, HTTP status classification, backoff with jitter, severity ranks
// and the Secret type for credentials.
package export

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"log/slog"

	"github.com/ttpmap/ttpmap/finding"
)

// Sink ships findings to one destination.
type Sink interface {
	// Name identifies the sink in logs and status ("elastic", "splunk").
	Name() string
	// Send delivers the whole batch or returns an error, typically a
	// *RetryableError or *PermanentError naming the findings that failed.
	// Sending the same finding twice must not duplicate it (the sink keys
	// on EventID).
	Send(ctx context.Context, batch []*finding.Finding) error
	// Close releases the sink's resources; it does not flush (the batcher does).
	Close(ctx context.Context) error
}

// RetryableError says the batch, or only the findings in Failed when it is
// non-empty, may be sent again after After (0 = use the batcher's backoff).
type RetryableError struct {
	Err    error
	After  time.Duration
	Failed []*finding.Finding
}

func (e *RetryableError) Error() string {
	msg := "retryable export error"
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.After > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.After)
	}
	return msg
}

// Unwrap returns the cause.
func (e *RetryableError) Unwrap() error { return e.Err }

// PermanentError says the findings in Failed (the whole batch when empty)
// will never be accepted, e.g. a 4xx other than 408/429; dead-letter them.
type PermanentError struct {
	Err    error
	Failed []*finding.Finding
}

func (e *PermanentError) Error() string {
	if e.Err == nil {
		return "permanent export error"
	}
	return "permanent export error: " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *PermanentError) Unwrap() error { return e.Err }

// Severity ranks, from ParseSeverity.
const (
	SeverityInformational = 1
	SeverityLow           = 2
	SeverityMedium        = 3
	SeverityHigh          = 4
	SeverityCritical      = 5
)

// ParseSeverity returns the rank of informational (also "info"), low,
// medium, high or critical (1..5), ignoring case and surrounding spaces, or
// an error on anything else, including the empty string.
func ParseSeverity(s string) (int, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "informational", "info":
		return SeverityInformational, nil
	case "low":
		return SeverityLow, nil
	case "medium":
		return SeverityMedium, nil
	case "high":
		return SeverityHigh, nil
	case "critical":
		return SeverityCritical, nil
	}
	return 0, fmt.Errorf("unknown severity %q (want informational, low, medium, high or critical)", s)
}

// Split sorts a batch by the error its Send returned into the findings to
// send again and the findings to dead-letter; the rest were delivered. A
// *PermanentError's Failed are dead (all when empty); a *RetryableError's
// Failed are retried (all when empty; with a permanent error joined, all
// but the dead); transport and unclassified errors retry the whole batch.
func Split(batch []*finding.Finding, err error) (retry, dead []*finding.Finding) {
	if err == nil {
		return nil, nil
	}
	var perm *PermanentError
	var re *RetryableError
	isPerm, isRetry := errors.As(err, &perm), errors.As(err, &re)
	switch {
	case isPerm:
		dead = perm.Failed
		if len(dead) == 0 {
			dead = batch
		}
		if isRetry {
			retry = re.Failed
			if len(retry) == 0 {
				retry = Without(batch, dead)
			}
		}
	case isRetry:
		retry = re.Failed
		if len(retry) == 0 {
			retry = batch
		}
	default:
		retry = batch
	}
	return retry, dead
}

// Without returns the findings of all whose event ids are in none of drop.
func Without(all []*finding.Finding, drop ...[]*finding.Finding) []*finding.Finding {
	skip := map[string]bool{}
	for _, d := range drop {
		for _, f := range d {
			skip[f.EventID] = true
		}
	}
	var out []*finding.Finding
	for _, f := range all {
		if !skip[f.EventID] {
			out = append(out, f)
		}
	}
	return out
}

// ErrCredentials is wrapped by a sink's error when the peer refused its
// credentials (401, 403): the fault is the configuration, not the
// findings, so the durable export loop keeps them queued instead of
// dead-lettering them.
var ErrCredentials = errors.New("the peer refused the credentials")

// ClassifyHTTP turns a response status into nil (2xx), a *RetryableError
// (408, 429, 5xx; Retry-After honoured) or a *PermanentError (anything
// else; wrapping ErrCredentials for 401 and 403), with failed as the
// findings concerned. It reads neither the body nor closes it: the caller
// drains and closes resp.Body.
func ClassifyHTTP(resp *http.Response, failed []*finding.Finding) error {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	cause := fmt.Errorf("http status %d %s", code, http.StatusText(code))
	if code == http.StatusUnauthorized || code == http.StatusForbidden {
		cause = fmt.Errorf("%w: %w", cause, ErrCredentials)
	}
	if code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 {
		return &RetryableError{Err: cause, After: RetryAfter(resp.Header.Get("Retry-After"), time.Now()), Failed: failed}
	}
	return &PermanentError{Err: cause, Failed: failed}
}

// RetryAfter parses a Retry-After header value: delay-seconds or an HTTP
// date (relative to now). It returns 0 when absent, malformed or past.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Backoff is exponential backoff with full jitter, capped at Max. Zero
// fields default to 200ms and 30s.
type Backoff struct{ Base, Max time.Duration }

// Delay returns the wait before retry number attempt (0 for the first
// retry): a uniformly random duration in [0, min(Max, Base·2^attempt)).
// rnd returns values in [0,1); nil uses math/rand/v2.
func (b Backoff) Delay(attempt int, rnd func() float64) time.Duration {
	base, maxd := b.Base, b.Max
	if base <= 0 {
		base = 200 * time.Millisecond
	}
	if maxd <= 0 {
		maxd = 30 * time.Second
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	ceiling := maxd
	if attempt < 0 {
		attempt = 0
	}
	if attempt < 62 {
		if d := base << attempt; d > 0 && d>>attempt == base && d < maxd {
			ceiling = d
		}
	}
	r := rnd()
	if r < 0 || r >= 1 {
		r = 0
	}
	return time.Duration(float64(ceiling) * r)
}

// Secret is a credential that prints, logs and marshals as "<secret>".
// Convert with string(s) where the real value is needed.
type Secret string

const redacted = "<secret>"

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer, for %#v.
func (s Secret) GoString() string { return `"` + redacted + `"` }

// MarshalText implements encoding.TextMarshaler (JSON, YAML map keys, slog).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalYAML implements yaml.Marshaler (gopkg.in/yaml.v3).
func (s Secret) MarshalYAML() (any, error) { return redacted, nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }
