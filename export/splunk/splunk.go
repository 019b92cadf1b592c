// Package splunk ships findings to a Splunk HTTP Event Collector (HEC).
//
// Each batch is one POST of stacked event objects to
// {URL}/services/collector/event, authenticated with "Authorization: Splunk
// <token>" and tagged with an X-Splunk-Request-Channel GUID. HEC status
// codes are honoured: 503 "server is busy" (code 9), 429 and other 5xx are
// retryable (Retry-After honoured); 400 "invalid data" is permanent for the
// offending event and every other event of the batch is resent at once
// (HEC is said to have indexed the ones before it, but that is not
// documented, so they may be indexed twice rather than lost); 401/403 are permanent with a message naming the
// token problem; 413 splits the batch in halves until it fits.
//
// With UseAck the sink waits for indexer acknowledgement: it polls
// {URL}/services/collector/ack with the ackIds HEC returned until all are
// true or AckTimeout passes, which yields a *export.RetryableError for the
// unacknowledged events. HEC has no idempotency key, so an ack timeout (or a
// connection dropped after HEC read the body) may index an event twice when
// it is resent. The finding, with its stable event_id, is the event body:
// deduplicate in searches with `... | dedup event_id`.
//
// Configuration (Config, ConfigFromEnv):
//
//	Setting          Env var              Default          Description
//	URL              SPLUNK_URL           (required)       HEC base URL, https://host:8088
//	Token            SPLUNK_TOKEN         (required)       HEC token; never printed or logged
//	Index            SPLUNK_INDEX         token's default  target index
//	Source           SPLUNK_SOURCE        source_service   event source
//	Sourcetype       SPLUNK_SOURCETYPE    ttpmap:finding   event sourcetype
//	Channel          SPLUNK_CHANNEL       random GUID      X-Splunk-Request-Channel
//	UseAck           SPLUNK_USE_ACK       false            wait for indexer acknowledgement
//	AckTimeout       SPLUNK_ACK_TIMEOUT   30s              give up waiting (retryable)
//	AckPollInterval  -                    1s               delay between ack polls
//	MinSeverity      SPLUNK_MIN_SEVERITY  (send all)       drop findings below this severity
package splunk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ttpmap/ttpmap/export"
	"github.com/ttpmap/ttpmap/finding"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultSourcetype      = "ttpmap:finding"
	DefaultAckTimeout      = 30 * time.Second
	DefaultAckPollInterval = time.Second
)

// Config configures the HEC sink. Its doc table (Setting | Env var |
// Default) is the field list below.
type Config struct {
	// URL is the HEC base URL, e.g. https://splunk.example:8088 (SPLUNK_URL).
	// A trailing /services/collector[/event] is accepted and stripped.
	URL string
	// Token is the HEC token (SPLUNK_TOKEN); it never prints.
	Token export.Secret
	// Index, Source and Sourcetype set the event metadata (SPLUNK_INDEX,
	// SPLUNK_SOURCE, SPLUNK_SOURCETYPE). Empty Index uses the token's
	// default index; empty Source uses the finding's source_service;
	// Sourcetype defaults to "ttpmap:finding".
	Index, Source, Sourcetype string
	// Channel is the X-Splunk-Request-Channel GUID (SPLUNK_CHANNEL); a
	// random one is generated when empty.
	Channel string
	// UseAck waits for indexer acknowledgement (SPLUNK_USE_ACK); the token
	// must have acknowledgement enabled.
	UseAck bool
	// AckTimeout bounds the wait for acknowledgement (SPLUNK_ACK_TIMEOUT,
	// default 30s); AckPollInterval is the delay between polls (default 1s).
	AckTimeout, AckPollInterval time.Duration
	// MinSeverity drops findings below this severity (SPLUNK_MIN_SEVERITY,
	// default: send all). Findings with an unknown severity are sent.
	MinSeverity string
}

