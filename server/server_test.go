package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/export/deliver"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/rules"
	"github.com/ttpmap/ttpmap/server/auth"
	"github.com/ttpmap/ttpmap/sigma"
	"github.com/ttpmap/ttpmap/store"
)

const testSecret = "test-secret-0123456789-abcdefghijklmnop"

// memSink records what it is sent (an in-process exporter).
type memSink struct {
	mu  sync.Mutex
	got map[string]int
}

func (m *memSink) Name() string                { return "elastic" }
func (m *memSink) Close(context.Context) error { return nil }
func (m *memSink) Send(_ context.Context, fs []*finding.Finding) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range fs {
		m.got[f.EventID]++
	}
	return nil
}

func (m *memSink) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.got)
}

type harness struct {
	t       testing.TB
	url     string
	srv     *Server
	sink    *memSink
	analyst string
	admin   string
	logs    *bytes.Buffer
}

var kbOnce = sync.OnceValues(attack.Embedded)

func builtinRules() ([]*sigma.Rule, error) {
	var out []*sigma.Rule
	for _, fsys := range []fs.FS{rules.FS(), rules.AlertsFS()} {
		rr, errs := sigma.LoadFS(fsys, ".")
		if len(errs) > 0 {
			return nil, errs[0]
		}
		out = append(out, rr...)
	}
	return out, nil
}

func newHarness(t testing.TB, tweak func(*Config)) *harness {
	t.Helper()
	return newHarnessWith(t, store.Options{}, tweak)
}

