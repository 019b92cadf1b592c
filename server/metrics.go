package server

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// latencyBuckets are the upper bounds (seconds) of the request histogram.
var latencyBuckets = [...]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// metrics are the service's counters, written in the Prometheus text
// format (version 0.0.4) by hand: a handful of series does not justify a
// client library.
type metrics struct {
	stored   atomic.Int64 // findings stored
	enriched atomic.Int64 // events enriched
	unmapped atomic.Int64 // events with no technique
	reloads  atomic.Int64

	mu       sync.Mutex
	requests map[reqKey]int64
	latency  map[string]*histogram
	refusals map[string]int64
}

type reqKey struct {
	route string
	code  int
}

type histogram struct {
	counts [len(latencyBuckets)]int64
	count  int64
	sum    float64
}

func newMetrics() *metrics {
	return &metrics{requests: map[reqKey]int64{}, latency: map[string]*histogram{}, refusals: map[string]int64{}}
}

func (m *metrics) request(route string, code int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[reqKey{route, code}]++
	h := m.latency[route]
	if h == nil {
		h = &histogram{}
		m.latency[route] = h
	}
	sec := d.Seconds()
	for i, b := range latencyBuckets {
		if sec <= b {
			h.counts[i]++
		}
	}
	h.count++
	h.sum += sec
}

func (m *metrics) refused(reason string) {
	m.mu.Lock()
	m.refusals[reason]++
	m.mu.Unlock()
}

// refusals returns the auth refusal counts by reason (tests, status).
func (m *metrics) refusalCounts() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int64, len(m.refusals))
	for k, v := range m.refusals {
		out[k] = v
	}
	return out
}

// gauge is one exporter-level sample written after the counters.
type gauge struct {
	name, help, kind string
	labels           string
	value            float64
}

func (m *metrics) write(w io.Writer, extra []gauge) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(w, "# HELP ttpmap_http_requests_total HTTP requests by route and status code.\n# TYPE ttpmap_http_requests_total counter\n")
	keys := make([]reqKey, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].route != keys[j].route {
			return keys[i].route < keys[j].route
		}
		return keys[i].code < keys[j].code
	})
	for _, k := range keys {
		fmt.Fprintf(w, "ttpmap_http_requests_total{route=%s,code=\"%d\"} %d\n", strconv.Quote(k.route), k.code, m.requests[k])
	}
	fmt.Fprintf(w, "# HELP ttpmap_http_request_duration_seconds HTTP request latency by route.\n# TYPE ttpmap_http_request_duration_seconds histogram\n")
	routes := make([]string, 0, len(m.latency))
	for r := range m.latency {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for _, r := range routes {
		h := m.latency[r]
		q := strconv.Quote(r)
		for i, b := range latencyBuckets {
			fmt.Fprintf(w, "ttpmap_http_request_duration_seconds_bucket{route=%s,le=\"%g\"} %d\n", q, b, h.counts[i])
		}
		fmt.Fprintf(w, "ttpmap_http_request_duration_seconds_bucket{route=%s,le=\"+Inf\"} %d\n", q, h.count)
		fmt.Fprintf(w, "ttpmap_http_request_duration_seconds_sum{route=%s} %g\n", q, h.sum)
		fmt.Fprintf(w, "ttpmap_http_request_duration_seconds_count{route=%s} %d\n", q, h.count)
	}
	fmt.Fprintf(w, "# HELP ttpmap_auth_refusals_total Refused requests by reason.\n# TYPE ttpmap_auth_refusals_total counter\n")
	reasons := make([]string, 0, len(m.refusals))
	for r := range m.refusals {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(w, "ttpmap_auth_refusals_total{reason=%s} %d\n", strconv.Quote(r), m.refusals[r])
	}
	counter := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	counter("ttpmap_findings_stored_total", "Findings stored (and queued for export).", m.stored.Load())
	counter("ttpmap_events_enriched_total", "Events received for enrichment.", m.enriched.Load())
	counter("ttpmap_events_unmapped_total", "Enriched events no rule mapped to a technique.", m.unmapped.Load())
	counter("ttpmap_rule_reloads_total", "Successful rule reloads.", m.reloads.Load())
	// Samples of one metric stay together (the text format wants each
	// metric's lines in one group).
	var names []string
	byName := map[string][]gauge{}
	for _, g := range extra {
		if _, ok := byName[g.name]; !ok {
			names = append(names, g.name)
		}
		byName[g.name] = append(byName[g.name], g)
	}
	for _, n := range names {
		gs := byName[n]
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", n, gs[0].help, n, gs[0].kind)
		for _, g := range gs {
			fmt.Fprintf(w, "%s{%s} %g\n", g.name, g.labels, g.value)
		}
	}
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var extra []gauge
	for _, st := range s.exporterStatuses(r.Context()) {
		l := "exporter=" + strconv.Quote(st.Name)
		extra = append(extra,
			gauge{"ttpmap_export_queued", "Findings waiting in an exporter's outbox.", "gauge", l, float64(st.Queued)},
			gauge{"ttpmap_export_dead_letters", "Findings an exporter gave up on.", "gauge", l, float64(st.Failed)},
			gauge{"ttpmap_export_sent_total", "Findings delivered since start.", "counter", l, float64(st.Sent)},
			gauge{"ttpmap_export_retries_total", "Findings scheduled again after a failed send, since start.", "counter", l, float64(st.Retried)},
		)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.write(w, extra)
}