// ConfigFromEnv reads the SPLUNK_* variables through getenv (os.Getenv in
// production). It reports malformed booleans and durations; call Validate
// for the rest.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		URL:         getenv("SPLUNK_URL"),
		Token:       export.Secret(getenv("SPLUNK_TOKEN")),
		Index:       getenv("SPLUNK_INDEX"),
		Source:      getenv("SPLUNK_SOURCE"),
		Sourcetype:  getenv("SPLUNK_SOURCETYPE"),
		Channel:     getenv("SPLUNK_CHANNEL"),
		MinSeverity: getenv("SPLUNK_MIN_SEVERITY"),
	}
	var errs []error
	if v := getenv("SPLUNK_USE_ACK"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("SPLUNK_USE_ACK: %w", err))
		}
		cfg.UseAck = b
	}
	if v := getenv("SPLUNK_ACK_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("SPLUNK_ACK_TIMEOUT: %w", err))
		}
		cfg.AckTimeout = d
	}
	return cfg, errors.Join(errs...)
}

// Enabled reports whether the sink is configured at all (SPLUNK_URL set).
func (c Config) Enabled() bool { return c.URL != "" }

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("splunk: URL is required (SPLUNK_URL)"))
	} else if u, err := url.Parse(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("splunk: URL: %w", err))
	} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("splunk: URL %q: want http(s)://host[:port]", c.URL))
	} else if u.User != nil {
		errs = append(errs, errors.New("splunk: URL must not carry credentials; use SPLUNK_TOKEN"))
	}
	if c.Token == "" {
		errs = append(errs, errors.New("splunk: token is required (SPLUNK_TOKEN)"))
	} else if strings.ContainsAny(string(c.Token), " \t\r\n") {
		errs = append(errs, errors.New("splunk: token contains whitespace"))
	}
	if c.Channel != "" && !guidRE.MatchString(c.Channel) {
		errs = append(errs, fmt.Errorf("splunk: channel %q is not a GUID", c.Channel))
	}
	if c.AckTimeout < 0 {
		errs = append(errs, fmt.Errorf("splunk: negative ack timeout %s", c.AckTimeout))
	}
	if c.AckPollInterval < 0 {
		errs = append(errs, fmt.Errorf("splunk: negative ack poll interval %s", c.AckPollInterval))
	}
	if c.MinSeverity != "" {
		if _, err := export.ParseSeverity(c.MinSeverity); err != nil {
			errs = append(errs, fmt.Errorf("splunk: min severity: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Sink sends findings to HEC. It is safe for concurrent use. Its token is
// held only inside a closure, so printing a Sink never reveals it.
type Sink struct {
	cfg      Config // Token cleared; see authorize
	minSev   int
	eventURL string
	ackURL   string
	client   *http.Client
	log      *slog.Logger
	// authorize sets the Authorization header; the token lives only here.
	authorize func(h http.Header)
	closed    atomic.Bool
}

var _ export.Sink = (*Sink)(nil)

// New validates cfg, applies defaults and returns a sink. A nil client uses
// http.DefaultClient; a nil logger discards.
func New(cfg Config, client *http.Client, logger *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		client = http.DefaultClient
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Sourcetype == "" {
		cfg.Sourcetype = DefaultSourcetype
	}
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.AckPollInterval == 0 {
		cfg.AckPollInterval = DefaultAckPollInterval
	}
	if cfg.Channel == "" {
		cfg.Channel = newGUID()
	}
	if cfg.MinSeverity != "" {
		cfg.MinSeverity = strings.ToLower(strings.TrimSpace(cfg.MinSeverity))
	}
	minSev, _ := export.ParseSeverity(cfg.MinSeverity) // validated; 0 when empty
	base := strings.TrimRight(cfg.URL, "/")
	base = strings.TrimSuffix(base, "/event")
	base = strings.TrimSuffix(base, "/services/collector")
	auth := "Splunk " + string(cfg.Token)
	cfg.Token = ""
	return &Sink{
		cfg:       cfg,
		minSev:    minSev,
		eventURL:  base + "/services/collector/event",
		ackURL:    base + "/services/collector/ack",
		client:    client,
		log:       logger.With("sink", "splunk"),
		authorize: func(h http.Header) { h.Set("Authorization", auth) },
	}, nil
}

// newGUID returns a random (version 4) GUID for X-Splunk-Request-Channel.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Name implements export.Sink.
func (s *Sink) Name() string { return "splunk" }

// String describes the sink without its token.
func (s *Sink) String() string {
	return fmt.Sprintf("splunk(%s, channel %s, ack %t)", s.eventURL, s.cfg.Channel, s.cfg.UseAck)
}

// GoString implements fmt.GoStringer, for %#v.
func (s *Sink) GoString() string { return s.String() }

// Channel returns the X-Splunk-Request-Channel in use.
func (s *Sink) Channel() string { return s.cfg.Channel }

// Close implements export.Sink. Send holds no state between calls, so Close
// only makes later Sends fail.
func (s *Sink) Close(context.Context) error {
	s.closed.Store(true)
	return nil
}

// errClosed is returned by Send after Close.
var errClosed = errors.New("splunk: sink is closed")

// Send implements export.Sink: it delivers batch (minus findings below
// MinSeverity) or returns an error; a *export.RetryableError or
// *export.PermanentError lists the findings concerned in Failed. When some
// findings failed permanently and others retryably, the error joins both
// (errors.Join), each with its own Failed list.
func (s *Sink) Send(ctx context.Context, batch []*finding.Finding) error {
	if s.closed.Load() {
		return errClosed
	}
	batch = s.filter(batch)
	if len(batch) == 0 {
		return nil
	}
	var st sendState
	if err := s.post(ctx, batch, &st); err != nil {
		return err
	}
	if s.cfg.UseAck && len(st.pending) > 0 {
		if err := s.awaitAcks(ctx, st.pending); err != nil {
			var re *export.RetryableError
			if !errors.As(err, &re) {
				return err
			}
			st.retryLater(re, re.Failed)
		}
	}
	return st.result()
}

// filter drops findings below MinSeverity (and nil ones).
func (s *Sink) filter(batch []*finding.Finding) []*finding.Finding {
	if s.minSev == 0 {
		out := batch[:0:0]
		for _, f := range batch {
			if f != nil {
				out = append(out, f)
			}
		}
		return out
	}
	var out []*finding.Finding
	for _, f := range batch {
		if f == nil {
			continue
		}
		if r, err := export.ParseSeverity(f.Severity); err == nil && r < s.minSev {
			continue
		}
		out = append(out, f)
	}
	return out
}

// sendState accumulates the outcome of one Send across 413 splits and
// partial 400s.
type sendState struct {
	pending   map[int64][]*finding.Finding // ackId → findings awaiting ack
	permanent []*finding.Finding
	causes    []error
	retry     []*finding.Finding
	retryErr  *export.RetryableError // the first retryable failure
}

// retryLater records findings to resend; once one part of a batch failed
// retryably the rest is not attempted (see post).
func (st *sendState) retryLater(err *export.RetryableError, fs []*finding.Finding) {
	if st.retryErr == nil {
		st.retryErr = err
	}
	st.retry = append(st.retry, fs...)
}

// result is nil, a *export.PermanentError, a *export.RetryableError or,
// when both kinds occurred, errors.Join of the two: the batcher
// dead-letters the first's Failed and resends the second's.
func (st *sendState) result() error {
	var perm, retry error
	if len(st.permanent) > 0 {
		perm = &export.PermanentError{Err: errors.Join(st.causes...), Failed: st.permanent}
	}
	if len(st.retry) > 0 {
		retry = &export.RetryableError{Err: st.retryErr.Err, After: st.retryErr.After, Failed: st.retry}
	}
	switch {
	case perm != nil && retry != nil:
		return errors.Join(perm, retry)
	case perm != nil:
		return perm
	default:
		return retry
	}
}

// hecResponse is HEC's reply body: {"text":"Success","code":0,"ackId":7}
// or {"text":"Invalid data format","code":6,"invalid-event-number":2}.
type hecResponse struct {
	Text               string `json:"text"`
	Code               *int   `json:"code"`
	AckID              *int64 `json:"ackId"`
	InvalidEventNumber *int   `json:"invalid-event-number"`
}

func (r hecResponse) String() string {
	switch {
	case r.Code != nil && r.Text != "":
		return fmt.Sprintf("HEC code %d: %s", *r.Code, r.Text)
	case r.Code != nil:
		return fmt.Sprintf("HEC code %d", *r.Code)
	default:
		return r.Text
	}
}

// maxBody bounds how much of a response is read and drained.
const maxBody = 1 << 20

// post sends batch, splitting it on 413 and resending the tail after a
// partial 400, and records in st the ackIds, the permanent failures and
// the findings to retry. After a retryable failure (busy, dropped
// connection) it sends nothing more: the rest of the batch is retried too.
// It returns only a context error.
func (s *Sink) post(ctx context.Context, batch []*finding.Finding, st *sendState) error {
	for len(batch) > 0 {
		if st.retryErr != nil {
			st.retry = append(st.retry, batch...)
			return nil
		}
		body, err := s.buildPayload(batch)
		if err != nil {
			st.permanent = append(st.permanent, batch...)
			st.causes = append(st.causes, err)
			return nil
		}
		status, hdr, hr, err := s.do(ctx, s.eventURL, body)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("splunk: send %d events: %w", len(batch), ctx.Err())
			}
			st.retryLater(&export.RetryableError{Err: fmt.Errorf("splunk: send %d events: %w", len(batch), err)}, batch)
			return nil
		}
		switch {
		case status >= 200 && status < 300: // HEC answers 200
			s.log.Debug("batch accepted", "events", len(batch), "ack", hr.AckID != nil)
			if s.cfg.UseAck {
				if hr.AckID == nil {
					s.log.Warn("indexer acknowledgement requested but HEC returned no ackId; enable it on the token", "events", len(batch))
				} else {
					if st.pending == nil {
						st.pending = map[int64][]*finding.Finding{}
					}
					st.pending[*hr.AckID] = append(st.pending[*hr.AckID], batch...)
				}
			}
			return nil
		case status == http.StatusRequestEntityTooLarge:
			if len(batch) == 1 {
				st.permanent = append(st.permanent, batch...)
				st.causes = append(st.causes, fmt.Errorf("splunk: event %s is larger than HEC's max_content_length (%d bytes sent)", batch[0].EventID, len(body)))
				return nil
			}
			half := len(batch) / 2
			s.log.Debug("batch too large, splitting", "events", len(batch), "bytes", len(body))
			if err := s.post(ctx, batch[:half], st); err != nil {
				return err
			}
			batch = batch[half:]
		case status == http.StatusBadRequest && hr.InvalidEventNumber != nil && *hr.InvalidEventNumber >= 0 && *hr.InvalidEventNumber < len(batch):
			// Dead-letter the bad event and resend all the others. HEC is
			// widely reported to have indexed the events before it, but
			// Splunk does not document that; resending them may duplicate
			// (searches dedup on event_id) where skipping them could lose
			// them, and accepted must mean delivered.
			n := *hr.InvalidEventNumber
			st.permanent = append(st.permanent, batch[n])
			st.causes = append(st.causes, fmt.Errorf("splunk: event %s rejected: %s", batch[n].EventID, hr))
			s.log.Debug("event rejected", "event_id", batch[n].EventID, "position", n, "hec", hr.String())
			rest := make([]*finding.Finding, 0, len(batch)-1)
			batch = append(append(rest, batch[:n]...), batch[n+1:]...)
		default:
			var re *export.RetryableError
			var pe *export.PermanentError
			switch err := s.classify(status, hdr, hr, batch); {
			case errors.As(err, &re):
				st.retryLater(re, batch)
			case errors.As(err, &pe):
				st.permanent = append(st.permanent, batch...)
				st.causes = append(st.causes, pe.Err)
			}
			return nil
		}
	}
	return nil
}

// classify turns a non-OK HEC answer into a retryable or permanent error
// for the whole batch, with HEC's own text.
func (s *Sink) classify(status int, hdr http.Header, hr hecResponse, batch []*finding.Finding) error {
	detail := hr.String()
	if detail == "" {
		detail = http.StatusText(status)
	}
	switch {
	case status == http.StatusServiceUnavailable, status == http.StatusTooManyRequests,
		status == http.StatusRequestTimeout, status >= 500:
		return &export.RetryableError{
			Err:    fmt.Errorf("splunk: HEC busy or unavailable (status %d, %s)", status, detail),
			After:  export.RetryAfter(hdr.Get("Retry-After"), time.Now()),
			Failed: batch,
		}
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return &export.PermanentError{
			Err:    fmt.Errorf("splunk: HEC refused the token (status %d, %s): check SPLUNK_TOKEN and that the token is enabled: %w", status, detail, export.ErrCredentials),
			Failed: batch,
		}
	default:
		return &export.PermanentError{
			Err:    fmt.Errorf("splunk: HEC rejected %d events (status %d, %s)", len(batch), status, detail),
			Failed: batch,
		}
	}
}

// do POSTs body to u and returns status, headers and the decoded HEC reply
// (zero when the body is not HEC JSON). The body is always drained and
// closed.
func (s *Sink) do(ctx context.Context, u string, body []byte) (int, http.Header, hecResponse, error) {
	var hr hecResponse
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, hr, fmt.Errorf("build request: %w", err)
	}
	s.authorize(req.Header)
	req.Header.Set("X-Splunk-Request-Channel", s.cfg.Channel)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, hr, err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		_ = resp.Body.Close()
	}()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, hr, fmt.Errorf("read response (status %d): %w", resp.StatusCode, err)
	}
	_ = json.Unmarshal(raw, &hr) // non-JSON bodies (proxies) leave hr zero
	return resp.StatusCode, resp.Header, hr, nil
}