// newHarnessWith is newHarness over a store opened with opts.
func newHarnessWith(t testing.TB, opts store.Options, tweak func(*Config)) *harness {
	t.Helper()
	kb, err := kbOnce()
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenWith(filepath.Join(t.TempDir(), "ttpmap.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	v, err := auth.New(auth.Config{Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{got: map[string]int{}}
	loop, err := deliver.New(sink, st, deliver.Config{Idle: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	var logMu sync.Mutex
	cfg := Config{
		Store: st, KB: kb, Rules: builtinRules, Verifier: v,
		Exporters: []Exporter{{Name: "elastic", URL: "http://es.example:9200", Loop: loop}},
		ScanDir:   t.TempDir(),
		Logger:    slog.New(slog.NewTextHandler(lockedWriter{&logMu, logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	mint := func(role string) string {
		tok, err := auth.Mint([]byte(testSecret), role, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	return &harness{t: t, url: hs.URL, srv: srv, sink: sink, analyst: mint("analyst"), admin: mint("admin"), logs: logs}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// do sends a request with the bearer token (none when token is "") and
// returns the status and body.
func (h *harness) do(method, path, token, contentType string, body io.Reader) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (h *harness) postJSON(path, token, body string) (int, []byte) {
	return h.do("POST", path, token, "application/json", strings.NewReader(body))
}

const sqliAlert = `{"event": {"timestamp": "2024-01-15T10:30:00Z", "source": "192.168.1.100", "destination": "10.0.0.50",
 "event_type": "threat", "severity": "high", "description": "SQL Injection attempt detected"}, "source_service": "traffic_monitor"}`

func TestEnrichGenericAlertStoredListedExported(t *testing.T) {
	h := newHarness(t, nil)
	code, body := h.postJSON("/api/events/enrich", h.analyst, sqliAlert)
	if code != 200 {
		t.Fatalf("enrich: %d %s", code, body)
	}
	var resp enrichResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	f := resp.EnrichedEvent
	if !slices.Contains(f.TechniqueIDs, "T1190") {
		t.Errorf("technique_ids = %v, want T1190", f.TechniqueIDs)
	}
	if f.ConfidenceScore <= 0 || f.ConfidenceScore > 0.9 {
		t.Errorf("confidence %.2f: a text match must be honest (0 < c ≤ 0.9)", f.ConfidenceScore)
	}
	if f.Source != "192.168.1.100" || f.Destination != "10.0.0.50" || f.SourceService != "traffic_monitor" || f.Severity != "high" || f.EventType != "threat" {
		t.Errorf("alert fields not kept: %+v", f)
	}
	if len(f.Metadata.TechniqueDetails) == 0 || f.Metadata.TechniqueDetails[0].URL == "" {
		t.Errorf("no technique details: %+v", f.Metadata)
	}

	// Stored and listed.
	code, body = h.do("GET", "/api/events/enriched?technique=T1190", h.analyst, "", nil)
	var list struct {
		Events []finding.Finding `json:"events"`
		Count  int               `json:"count"`
	}
	if err := json.Unmarshal(body, &list); code != 200 || err != nil || list.Count != 1 || list.Events[0].EventID != f.EventID {
		t.Fatalf("list: %d %s", code, body)
	}
	code, _ = h.do("GET", "/api/events/enriched/"+f.EventID, h.analyst, "", nil)
	if code != 200 {
		t.Errorf("get by id: %d", code)
	}
	// Exported by the loop.
	deadline := time.Now().Add(5 * time.Second)
	for h.sink.count() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if h.sink.count() != 1 {
		t.Errorf("exported %d findings, want 1", h.sink.count())
	}
	// Re-posting the same alert is idempotent: same id, nothing new queued.
	_, body = h.postJSON("/api/events/enrich", h.analyst, sqliAlert)
	var again enrichResponse
	json.Unmarshal(body, &again)
	if again.EnrichedEvent == nil || again.EnrichedEvent.EventID != f.EventID {
		t.Errorf("re-post gave a different id")
	}
	if n, _ := h.srv.cfg.Store.Count(context.Background()); n != 1 {
		t.Errorf("store holds %d findings after a re-post, want 1", n)
	}
}

func TestEnrichUnmappableIsStoredWithoutTechniques(t *testing.T) {
	h := newHarness(t, nil)
	code, body := h.postJSON("/api/events/enrich", h.analyst, `{"event": {"description": "backup job finished in 42 minutes", "severity": "low"}, "source_service": "behavioral_analysis"}`)
	if code != 200 {
		t.Fatalf("enrich: %d %s", code, body)
	}
	var resp enrichResponse
	json.Unmarshal(body, &resp)
	if resp.EnrichedEvent == nil || resp.EnrichedEvent.TechniqueIDs == nil || len(resp.EnrichedEvent.TechniqueIDs) != 0 || resp.EnrichedEvent.ConfidenceScore != 0 {
		t.Fatalf("unmappable event: %s", body)
	}
	if !strings.Contains(string(body), `"technique_ids":[]`) {
		t.Error(`technique_ids must be written as []`)
	}
	if ts := resp.EnrichedEvent.Timestamp; time.Since(ts) > time.Minute {
		t.Errorf("an event without a time gets the receive time, not %v", ts)
	}
	if n, _ := h.srv.cfg.Store.Count(context.Background()); n != 1 {
		t.Errorf("unmappable event not stored")
	}
}

func TestEnrichRawWindowsEvent(t *testing.T) {
	h := newHarness(t, nil)
	raw := `{"@timestamp":"2026-11-20T10:00:00Z","winlog":{"channel":"Security","event_id":"1102","provider_name":"Microsoft-Windows-Eventlog","computer_name":"dc01.corp.local","user_data":{"SubjectUserName":"mallory","SubjectDomainName":"CORP"}},"event":{"code":"1102"}}`
	code, body := h.postJSON("/api/events/enrich", h.analyst, raw)
	if code != 200 {
		t.Fatalf("enrich: %d %s", code, body)
	}
	var resp enrichResponse
	json.Unmarshal(body, &resp)
	if !slices.Contains(resp.EnrichedEvent.TechniqueIDs, "T1070.001") || resp.EnrichedEvent.Host != "dc01.corp.local" {
		t.Errorf("raw 1102 event: %s", body)
	}
	// Wrapped in the brief's envelope, the same record maps the same way.
	code, body = h.postJSON("/api/events/enrich", h.analyst, `{"event":`+raw+`,"source_service":"winlogbeat"}`)
	json.Unmarshal(body, &resp)
	if code != 200 || !slices.Contains(resp.EnrichedEvent.TechniqueIDs, "T1070.001") || resp.EnrichedEvent.SourceService != "winlogbeat" {
		t.Errorf("wrapped raw event: %d %s", code, body)
	}
}

func TestEnrichRejectsBadBodies(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxBody = 2048; c.MaxBatch = 3 })
	cases := []struct {
		name, path, ctype, body string
		want                    int
	}{
		{"not json", "/api/events/enrich", "application/json", `{"event": `, 422},
		{"array to single", "/api/events/enrich", "application/json", `[{}]`, 400},
		{"wrong type", "/api/events/enrich", "application/xml", `<a/>`, 415},
		{"too large", "/api/events/enrich", "application/json", `{"event":{"description":"` + strings.Repeat("a", 4096) + `"}}`, 413},
		{"batch too many", "/api/events/enrich/batch", "application/x-ndjson", strings.Repeat(`{"event":{"description":"x"}}`+"\n", 4), 413},
		{"batch empty", "/api/events/enrich/batch", "application/json", ``, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := h.do("POST", tc.path, h.analyst, tc.ctype, strings.NewReader(tc.body))
			if code != tc.want {
				t.Errorf("%d %s, want %d", code, body, tc.want)
			}
			var e apiError
			if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
				t.Errorf("error body %q is not {error, message}", body)
			}
		})
	}
}

func TestEnrichBatchNDJSONAndArray(t *testing.T) {
	h := newHarness(t, nil)
	nd := `{"event": {"description": "Nmap port scan detected from 10.20.0.9", "source": "10.20.0.9"}}
{"event": {"description": "SSH brute force: 250 failed logins for root", "source": "198.51.100.7"}}
not json at all
`
	code, body := h.do("POST", "/api/events/enrich/batch", h.analyst, "application/x-ndjson", strings.NewReader(nd))
	var resp batchResponse
	if err := json.Unmarshal(body, &resp); code != 200 || err != nil {
		t.Fatalf("batch: %d %s", code, body)
	}
	if resp.Received != 3 || resp.Failed != 1 || resp.Results[2].Error == "" {
		t.Errorf("batch outcome: %s", body)
	}
	if !slices.Contains(resp.Results[0].TechniqueIDs, "T1046") || !slices.Contains(resp.Results[1].TechniqueIDs, "T1110") {
		t.Errorf("batch techniques: %s", body)
	}
	arr := `[{"event": {"description": "decoy credential used: honeytoken account svc_backup logged on"}}, {"event": {"description": "all quiet"}}]`
	code, body = h.postJSON("/api/events/enrich/batch", h.analyst, arr)
	json.Unmarshal(body, &resp)
	if code != 200 || resp.Received != 2 || resp.Failed != 0 || !slices.Contains(resp.Results[0].TechniqueIDs, "T1078") || len(resp.Results[1].TechniqueIDs) != 0 {
		t.Errorf("array batch: %d %s", code, body)
	}
}

func TestAuthRefusals(t *testing.T) {
	h := newHarness(t, nil)
	expired, err := auth.Mint([]byte(testSecret), "analyst", time.Minute, time.Now().Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := auth.Mint([]byte("another-secret-0123456789-abcdefghijkl"), "admin", time.Hour, time.Now())
	b64 := base64.RawURLEncoding.EncodeToString
	none := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64([]byte(fmt.Sprintf(`{"role":"admin","exp":%d}`, time.Now().Add(time.Hour).Unix()))) + "."
	cases := []struct {
		name, method, path, token string
		want                      int
	}{
		{"no token", "GET", "/api/events/enriched", "", 401},
		{"expired", "GET", "/api/events/enriched", expired, 401},
		{"wrong signature", "GET", "/api/events/enriched", other, 401},
		{"alg none", "GET", "/api/events/enriched", none, 401},
		{"garbage", "GET", "/api/siem/status", "not.a.jwt", 401},
		{"analyst on admin route", "POST", "/api/rules/reload", h.analyst, 403},
		{"analyst deletes", "DELETE", "/api/events/enriched/x", h.analyst, 403},
		{"metrics need auth", "GET", "/metrics", "", 401},
		{"taxii-less 404 still needs nothing", "GET", "/healthz", "", 200},
		{"admin reloads", "POST", "/api/rules/reload", h.admin, 200},
		{"analyst reads", "GET", "/api/siem/status", h.analyst, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := h.do(tc.method, tc.path, tc.token, "", nil)
			if code != tc.want {
				t.Errorf("%d %s, want %d", code, body, tc.want)
			}
		})
	}
	got := h.srv.metrics.refusalCounts()
	for reason, min := range map[string]int64{"missing": 2, "expired": 1, "signature": 1, "algorithm": 1, "forbidden": 2} {
		if got[reason] < min {
			t.Errorf("refusals[%s] = %d, want ≥ %d (all: %v)", reason, got[reason], min, got)
		}
	}
	_, body := h.do("GET", "/metrics", h.analyst, "", nil)
	if !strings.Contains(string(body), `ttpmap_auth_refusals_total{reason="expired"} 1`) {
		t.Errorf("metrics lack the refusal counters:\n%s", body)
	}
}

func TestNoSecretInLogsOrResponses(t *testing.T) {
	h := newHarness(t, nil)
	bad, _ := auth.Mint([]byte("leaky-secret-0123456789-abcdefghijklmn"), "admin", time.Hour, time.Now())
	var bodies []byte
	for _, req := range []struct{ method, path, token string }{
		{"GET", "/api/siem/status", h.analyst},
		{"GET", "/api/events/enriched", bad},
		{"GET", "/metrics", h.admin},
		{"POST", "/api/rules/reload", h.admin},
		{"GET", "/readyz", ""},
		{"GET", "/api/openapi.json", h.analyst},
	} {
		_, b := h.do(req.method, req.path, req.token, "", nil)
		bodies = append(bodies, b...)
	}
	h.postJSON("/api/events/enrich", h.admin, sqliAlert)
	all := string(bodies) + h.logs.String()
	for _, secret := range []string{testSecret, h.analyst, h.admin, bad, "leaky-secret"} {
		if strings.Contains(all, secret) {
			t.Errorf("a secret or token appears in a response or log")
		}
	}
	if !strings.Contains(string(bodies), `"url":"http://es.example:9200"`) {
		t.Errorf("status lacks the exporter url: %s", bodies)
	}
}

func TestSiemStatusShape(t *testing.T) {
	h := newHarness(t, nil)
	_, body := h.do("GET", "/api/siem/status", h.analyst, "", nil)
	var st map[string]json.RawMessage
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"elastic", "splunk", "export_running"} {
		if _, ok := st[k]; !ok {
			t.Errorf("status lacks %q: %s", k, body)
		}
	}
	var es, sp ExporterStatus
	json.Unmarshal(st["elastic"], &es)
	json.Unmarshal(st["splunk"], &sp)
	if !es.Enabled || sp.Enabled || string(st["export_running"]) != "true" {
		t.Errorf("status: %s", body)
	}
	// Pausing the exporter (admin) shows in the status.
	code, body := h.do("PUT", "/api/siem/elastic", h.admin, "application/json", strings.NewReader(`{"enabled": false}`))
	if code != 200 || !strings.Contains(string(body), `"paused":true`) {
		t.Errorf("pause: %d %s", code, body)
	}
	_, body = h.do("GET", "/api/siem/status", h.analyst, "", nil)
	if !strings.Contains(string(body), `"export_running":false`) {
		t.Errorf("paused exporter still running: %s", body)
	}
}

func TestScanUploadJob(t *testing.T) {
	h := newHarness(t, nil)
	csv, err := os.ReadFile(filepath.Join("..", "testdata", "attack-story.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "attack-story.csv")
	fw.Write(csv)
	mw.Close()
	code, body := h.do("POST", "/api/scan", h.analyst, mw.FormDataContentType(), &buf)
	if code != 202 {
		t.Fatalf("scan: %d %s", code, body)
	}
	var started struct{ ID string }
	json.Unmarshal(body, &started)
	job := h.waitJob(started.ID)
	if job.Status != "done" || job.Records != 34 || job.Findings < 30 || job.Techniques["T1110.001"] == 0 {
		t.Fatalf("job: %+v", job)
	}
	if n, _ := h.srv.cfg.Store.Count(context.Background()); int64(n) != job.Findings {
		t.Errorf("store holds %d findings, job says %d", n, job.Findings)
	}
	// A file that is no log fails with a clear reason.
	code, body = h.do("POST", "/api/scan?name=notes.txt", h.analyst, "application/octet-stream", strings.NewReader("just some notes\n"))
	json.Unmarshal(body, &started)
	job = h.waitJob(started.ID)
	if code != 202 || job.Status != "failed" || !strings.Contains(job.Error, "not a log format") {
		t.Errorf("non-log upload: %d %+v", code, job)
	}
	// A name that tries to leave the job folder is replaced.
	for _, name := range []string{"..", "../../etc/passwd", "/"} {
		code, body := h.do("POST", "/api/scan?name="+url.QueryEscape(name), h.analyst, "application/octet-stream", bytes.NewReader(csv))
		json.Unmarshal(body, &started)
		if code != 202 {
			t.Fatalf("upload named %q: %d %s", name, code, body)
		}
		job, _, _ := h.srv.jobs.snapshot(context.Background(), started.ID)
		if strings.Contains(job.File, "..") || strings.Contains(job.File, "/") {
			t.Errorf("upload named %q kept as %q", name, job.File)
		}
	}
	if code, _ := h.do("GET", "/api/scan/nope", h.analyst, "", nil); code != 404 {
		t.Errorf("unknown job: %d", code)
	}
}

// waitJob polls GET /api/scan/{id} until the job has ended (30 s at most).
func (h *harness) waitJob(id string) Job {
	h.t.Helper()
	var job Job
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, body := h.do("GET", "/api/scan/"+id, h.analyst, "", nil)
		if code != http.StatusOK {
			h.t.Fatalf("scan job %s: %d %s", id, code, body)
		}
		job = Job{}
		if err := json.Unmarshal(body, &job); err != nil {
			h.t.Fatal(err)
		}
		if !job.active() || time.Now().After(deadline) {
			return job
		}
	}
}

// TestScanJobsOutliveRestart: a finished job's record is read from the
// store by the next server; a job the last server left running is marked
// interrupted and its upload removed.
func TestScanJobsOutliveRestart(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "ttpmap.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	scanDir := t.TempDir()
	sameStore := func(c *Config) { c.Store, c.Exporters, c.ScanDir = st, nil, scanDir }
	csv, err := os.ReadFile(filepath.Join("..", "testdata", "attack-story.csv"))
	if err != nil {
		t.Fatal(err)
	}
	h1 := newHarness(t, sameStore)
	code, body := h1.do("POST", "/api/scan?name=attack-story.csv", h1.analyst, "text/csv", bytes.NewReader(csv))
	var started struct{ ID string }
	if err := json.Unmarshal(body, &started); err != nil || code != 202 {
		t.Fatalf("scan: %d %s", code, body)
	}
	done := h1.waitJob(started.ID)
	if done.Status != "done" || done.Findings == 0 {
		t.Fatalf("job: %+v", done)
	}
	// What a killed server leaves: a running job's record and its upload.
	killed := Job{ID: newJobID(), File: "big.evtx", Status: "running", Created: time.Now().UTC()}
	if err := st.PutRecord(context.Background(), jobKind, killed.ID, killed, keptJobs); err != nil {
		t.Fatal(err)
	}
	upload := filepath.Join(scanDir, killed.ID)
	if err := os.MkdirAll(upload, 0o700); err != nil {
		t.Fatal(err)
	}
	h1.srv.Close()

	h2 := newHarness(t, sameStore)
	again := h2.waitJob(started.ID)
	if again.Status != "done" || again.Findings != done.Findings || again.Records != done.Records ||
		!maps.Equal(again.Techniques, done.Techniques) || len(again.EventIDs) != len(done.EventIDs) {
		t.Errorf("after restart: %+v\nbefore: %+v", again, done)
	}
	if got := h2.waitJob(killed.ID); got.Status != "failed" || !strings.HasPrefix(got.Error, "interrupted") || got.Finished == nil {
		t.Errorf("job left running: %+v", got)
	}
	if _, err := os.Stat(upload); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("upload of the interrupted job: %v", err)
	}
}

func TestTechniqueAndHealth(t *testing.T) {
	h := newHarness(t, nil)
	h.postJSON("/api/events/enrich", h.analyst, sqliAlert)
	code, body := h.do("GET", "/api/attack/techniques/t1190", h.analyst, "", nil)
	var tr techniqueResponse
	if err := json.Unmarshal(body, &tr); code != 200 || err != nil || tr.Name != "Exploit Public-Facing Application" || tr.Findings != 1 || len(tr.Groups) == 0 {
		t.Errorf("technique: %d %s", code, body)
	}
	if code, _ := h.do("GET", "/api/attack/techniques/T9999", h.analyst, "", nil); code != 404 {
		t.Errorf("unknown technique: %d", code)
	}
	if code, body := h.do("GET", "/readyz", "", "", nil); code != 200 || !strings.Contains(string(body), `"store":"ok"`) {
		t.Errorf("readyz: %d %s", code, body)
	}
	if code, _ := h.do("GET", "/api/coverage", h.analyst, "", nil); code != 404 {
		t.Errorf("coverage without a provider: %d", code)
	}
}

func TestListPaging(t *testing.T) {
	h := newHarness(t, nil)
	var nd strings.Builder
	for i := range 25 {
		fmt.Fprintf(&nd, `{"event": {"timestamp": "2026-01-01T00:%02d:00Z", "description": "port scan from 10.0.0.%d", "source": "10.0.0.%d"}}`+"\n", i, i, i)
	}
	if code, body := h.do("POST", "/api/events/enrich/batch", h.analyst, "application/x-ndjson", strings.NewReader(nd.String())); code != 200 {
		t.Fatalf("batch: %d %s", code, body)
	}
	seen := map[string]bool{}
	cursor := ""
	for page := 0; page < 10; page++ {
		_, body := h.do("GET", "/api/events/enriched?limit=10&cursor="+cursor, h.analyst, "", nil)
		var resp struct {
			Events     []finding.Finding `json:"events"`
			NextCursor string            `json:"next_cursor"`
		}
		json.Unmarshal(body, &resp)
		for _, f := range resp.Events {
			if seen[f.EventID] {
				t.Errorf("%s listed twice", f.EventID)
			}
			seen[f.EventID] = true
		}
		if cursor = resp.NextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != 25 {
		t.Errorf("cursor pages listed %d of 25", len(seen))
	}
	_, body := h.do("GET", "/api/events/enriched?limit=5&offset=20", h.analyst, "", nil)
	var resp struct {
		Count int `json:"count"`
	}
	json.Unmarshal(body, &resp)
	if resp.Count != 5 {
		t.Errorf("offset 20 of 25 gave %d, want 5: %s", resp.Count, body)
	}
	for _, q := range []string{"limit=0", "limit=5000", "since=yesterday", "severity=extreme", "offset=-1"} {
		if code, _ := h.do("GET", "/api/events/enriched?"+q, h.analyst, "", nil); code != 400 {
			t.Errorf("%s: %d, want 400", q, code)
		}
	}
}

func TestUnknownAPIRouteIsJSON(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Web = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/login", http.StatusSeeOther) })
	})
	if code, _ := h.do("GET", "/api/nope", "", "", nil); code != 401 {
		t.Errorf("unknown API route without a token: %d, want 401", code)
	}
	code, body := h.do("GET", "/api/nope", h.analyst, "", nil)
	if code != 404 || !strings.Contains(string(body), `"not_found"`) {
		t.Errorf("unknown API route: %d %s", code, body)
	}
	if code, _ := h.do("GET", "/api/events/enriched", h.analyst, "", nil); code != 200 {
		t.Errorf("known route shadowed: %d", code)
	}
}

// TestMetricsTextFormat checks the exposition: one HELP/TYPE per metric,
// each metric's samples in one group right after its TYPE line.
func TestMetricsTextFormat(t *testing.T) {
	h := newHarness(t, nil)
	h.postJSON("/api/events/enrich", h.analyst, sqliAlert)
	h.do("GET", "/api/events/enriched", "", "", nil)
	_, body := h.do("GET", "/metrics", h.analyst, "", nil)
	typed := map[string]bool{}
	current := ""
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			current = strings.Fields(rest)[0]
			if typed[current] {
				t.Errorf("metric %s typed twice", current)
			}
			typed[current] = true
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		base := name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suf); ok && typed[b] {
				base = b
			}
		}
		if base != current {
			t.Errorf("sample %q outside its metric's group (current %s)", line, current)
		}
	}
	for _, want := range []string{"ttpmap_http_requests_total", "ttpmap_export_queued", "ttpmap_findings_stored_total", "ttpmap_auth_refusals_total"} {
		if !typed[want] {
			t.Errorf("metric %s missing", want)
		}
	}
}

func TestCoverageIsGzippedOnRequest(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Coverage = func(ctx context.Context, rs []*sigma.Rule) (any, error) {
			return map[string]any{"rules": len(rs), "padding": strings.Repeat("x", 10000)}, nil
		}
	})
	req, _ := http.NewRequest("GET", h.url+"/api/coverage", nil)
	req.Header.Set("Authorization", "Bearer "+h.analyst)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Rules int }
	if err := json.NewDecoder(zr).Decode(&doc); err != nil || doc.Rules < 200 {
		t.Errorf("coverage body: %+v, %v", doc, err)
	}
	// Without Accept-Encoding: plain JSON.
	code, body := h.do("GET", "/api/coverage", h.analyst, "", nil)
	if code != 200 || !strings.HasPrefix(string(body), `{"padding"`) {
		t.Errorf("plain coverage: %d %.40s", code, body)
	}
}
