package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/ttpmap/ttpmap/export"
	"github.com/ttpmap/ttpmap/export/batch"
	"github.com/ttpmap/ttpmap/export/elastic"
	"github.com/ttpmap/ttpmap/export/splunk"
	"github.com/ttpmap/ttpmap/finding"
)

// exportFlushTimeout bounds how long a one-shot push waits for the sinks to
// take the last batches after the scan.
const exportFlushTimeout = 2 * time.Minute

// pusher sends a scan's findings to the sinks named by --export, configured
// from the environment (ELASTIC_*, SPLUNK_*), through one batcher each.
type pusher struct {
	names    []string
	batchers []*batch.Batcher
}

func newPusher(names []string, log *slog.Logger) (*pusher, error) {
	p := &pusher{}
	for _, name := range names {
		sink, _, err := newSink(name, os.Getenv, log)
		if err != nil {
			return nil, err
		}
		b, err := batch.New(sink, batch.Config{
			Logger: log.With("sink", sink.Name()),
			DeadLetter: func(failed []*finding.Finding, reason error) {
				log.Warn("findings not exported", "sink", sink.Name(), "count", len(failed), "err", reason)
			},
		})
		if err != nil {
			return nil, err
		}
		p.names = append(p.names, name)
		p.batchers = append(p.batchers, b)
	}
	return p, nil
}

// newSink builds the sink called name from the environment (ELASTIC_*,
// SPLUNK_*) and returns it with its URL for display (no credentials).
func newSink(name string, getenv func(string) string, log *slog.Logger) (export.Sink, string, error) {
	client := &http.Client{Timeout: 60 * time.Second}
	switch name {
	case "elastic":
		cfg := elastic.ConfigFromEnv(getenv)
		if !cfg.Enabled() {
			return nil, "", &usageError{"elastic needs ELASTIC_URL (and ELASTIC_API_KEY or ELASTIC_USERNAME/ELASTIC_PASSWORD)"}
		}
		s, err := elastic.New(cfg, client, log)
		if err != nil {
			return nil, "", fmt.Errorf("elastic: %w", err)
		}
		return s, displayURL(getenv("ELASTIC_URL")), nil
	case "splunk":
		cfg, err := splunk.ConfigFromEnv(getenv)
		if err != nil {
			return nil, "", fmt.Errorf("splunk: %w", err)
		}
		if !cfg.Enabled() {
			return nil, "", &usageError{"splunk needs SPLUNK_URL and SPLUNK_TOKEN"}
		}
		s, err := splunk.New(cfg, client, log)
		if err != nil {
			return nil, "", fmt.Errorf("splunk: %w", err)
		}
		return s, displayURL(getenv("SPLUNK_URL")), nil
	}
	return nil, "", &usageError{fmt.Sprintf("unknown --export %q (want elastic or splunk)", name)}
}

// displayURL drops userinfo, query and fragment so a URL can be shown.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// add queues f for every sink; it blocks while a sink's queue is full.
func (p *pusher) add(ctx context.Context, f *finding.Finding) error {
	for _, b := range p.batchers {
		if err := b.Add(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// close flushes every sink, reports what each took on w, and returns an
// error when some findings could not be exported.
func (p *pusher) close(ctx context.Context, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, exportFlushTimeout)
	defer cancel()
	var errs []error
	for i, b := range p.batchers {
		if err := b.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.names[i], err))
		}
		st := b.Stats()
		fmt.Fprintf(w, "export %s: %d sent in %d requests (%d retries), %d not exported\n",
			p.names[i], st.Sent, st.Batches, st.Retries, st.DeadLettered)
		if st.DeadLettered > 0 {
			errs = append(errs, fmt.Errorf("%s: %d findings not exported", p.names[i], st.DeadLettered))
		}
	}
	return errors.Join(errs...)
}