// awaitAcks polls the ack endpoint until every ackId in pending is true or
// AckTimeout passes; then it returns a *export.RetryableError listing the
// findings still unacknowledged. Failed polls (busy, dropped connection, a
// 4xx) are retried until the deadline and reported in the error.
func (s *Sink) awaitAcks(ctx context.Context, pending map[int64][]*finding.Finding) error {
	actx, cancel := context.WithTimeout(ctx, s.cfg.AckTimeout)
	defer cancel()
	var lastErr error
	for {
		ids := make([]int64, 0, len(pending))
		for id := range pending {
			ids = append(ids, id)
		}
		acked, err := s.queryAcks(actx, ids)
		if err != nil {
			lastErr = err
		}
		for _, id := range acked {
			delete(pending, id)
		}
		if len(pending) == 0 {
			return nil
		}
		t := time.NewTimer(s.cfg.AckPollInterval)
		select {
		case <-actx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return fmt.Errorf("splunk: wait for indexer acknowledgement: %w", ctx.Err())
			}
			failed := flatten(pending)
			cause := fmt.Errorf("splunk: %d events not acknowledged by the indexers within %s (resending may duplicate them; dedup on event_id)", len(failed), s.cfg.AckTimeout)
			if lastErr != nil && !errors.Is(lastErr, context.DeadlineExceeded) {
				cause = fmt.Errorf("%w; last poll error: %w", cause, lastErr)
			}
			return &export.RetryableError{Err: cause, Failed: failed}
		case <-t.C:
		}
	}
}

