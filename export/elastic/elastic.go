package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/export"
	"github.com/ttpmap/ttpmap/finding"
)

// maxErrorBody caps how much of an error response is read into a message.
const maxErrorBody = 4 << 10

// Sink sends findings to Elasticsearch's _bulk API. It is safe for
// concurrent use.
type Sink struct {
	cfg     Config
	minRank int // 0 = send everything
	client  *http.Client
	ownHTTP bool
	log     *slog.Logger
	kb      *attack.KB
	bulkURL string
}

var _ export.Sink = (*Sink)(nil)

// New returns a Sink for cfg after applying defaults and validating it.
// client nil uses a client of its own; log nil discards.
func New(cfg Config, client *http.Client, log *slog.Logger) (*Sink, error) {
	if cfg.Index == "" {
		cfg.Index = DefaultIndex
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("elastic config: %w", err)
	}
	s := &Sink{cfg: cfg, client: client, log: log, bulkURL: strings.TrimRight(cfg.URL, "/") + "/_bulk"}
	if cfg.MinSeverity != "" {
		s.minRank, _ = export.ParseSeverity(cfg.MinSeverity) // validated above
	}
	if s.client == nil {
		s.client = &http.Client{}
		s.ownHTTP = true
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("sink", s.Name())
	kb, err := attack.Embedded()
	if err != nil {
		return nil, fmt.Errorf("elastic: load ATT&CK: %w", err)
	}
	s.kb = kb
	return s, nil
}

// Name returns "elastic".
func (s *Sink) Name() string { return "elastic" }

// Close releases idle connections of a client the sink created.
func (s *Sink) Close(context.Context) error {
	if s.ownHTTP {
		s.client.CloseIdleConnections()
	}
	return nil
}

// Send indexes batch with one _bulk request (split in halves on 413). It
// returns nil when every finding is stored; otherwise a *export.RetryableError
// naming the findings to send again, a *export.PermanentError naming those
// never to be accepted, or both joined (retryable first).
func (s *Sink) Send(ctx context.Context, batch []*finding.Finding) error {
	var keep []*finding.Finding
	for _, f := range batch {
		if f == nil || !s.wanted(f) {
			continue
		}
		keep = append(keep, f)
	}
	if len(keep) == 0 {
		return nil
	}
	var o outcome
	s.send(ctx, keep, &o)
	return o.err()
}

// wanted applies MinSeverity; a finding with an unknown severity is sent.
func (s *Sink) wanted(f *finding.Finding) bool {
	if s.minRank == 0 {
		return true
	}
	r, err := export.ParseSeverity(f.Severity)
	return err != nil || r >= s.minRank
}

// outcome accumulates the failures of one Send across 413 splits.
type outcome struct {
	retry, perm       []*finding.Finding
	retryErr, permErr error
	after             time.Duration
}

func (o *outcome) addRetry(fs []*finding.Finding, after time.Duration, err error) {
	o.retry = append(o.retry, fs...)
	o.after = max(o.after, after)
	if o.retryErr == nil {
		o.retryErr = err
	}
}

func (o *outcome) addPerm(fs []*finding.Finding, err error) {
	o.perm = append(o.perm, fs...)
	if o.permErr == nil {
		o.permErr = err
	}
}

func (o *outcome) err() error {
	var errs []error
	if len(o.retry) > 0 {
		errs = append(errs, &export.RetryableError{Err: o.retryErr, After: o.after, Failed: o.retry})
	}
	if len(o.perm) > 0 {
		errs = append(errs, &export.PermanentError{Err: o.permErr, Failed: o.perm})
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

// send posts chunk and records its failures in o.
func (s *Sink) send(ctx context.Context, chunk []*finding.Finding, o *outcome) {
	var body bytes.Buffer
	sent := make([]*finding.Finding, 0, len(chunk))
	for _, f := range chunk {
		if err := appendItem(&body, s.cfg.Index, s.kb, f); err != nil {
			o.addPerm([]*finding.Finding{f}, err)
			continue
		}
		sent = append(sent, f)
	}
	if len(sent) == 0 {
		return
	}
	resp, err := s.post(ctx, body.Bytes())
	if err != nil {
		o.addRetry(sent, 0, fmt.Errorf("elastic bulk request: %w", err))
		return
	}
	defer drain(resp.Body)

	if resp.StatusCode == http.StatusRequestEntityTooLarge {
		if len(sent) == 1 {
			o.addPerm(sent, fmt.Errorf("elastic bulk: document %s too large (413)", sent[0].EventID))
			return
		}
		drain(resp.Body)
		half := len(sent) / 2
		s.send(ctx, sent[:half], o)
		s.send(ctx, sent[half:], o)
		return
	}
	if cerr := export.ClassifyHTTP(resp, sent); cerr != nil {
		msg := readSnippet(resp.Body)
		var r *export.RetryableError
		if errors.As(cerr, &r) {
			o.addRetry(sent, r.After, fmt.Errorf("elastic bulk: %w%s", r.Err, msg))
		} else {
			o.addPerm(sent, fmt.Errorf("elastic bulk: %w%s", errors.Unwrap(cerr), msg))
		}
		return
	}
	s.items(resp, sent, o)
}

func (s *Sink) post(ctx context.Context, body []byte) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.bulkURL, bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Accept", "application/json")
	switch {
	case s.cfg.APIKey != "":
		req.Header.Set("Authorization", "ApiKey "+string(s.cfg.APIKey))
	case s.cfg.Username != "":
		req.SetBasicAuth(string(s.cfg.Username), string(s.cfg.Password))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// bulkResponse is the part of a _bulk response the sink reads.
type bulkResponse struct {
	Errors bool                         `json:"errors"`
	Items  []map[string]bulkItemOutcome `json:"items"`
}

type bulkItemOutcome struct {
	ID     string `json:"_id"`
	Status int    `json:"status"`
	Error  *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

// items reads a 2xx _bulk response and sorts the failed items of sent.
func (s *Sink) items(resp *http.Response, sent []*finding.Finding, o *outcome) {
	var br bulkResponse
	if err := json.NewDecoder(resp.Body).Decode(&br); err != nil {
		o.addRetry(sent, 0, fmt.Errorf("elastic bulk: decode response: %w", err))
		return
	}
	if !br.Errors {
		return
	}
	if len(br.Items) != len(sent) {
		o.addRetry(sent, 0, fmt.Errorf("elastic bulk: %d items in response for %d documents", len(br.Items), len(sent)))
		return
	}
	after := export.RetryAfter(resp.Header.Get("Retry-After"), time.Now())
	for i, item := range br.Items {
		var it bulkItemOutcome
		for _, v := range item { // one key: the action name
			it = v
		}
		code := it.Status
		if code >= 200 && code < 300 || code == http.StatusConflict {
			continue // 409: a document with this _id already exists
		}
		reason := fmt.Sprintf("status %d", code)
		if it.Error != nil {
			reason = fmt.Sprintf("status %d %s: %s", code, it.Error.Type, it.Error.Reason)
		}
		err := fmt.Errorf("elastic bulk item %s: %s", it.ID, reason)
		if code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500 || code == 0 {
			o.addRetry(sent[i:i+1], after, err)
		} else {
			o.addPerm(sent[i:i+1], err)
		}
	}
}

// readSnippet returns ": <start of body>" for error messages, or "".
func readSnippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, maxErrorBody))
	t := strings.TrimSpace(string(b))
	if t == "" {
		return ""
	}
	return ": " + strings.Join(strings.Fields(t), " ")
}

// drain reads what is left of body (bounded) and closes it, so the
// connection can be reused.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 1<<20))
	_ = body.Close()
}
