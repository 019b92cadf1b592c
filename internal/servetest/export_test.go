package servetest

import (
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/export/elastic/elastictest"
	"github.com/ttpmap/ttpmap/export/sinktest"
	"github.com/ttpmap/ttpmap/export/splunk/splunktest"
)

func sinkEnv(es *elastictest.Server, hec *splunktest.Server) []string {
	return []string{
		"ELASTIC_URL=" + es.URL, "ELASTIC_API_KEY=" + es.APIKey,
		"SPLUNK_URL=" + hec.URL, "SPLUNK_TOKEN=" + hec.Token, "SPLUNK_USE_ACK=true",
	}
}

// TestServeEnrichStoreListExport drives a real `ttpmap serve` over HTTP:
// enrich → stored → listed → exported to both SIEM fakes.
func TestServeEnrichStoreListExport(t *testing.T) {
	es := elastictest.New(t)
	hec := splunktest.New(t, splunktest.WithAck())
	in := start(t, sinkEnv(es, hec), "--db", filepath.Join(t.TempDir(), "ttpmap.db"))
	analyst := token(t, "analyst")

	var enriched struct {
		EnrichedEvent struct {
			EventID      string   `json:"event_id"`
			TechniqueIDs []string `json:"technique_ids"`
		} `json:"enriched_event"`
		Message string `json:"message"`
	}
	body := []byte(`{"event": {"timestamp": "2024-01-15T10:30:00Z", "source": "192.168.1.100", "destination": "10.0.0.50",
		"event_type": "threat", "severity": "high", "description": "SQL Injection attempt detected"}, "source_service": "traffic_monitor"}`)
	code, err := call(t, "POST", in.URL+"/api/events/enrich", analyst, "application/json", body, &enriched)
	if err != nil || code != 200 {
		t.Fatalf("enrich: %d %v\n%s", code, err, in.logs.String())
	}
	id := enriched.EnrichedEvent.EventID
	if !slices.Contains(enriched.EnrichedEvent.TechniqueIDs, "T1190") || !strings.Contains(enriched.Message, "elastic, splunk") {
		t.Errorf("enrich answer: %+v", enriched)
	}

	var page struct {
		Events []struct {
			EventID string `json:"event_id"`
		} `json:"events"`
	}
	if code, err := call(t, "GET", in.URL+"/api/events/enriched?technique=T1190", analyst, "", nil, &page); err != nil || code != 200 || len(page.Events) != 1 || page.Events[0].EventID != id {
		t.Fatalf("list: %d %v %+v", code, err, page)
	}
	waitFor(t, "both exports", 20*time.Second, func() bool { return es.Created()[id] == 1 && hec.Stored()[id] >= 1 })

	var doc map[string]any
	json.Unmarshal(es.Docs()[id], &doc)
	threat, _ := doc["threat"].(map[string]any)
	if threat == nil || doc["@timestamp"] == nil {
		t.Errorf("ECS document lacks threat/@timestamp: %s", es.Docs()[id])
	}

	var status map[string]struct {
		Enabled     bool       `json:"enabled"`
		URL         string     `json:"url"`
		LastSuccess *time.Time `json:"last_success"`
		Queued      int        `json:"queued"`
	}
	waitFor(t, "status to show the delivery", 10*time.Second, func() bool {
		status = nil
		var raw map[string]json.RawMessage
		call(t, "GET", in.URL+"/api/siem/status", analyst, "", nil, &raw)
		delete(raw, "export_running")
		b, _ := json.Marshal(raw)
		json.Unmarshal(b, &status)
		return status["elastic"].LastSuccess != nil && status["splunk"].LastSuccess != nil && status["elastic"].Queued == 0
	})
	if !status["elastic"].Enabled || status["elastic"].URL != es.URL || !status["splunk"].Enabled {
		t.Errorf("status: %+v", status)
	}

	// Health is open; everything else needs a token.
	if code, _ := call(t, "GET", in.URL+"/healthz", "", "", nil, nil); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	for _, path := range []string{"/api/events/enriched", "/metrics", "/api/siem/status", "/taxii2/", "/api/openapi.json"} {
		if code, _ := call(t, "GET", in.URL+path, "", "", nil, nil); code != 401 {
			t.Errorf("%s without a token: %d, want 401", path, code)
		}
	}
	// No secret in the logs.
	logs := in.logs.String()
	for _, s := range []string{secret, es.APIKey, hec.Token, analyst} {
		if strings.Contains(logs, s) {
			t.Errorf("a secret appears in the service log")
		}
	}
	in.stop()
}