// queryAcks asks HEC which of ids are acknowledged:
// POST {"acks":[1,2]} → {"acks":{"1":true,"2":false}}.
func (s *Sink) queryAcks(ctx context.Context, ids []int64) ([]int64, error) {
	body, err := json.Marshal(struct {
		Acks []int64 `json:"acks"`
	}{ids})
	if err != nil {
		return nil, fmt.Errorf("splunk: encode ack query: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.ackURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("splunk: build ack request: %w", err)
	}
	s.authorize(req.Header)
	req.Header.Set("X-Splunk-Request-Channel", s.cfg.Channel)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("splunk: query acks: %w", err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		_ = resp.Body.Close()
	}()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("splunk: read ack response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var hr hecResponse
		_ = json.Unmarshal(raw, &hr)
		return nil, fmt.Errorf("splunk: ack query: status %d (%s)", resp.StatusCode, hr)
	}
	var ar struct {
		Acks map[string]bool `json:"acks"`
	}
	if err := json.Unmarshal(raw, &ar); err != nil {
		return nil, fmt.Errorf("splunk: decode ack response: %w", err)
	}
	var acked []int64
	for k, ok := range ar.Acks {
		if id, err := strconv.ParseInt(k, 10, 64); err == nil && ok {
			acked = append(acked, id)
		}
	}
	return acked, nil
}

// flatten lists the findings of pending in ackId order.
func flatten(pending map[int64][]*finding.Finding) []*finding.Finding {
	ids := make([]int64, 0, len(pending))
	for id := range pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []*finding.Finding
	for _, id := range ids {
		out = append(out, pending[id]...)
	}
	return out
}
