package server

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/store"
)

// loadClients is the number of concurrent HTTP clients of the load
// benchmarks: enough to keep both cores busy, bounded so the run is.
const loadClients = 8

// BenchmarkLoadEnrich is the bounded loopback load test: b.N distinct
// generic alerts POSTed to /api/events/enrich by loadClients clients, each
// authenticated, enriched, stored in SQLite and queued for export before the
// 200, under both store sync modes. It reports sustained requests/s and the
// p99 latency.
func BenchmarkLoadEnrich(b *testing.B) {
	for _, sm := range []struct {
		name string
		mode store.Sync
	}{{"sync=full", store.SyncFull}, {"sync=normal", store.SyncNormal}} {
		b.Run(sm.name, func(b *testing.B) { loadEnrich(b, newHarnessWith(b, store.Options{Sync: sm.mode}, nil)) })
	}
}

func loadEnrich(b *testing.B, h *harness) {
	kinds := []string{"SQL Injection attempt detected", "Nmap port scan detected", "SSH brute force: failed logins", "backup finished"}
	load(b, h, func(i int) (*http.Request, error) {
		body := fmt.Sprintf(`{"event":{"timestamp":"2026-11-23T10:00:00Z","source":"10.%d.%d.%d","description":"%s #%d"},"source_service":"bench"}`,
			(i>>16)&255, (i>>8)&255, i&255, kinds[i%len(kinds)], i)
		req, err := http.NewRequest("POST", h.url+"/api/events/enrich", strings.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+h.analyst)
		}
		return req, err
	})
}

// BenchmarkLoadBaseline is the same load on a cheap authenticated read
// (one ATT&CK lookup and one indexed count): the floor that HTTP, JWT
// verification and JSON set on this machine, for the ratio.
func BenchmarkLoadBaseline(b *testing.B) {
	h := newHarness(b, func(c *Config) { c.Exporters = nil })
	load(b, h, func(i int) (*http.Request, error) {
		req, err := http.NewRequest("GET", h.url+"/api/attack/techniques/T1190", nil)
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+h.analyst)
		}
		return req, err
	})
}

func load(b *testing.B, h *harness, mk func(i int) (*http.Request, error)) {
	tr := &http.Transport{MaxIdleConnsPerHost: loadClients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range loadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				req, err := mk(i)
				if err != nil {
					failed.Add(1)
					continue
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				lat[i] = time.Since(t0)
				if err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	slices.Sort(lat)
	p := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}