// TestServeFaultInjectionKillRestart is the durability proof: 10,000
// events while both SIEM fakes fail 30% of requests in every way (5xx, 429,
// dropped connections, partial failures, slow and lost responses), and the
// service is killed with SIGKILL halfway and restarted. Afterwards every
// finding is in Elasticsearch exactly once by _id and in Splunk at least
// once.
func TestServeFaultInjectionKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("long: 10,000 events with fault injection")
	}
	kindsES := []sinktest.Fault{
		{Status: 503}, {Status: 429, RetryAfter: "1"}, {Drop: true}, {Partial: 429},
		{Delay: 300 * time.Millisecond}, {LoseResponse: true},
	}
	kindsHEC := []sinktest.Fault{
		{Status: 503}, {Drop: true}, {Partial: 503}, {Delay: 300 * time.Millisecond}, {LoseResponse: true},
	}
	fes, fhec := &sinktest.Faults{}, &sinktest.Faults{}
	fes.Random(0.3, 1, kindsES...)
	fhec.Random(0.3, 2, kindsHEC...)
	es := elastictest.New(t, elastictest.WithFaults(fes))
	hec := splunktest.New(t, splunktest.WithAck(), splunktest.WithFaults(fhec))
	db := filepath.Join(t.TempDir(), "ttpmap.db")
	args := []string{"--db", db, "--export-lease", "10s", "--export-batch", "200"}
	in := start(t, sinkEnv(es, hec), args...)
	current := func() string { return in.URL }
	analyst := token(t, "analyst")

	const total, batch = 10_000, 100
	var ids []string
	begin := time.Now()
	for first := 0; first < total; first += batch {
		if first == total/2 {
			in.kill() // SIGKILL: no shutdown, leases held, batches in flight
			in = start(t, sinkEnv(es, hec), args...)
		}
		ids = append(ids, postUntilAccepted(t, current, analyst, alerts(first, batch))...)
	}
	posted := time.Since(begin)
	distinct := map[string]bool{}
	for _, id := range ids {
		distinct[id] = true
	}
	if len(distinct) != total {
		t.Fatalf("%d distinct findings for %d distinct events", len(distinct), total)
	}
	waitFor(t, "every finding in both SIEMs", 5*time.Minute, func() bool {
		return hasAll(es.Created(), ids) && hasAll(hec.Stored(), ids)
	})
	drained := time.Since(begin)

	created := es.Created()
	if len(created) != total {
		t.Errorf("elasticsearch holds %d ids, want %d", len(created), total)
	}
	for id, n := range created {
		if !distinct[id] {
			t.Errorf("unexpected _id %s in elasticsearch", id)
		}
		if n != 1 {
			t.Errorf("_id %s created %d times", id, n)
		}
	}
	stored := hec.Stored()
	dupes := 0
	for _, id := range ids {
		dupes += stored[id] - 1
	}
	if len(stored) != total {
		t.Errorf("splunk holds %d event ids, want %d", len(stored), total)
	}
	overwrites := 0
	for _, n := range es.Overwrites() {
		overwrites += n
	}
	esStats, hecStats := fes.Stats(), fhec.Stats()
	t.Logf("fault injection: %d events posted in %s (one SIGKILL + restart), all exported after %s", total, posted.Round(time.Millisecond), drained.Round(time.Millisecond))
	t.Logf("elasticsearch: %d requests, %d faulted (%.0f%%); %d ids each created once; %d idempotent overwrites (re-sends absorbed by _id)",
		esStats.Requests, esStats.Injected, 100*float64(esStats.Injected)/float64(max(esStats.Requests, 1)), len(created), overwrites)
	t.Logf("splunk HEC: %d event posts, %d faulted (%.0f%%); %d event ids indexed, %d duplicate deliveries (HEC has no idempotent id)",
		hecStats.Requests, hecStats.Injected, 100*float64(hecStats.Injected)/float64(max(hecStats.Requests, 1)), len(stored), dupes)

	// The restarted service reports an empty outbox and no dead letters.
	var status map[string]json.RawMessage
	call(t, "GET", in.URL+"/api/siem/status", analyst, "", nil, &status)
	for _, name := range []string{"elastic", "splunk"} {
		var st struct{ Queued, Failed int }
		json.Unmarshal(status[name], &st)
		if st.Failed != 0 {
			t.Errorf("%s: %d dead letters", name, st.Failed)
		}
	}
	in.stop()
}

// TestServeRedisQueueSharedByTwoInstances runs two services with their
// own databases on one Redis Streams outbox: both take export work, and
// every finding reaches Elasticsearch exactly once.
func TestServeRedisQueueSharedByTwoInstances(t *testing.T) {
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skipf("redis-server not installed (.ci/run installs it): %v", err)
	}
	port := freePort(t)
	redis := exec.Command(redisBin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := redis.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { redis.Process.Kill(); redis.Wait() })
	queueURL := fmt.Sprintf("redis://127.0.0.1:%d/0", port)

	es := elastictest.New(t)
	hec := splunktest.New(t)
	env := sinkEnv(es, hec)
	waitFor(t, "redis-server to listen", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	a := start(t, env, "--db", filepath.Join(t.TempDir(), "a.db"), "--queue", queueURL, "--export-batch", "50")
	b := start(t, env, "--db", filepath.Join(t.TempDir(), "b.db"), "--queue", queueURL, "--export-batch", "50")
	analyst := token(t, "analyst")

	var ids []string
	for i := range 20 {
		target := a
		if i%2 == 1 {
			target = b
		}
		ids = append(ids, postUntilAccepted(t, func() string { return target.URL }, analyst, alerts(i*100, 100))...)
	}
	waitFor(t, "every finding in elasticsearch", 60*time.Second, func() bool { return hasAll(es.Created(), ids) })
	for id, n := range es.Created() {
		if n != 1 {
			t.Errorf("%s created %d times", id, n)
		}
	}
	sent := func(in *instance) int64 {
		var status map[string]json.RawMessage
		call(t, "GET", in.URL+"/api/siem/status", analyst, "", nil, &status)
		var st struct{ Sent int64 }
		json.Unmarshal(status["elastic"], &st)
		return st.Sent
	}
	sa, sb := sent(a), sent(b)
	if sa == 0 || sb == 0 || sa+sb < int64(len(ids)) {
		t.Errorf("export work: instance a sent %d, b sent %d, of %d", sa, sb, len(ids))
	}
	t.Logf("redis streams: %d findings, instance a exported %d, instance b %d", len(ids), sa, sb)
	var ready struct{ Checks map[string]string }
	call(t, "GET", a.URL+"/readyz", "", "", nil, &ready)
	if ready.Checks["queue"] != "ok" {
		t.Errorf("readyz: %+v", ready)
	}
	a.stop()
	b.stop()
}
