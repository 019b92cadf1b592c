package splunk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/export"
)

// roundTrip answers every request with a fixed status and body.
type roundTrip struct {
	status     int
	event, ack []byte
}

func (rt roundTrip) RoundTrip(r *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, r.Body)
	body := rt.event
	if r.URL.Path == "/services/collector/ack" {
		body = rt.ack
	}
	return &http.Response{
		StatusCode: rt.status,
		Header:     http.Header{"Retry-After": {"1"}},
		Body:       io.NopCloser(bytes.NewReader(body)),
		Request:    r,
	}, nil
}

// FuzzResponse feeds arbitrary HEC replies to Send: it must never panic,
// and every error must be a retryable or permanent export error whose
// Failed list is a subset of the batch.
func FuzzResponse(f *testing.F) {
	seeds := []struct {
		status     int
		event, ack string
	}{
		{200, `{"text":"Success","code":0}`, ``},
		{200, `{"text":"Success","code":0,"ackId":3}`, `{"acks":{"3":true}}`},
		{200, `{"text":"Success","code":0,"ackId":-1}`, `{"acks":{"-1":false,"x":true}}`},
		{503, `{"text":"Server is busy","code":9}`, ``},
		{400, `{"text":"Invalid data format","code":6,"invalid-event-number":1}`, ``},
		{400, `{"text":"Invalid data format","code":6,"invalid-event-number":-5}`, ``},
		{400, `{"text":"Invalid data format","code":6,"invalid-event-number":99}`, ``},
		{413, `{"text":"Content too large"}`, ``},
		{401, `<html>`, ``},
		{200, `{"ackId":"7"}`, `{"acks":[true]}`},
	}
	for _, s := range seeds {
		f.Add(s.status, []byte(s.event), []byte(s.ack))
	}
	f.Fuzz(func(t *testing.T, status int, event, ack []byte) {
		if status < 100 || status > 599 {
			return
		}
		cfg := testConfig("http://hec.invalid:8088")
		cfg.UseAck = true
		cfg.AckTimeout = 3 * time.Millisecond
		cfg.AckPollInterval = time.Millisecond
		sink, err := New(cfg, &http.Client{Transport: roundTrip{status, event, ack}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		batch := testFindings("a", "b", "c")
		err = sink.Send(context.Background(), batch)
		if err == nil {
			return
		}
		var re *export.RetryableError
		var pe *export.PermanentError
		var failedIDs []string
		switch {
		case errors.As(err, &re):
			failedIDs = eventIDs(re.Failed)
		case errors.As(err, &pe):
			failedIDs = eventIDs(pe.Failed)
		default:
			t.Fatalf("status %d: unclassified error %v", status, err)
		}
		if len(failedIDs) == 0 || len(failedIDs) > len(batch) {
			t.Fatalf("status %d: failed %v not a non-empty subset of the batch", status, failedIDs)
		}
	})
}
