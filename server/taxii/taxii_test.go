package taxii

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/export/stix"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/store"
)

var kbOnce = sync.OnceValues(attack.Embedded)

func testKB(t testing.TB) *attack.KB {
	t.Helper()
	kb, err := kbOnce()
	if err != nil {
		t.Fatal(err)
	}
	return kb
}

// techniques of the test findings; two spellings of T1059.001 share one
// attack-pattern, and some findings have none.
var techniques = [][]string{
	{"T1059.001"}, {"T1003", "T1078"}, {"attack.t1059.001"}, nil, {"T1190"}, {"T1078"}, {"T1021.002", "T1003"},
}

func mkFinding(i int) *finding.Finding {
	return &finding.Finding{
		EventID:      fmt.Sprintf("ev-%03d", i),
		Timestamp:    time.Date(2024, 5, 1, 12, 0, i, 0, time.UTC),
		Source:       fmt.Sprintf("10.0.0.%d", i%5),
		TechniqueIDs: techniques[i%len(techniques)],
		EventType:    "alert",
		Severity:     "high",
		Description:  fmt.Sprintf("finding %d", i),
		Host:         "HOST",
		User:         "alice",
		RuleID:       fmt.Sprintf("rule-%d", i%3),
		RuleTitle:    "test rule",
	}
}

// env is a handler over a temporary store holding findings stored in
// batches, with the batches' findings.
type env struct {
	h        http.Handler
	s        *store.Store
	batches  [][]*finding.Finding
	enriched []string // texts Enrich was called with
	mu       sync.Mutex
}

// newEnv stores n findings in batches of 5, a few milliseconds apart so
// that each batch has its own stored_at.
func newEnv(t *testing.T, n int, edit func(*Config)) *env {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "ttpmap.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e := &env{s: s}
	for i := 0; i < n; i += 5 {
		var batch []*finding.Finding
		for j := i; j < min(i+5, n); j++ {
			batch = append(batch, mkFinding(j))
		}
		if err := s.Put(context.Background(), batch, nil); err != nil {
			t.Fatal(err)
		}
		e.batches = append(e.batches, batch)
		time.Sleep(3 * time.Millisecond)
	}
	cfg := Config{
		Findings: s, Objects: s, Statuses: s, KB: testKB(t),
		Enrich: func(_ context.Context, text string) ([]string, float64) {
			e.mu.Lock()
			e.enriched = append(e.enriched, text)
			e.mu.Unlock()
			if strings.Contains(strings.ToLower(text), "sql injection") {
				return []string{"t1190", "T1190", "not-a-technique"}, 0.8
			}
			return nil, 0
		},
		OnError: func(_ *http.Request, err error) { t.Errorf("internal error: %v", err) },
	}
	if edit != nil {
		edit(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	return e
}

// do sends a request with a TAXII Accept header unless headers set one.
func (e *env) do(t *testing.T, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "http://example.com"+path, strings.NewReader(body))
	r.Header.Set("Accept", MediaTAXII)
	if body != "" {
		r.Header.Set("Content-Type", MediaTAXII)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// decode checks the reply's status and media type and decodes its body.
func decode[T any](t *testing.T, w *httptest.ResponseRecorder, code int) T {
	t.Helper()
	if w.Code != code {
		t.Fatalf("status %d, want %d: %s", w.Code, code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != MediaTAXII {
		t.Errorf("Content-Type %q", ct)
	}
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", w.Body, err)
	}
	return v
}

type envelopeIn struct {
	More    bool             `json:"more"`
	Next    string           `json:"next"`
	Objects []map[string]any `json:"objects"`
}

// allBundle returns the ids of export/stix's bundle of every finding.
func (e *env) allBundle(t *testing.T) []string {
	b := stix.NewBundler(testKB(t), stix.Options{})
	for _, batch := range e.batches {
		for _, f := range batch {
			b.Add(f)
		}
	}
	var ids []string
	for _, o := range b.Bundle().Objects {
		ids = append(ids, o.ID)
	}
	slices.Sort(ids)
	return ids
}

// pages follows next links and returns every object's id in order.
func (e *env) pages(t *testing.T, path string) (ids []string, objs []map[string]any) {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	next := ""
	for n := 0; ; n++ {
		if n > 500 {
			t.Fatal("pagination does not end")
		}
		p := path
		if next != "" {
			p += sep + "next=" + next
		}
		w := e.do(t, "GET", p, "")
		env := decode[envelopeIn](t, w, http.StatusOK)
		if len(env.Objects) > 0 && w.Header().Get("X-TAXII-Date-Added-First") == "" {
			t.Error("no X-TAXII-Date-Added-First")
		}
		for _, o := range env.Objects {
			ids = append(ids, o["id"].(string))
			objs = append(objs, o)
		}
		if !env.More {
			if env.Next != "" {
				t.Errorf("next %q on the last page", env.Next)
			}
			return ids, objs
		}
		next = env.Next
	}
}

func TestDiscoveryAndRoot(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0, nil)
	d := decode[map[string]any](t, e.do(t, "GET", "/taxii2/", ""), http.StatusOK)
	if d["default"] != "http://example.com/taxii2/api/" || fmt.Sprint(d["api_roots"]) != "[http://example.com/taxii2/api/]" {
		t.Errorf("discovery %v", d)
	}
	root := decode[map[string]any](t, e.do(t, "GET", "/taxii2/api/", ""), http.StatusOK)
	if fmt.Sprint(root["versions"]) != "["+MediaTAXII+"]" || root["max_content_length"] != float64(DefaultMaxBody) {
		t.Errorf("api root %v", root)
	}
}

func TestCollections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0, nil)
	cs := decode[struct{ Collections []collectionInfo }](t, e.do(t, "GET", "/taxii2/api/collections/", ""), http.StatusOK)
	if len(cs.Collections) != 2 || cs.Collections[0].ID != FindingsID || cs.Collections[0].CanWrite || !cs.Collections[1].CanWrite {
		t.Errorf("collections %+v", cs)
	}
	c := decode[collectionInfo](t, e.do(t, "GET", "/taxii2/api/collections/ttpmap-shared/", ""), http.StatusOK)
	if c.ID != SharedID || !c.CanRead || !c.CanWrite || c.MediaTypes[0] != MediaSTIX {
		t.Errorf("shared %+v", c)
	}
	ro := newEnv(t, 0, func(c *Config) { c.CanWrite = func(*http.Request) bool { return false } })
	c = decode[collectionInfo](t, ro.do(t, "GET", "/taxii2/api/collections/ttpmap-shared/", ""), http.StatusOK)
	if c.CanWrite {
		t.Error("can_write despite CanWrite false")
	}
	decode[taxiiError](t, ro.do(t, "POST", "/taxii2/api/collections/ttpmap-shared/objects/", `{"objects":[]}`), http.StatusForbidden)
}

func TestFindingsPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 23, nil)
	want := e.allBundle(t)
	for _, limit := range []int{1, 2, 3, 7, 100, 1000} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			t.Parallel()
			got, _ := e.pages(t, fmt.Sprintf("/taxii2/api/collections/ttpmap-findings/objects/?limit=%d", limit))
			sorted := slices.Sorted(slices.Values(got))
			if !slices.Equal(sorted, want) {
				t.Errorf("limit %d: %d objects, want %d (each once)", limit, len(got), len(want))
			}
		})
	}
	// Repeated reads give identical objects (stable versions).
	a := e.do(t, "GET", "/taxii2/api/collections/ttpmap-findings/objects/", "").Body.String()
	if b := e.do(t, "GET", "/taxii2/api/collections/ttpmap-findings/objects/", "").Body.String(); a != b {
		t.Error("two reads differ")
	}
}

func TestFindingsAddedAfter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 15, nil)
	type manifest struct {
		More    bool
		Objects []manifestEntry
	}
	all := decode[manifest](t, e.do(t, "GET", "/taxii2/api/collections/ttpmap-findings/manifest/", ""), http.StatusOK)
	w := e.do(t, "GET", "/taxii2/api/collections/ttpmap-findings/objects/?match[type]=indicator&limit=5", "")
	cut := w.Header().Get("X-TAXII-Date-Added-Last") // end of the first batch
	if cut == "" || w.Header().Get("X-TAXII-Date-Added-First") != cut {
		t.Fatalf("first batch dates %q %q", w.Header().Get("X-TAXII-Date-Added-First"), cut)
	}
	var want []string
	for _, m := range all.Objects {
		if m.DateAdded > cut {
			want = append(want, m.ID)
		}
		if m.MediaType != MediaSTIX || m.Version == "" {
			t.Errorf("manifest entry %+v", m)
		}
	}
	if len(want) == 0 || len(want) == len(all.Objects) {
		t.Fatalf("cut %s keeps %d of %d", cut, len(want), len(all.Objects))
	}
	got, objs := e.pages(t, "/taxii2/api/collections/ttpmap-findings/objects/?limit=4&added_after="+cut)
	if !slices.Equal(got, want) {
		t.Errorf("added_after: got %d objects, want %d", len(got), len(want))
	}
	for _, o := range objs {
		if o["type"] == "indicator" && slices.Contains([]string{"finding 0", "finding 4"}, o["description"].(string)) {
			t.Errorf("first batch's %v after cut", o["description"])
		}
	}
}

func TestFindingsMatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 12, nil)
	_, objs := e.pages(t, "/taxii2/api/collections/ttpmap-findings/objects/")
	byType := map[string][]string{}
	for _, o := range objs {
		byType[o["type"].(string)] = append(byType[o["type"].(string)], o["id"].(string))
	}
	if len(byType["indicator"]) != 12 || len(byType["sighting"]) != 12 || len(byType["identity"]) != 1 || len(byType["attack-pattern"]) != 5 {
		t.Fatalf("types %v", byType)
	}
	var every []string
	for _, o := range objs {
		every = append(every, o["id"].(string))
	}
	ap := byType["attack-pattern"][3]
	ind := byType["indicator"][7]
	tests := []struct {
		query string
		want  []string
	}{
		{"match[type]=indicator&limit=5", byType["indicator"]},
		{"match[type]=identity,attack-pattern", append(slices.Clone(byType["identity"]), byType["attack-pattern"]...)},
		{"match[id]=" + ap + "&match[id]=" + ind + ",indicator--00000000-0000-4000-8000-000000000000", []string{ap, ind}},
		{"match[id]=" + ind + "&match[type]=sighting", nil},
		{"match[version]=first,last", every},
		{"match[spec_version]=2.0", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, _ := e.pages(t, "/taxii2/api/collections/ttpmap-findings/objects/?"+tt.query)
			if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(tt.want))) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// One object, by id and by version.
	one := decode[envelopeIn](t, e.do(t, "GET", "/taxii2/api/collections/ttpmap-findings/objects/"+ind+"/", ""), http.StatusOK)
	if len(one.Objects) != 1 || one.Objects[0]["id"] != ind {
		t.Fatalf("get %s: %+v", ind, one)
	}
	mod := one.Objects[0]["modified"].(string)
	got, _ := e.pages(t, "/taxii2/api/collections/ttpmap-findings/objects/"+ind+"/?match[version]="+mod)
	if len(got) != 1 {
		t.Errorf("match[version]=%s: %v", mod, got)
	}
	vers := decode[struct{ Versions []string }](t, e.do(t, "GET", "/taxii2/api/collections/ttpmap-findings/objects/"+ind+"/versions/", ""), http.StatusOK)
	if !slices.Equal(vers.Versions, []string{mod}) {
		t.Errorf("versions %v, want [%s]", vers.Versions, mod)
	}
	decode[taxiiError](t, e.do(t, "GET", "/taxii2/api/collections/ttpmap-findings/objects/indicator--00000000-0000-4000-8000-000000000000/", ""), http.StatusNotFound)
}

func TestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3, func(c *Config) { c.MaxBody = 100 })
	objects := "/taxii2/api/collections/ttpmap-shared/objects/"
	tests := []struct {
		name, method, path, body string
		headers                  []string
		code                     int
	}{
		{"accept html", "GET", "/taxii2/", "", []string{"Accept", "text/html"}, 406},
		{"accept taxii 2.0", "GET", "/taxii2/", "", []string{"Accept", "application/taxii+json;version=2.0"}, 406},
		{"accept q=0", "GET", "/taxii2/", "", []string{"Accept", "application/taxii+json;q=0"}, 406},
		{"accept stix", "GET", "/taxii2/", "", []string{"Accept", "text/html, application/stix+json;version=2.1"}, 200},
		{"accept any", "GET", "/taxii2/", "", []string{"Accept", "*/*"}, 200},
		{"accept taxii no version", "GET", "/taxii2/", "", []string{"Accept", "application/taxii+json"}, 200},
		{"json post", "POST", objects, `{"objects":[]}`, []string{"Content-Type", "application/json"}, 415},
		{"stix 2.0 post", "POST", objects, `{"objects":[]}`, []string{"Content-Type", "application/taxii+json;version=2.0"}, 415},
		{"post read-only", "POST", "/taxii2/api/collections/ttpmap-findings/objects/", `{"objects":[]}`, nil, 403},
		{"post unknown collection", "POST", "/taxii2/api/collections/nope/objects/", `{"objects":[]}`, nil, 404},
		{"too large", "POST", objects, `{"objects":[` + strings.Repeat(" ", 200) + `]}`, nil, 413},
		{"not json", "POST", objects, `{"objects":`, nil, 400},
		{"not an object", "POST", objects, `[1]`, nil, 400},
		{"objects not a list", "POST", objects, `{"objects":{}}`, nil, 400},
		{"unknown collection", "GET", "/taxii2/api/collections/nope/objects/", "", nil, 404},
		{"unknown collection info", "GET", "/taxii2/api/collections/nope/", "", nil, 404},
		{"unknown manifest", "GET", "/taxii2/api/collections/nope/manifest/", "", nil, 404},
		{"unknown path", "GET", "/taxii2/nope/", "", nil, 404},
		{"wrong method", "DELETE", "/taxii2/api/collections/", "", nil, 405},
		{"bad limit", "GET", "/taxii2/api/collections/ttpmap-findings/objects/?limit=x", "", nil, 400},
		{"zero limit", "GET", "/taxii2/api/collections/ttpmap-findings/objects/?limit=0", "", nil, 400},
		{"bad added_after", "GET", objects + "?added_after=yesterday", "", nil, 400},
		{"bad version", "GET", objects + "?match[version]=newest", "", nil, 400},
		{"bad next findings", "GET", "/taxii2/api/collections/ttpmap-findings/objects/?next=%21", "", nil, 400},
		{"bad store cursor", "GET", "/taxii2/api/collections/ttpmap-findings/objects/?next=" + fcursor{After: "eA"}.encode(), "", nil, 400},
		{"bad next shared", "GET", objects + "?next=zz", "", nil, 400},
		{"unknown status", "GET", "/taxii2/api/status/123/", "", nil, 404},
		{"unknown shared object", "GET", objects + "indicator--00000000-0000-4000-8000-000000000000/", "", nil, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do(t, tt.method, tt.path, tt.body, tt.headers...)
			if tt.code == 200 {
				decode[map[string]any](t, w, 200)
				return
			}
			te := decode[taxiiError](t, w, tt.code)
			if te.Title == "" || te.HTTPStatus != fmt.Sprint(tt.code) {
				t.Errorf("error message %+v", te)
			}
		})
	}
}

const ts = "2024-05-01T12:00:00.000Z"

// indicator returns an indicator's JSON with extra properties.
func indicator(uuid, modified, extra string) string {
	return `{"type":"indicator","spec_version":"2.1","id":"indicator--` + uuid + `","created":"` + ts +
		`","modified":"` + modified + `","pattern":"[ipv4-addr:value = '198.51.100.7']","pattern_type":"stix","valid_from":"` + ts + `"` + extra + `}`
}

func TestPostShared(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0, nil)
	const (
		sqli   = "11111111-1111-4111-8111-111111111111"
		tagged = "22222222-2222-4222-8222-222222222222"
		plain  = "33333333-3333-4333-8333-333333333333"
	)
	body := `{"objects":[` +
		indicator(sqli, ts, `,"name":"scanner","description":"SQL injection scanner hitting /login","labels":["partner"]`) + `,` +
		indicator(tagged, ts, `,"labels":["mitre_attack:T1059.001"]`) + `,` +
		indicator(plain, ts, `,"description":"nothing known"`) + `,` +
		`{"type":"indicator","spec_version":"2.1","id":"indicator--nope","created":"` + ts + `","modified":"` + ts + `"},` +
		`{"type":"malware","spec_version":"2.0","id":"malware--44444444-4444-4444-8444-444444444444","created":"` + ts + `","modified":"` + ts + `"},` +
		`{"type":"ipv4-addr","id":"ipv4-addr--55555555-5555-4555-8555-555555555555","value":"198.51.100.7"},` +
		`42]}`
	objects := "/taxii2/api/collections/ttpmap-shared/objects/"
	st := decode[statusResource](t, e.do(t, "POST", objects, body), http.StatusAccepted)
	if st.Status != "complete" || st.TotalCount != 7 || st.SuccessCount != 4 || st.FailureCount != 3 || st.PendingCount != 0 {
		t.Fatalf("status %+v", st)
	}
	var failed []string
	for _, f := range st.Failures {
		failed = append(failed, f.ID+": "+f.Message)
	}
	for i, want := range []string{"indicator--nope: object 3: invalid id", "malware--44444444-4444-4444-8444-444444444444: object 4: spec_version", ": object 6: not a JSON object"} {
		if i >= len(failed) || !strings.HasPrefix(failed[i], want) {
			t.Errorf("failure %d = %q, want prefix %q", i, failed[i], want)
		}
	}
	again := decode[statusResource](t, e.do(t, "GET", "/taxii2/api/status/"+st.ID+"/", ""), http.StatusOK)
	if again.ID != st.ID || again.SuccessCount != 4 {
		t.Errorf("status by id %+v", again)
	}
	if len(e.enriched) != 2 || !strings.Contains(e.enriched[0], "SQL injection scanner") || !strings.Contains(e.enriched[0], "198.51.100.7") {
		t.Errorf("Enrich called with %q (the tagged indicator must be skipped)", e.enriched)
	}

	ids, objs := e.pages(t, objects+"?limit=2")
	if len(ids) != 4 {
		t.Fatalf("shared objects %v", ids)
	}
	got := objs[slices.Index(ids, "indicator--"+sqli)]
	if fmt.Sprint(got["labels"]) != "[partner mitre_attack:T1190]" {
		t.Errorf("labels %v", got["labels"])
	}
	refs, _ := got["external_references"].([]any)
	if len(refs) != 1 || refs[0].(map[string]any)["url"] != "https://attack.mitre.org/techniques/T1190" ||
		refs[0].(map[string]any)["description"] != "Exploit Public-Facing Application" {
		t.Errorf("external_references %v", refs)
	}
	if fmt.Sprint(got["x_ttpmap_enrichment"]) != "map[confidence:0.8 technique_ids:[T1190]]" {
		t.Errorf("x_ttpmap_enrichment %v", got["x_ttpmap_enrichment"])
	}
	if p := objs[slices.Index(ids, "indicator--"+plain)]; p["labels"] != nil || p["x_ttpmap_enrichment"] != nil {
		t.Errorf("unenriched indicator changed: %v", p)
	}

	// The same versions again change nothing; a new version replaces the
	// old one in default reads.
	later := "2024-05-02T12:00:00.5Z"
	st = decode[statusResource](t, e.do(t, "POST", objects, `{"objects":[`+indicator(tagged, ts, `,"labels":["mitre_attack:T1059.001"]`)+`,`+indicator(tagged, later, `,"labels":["mitre_attack:T1059.003"]`)+`]}`), http.StatusAccepted)
	if st.SuccessCount != 2 || st.FailureCount != 0 {
		t.Fatalf("second post %+v", st)
	}
	if ids, _ := e.pages(t, objects); len(ids) != 4 {
		t.Errorf("after new version: %v", ids)
	}
	if ids, _ := e.pages(t, objects+"?match[version]=all"); len(ids) != 5 {
		t.Errorf("all versions: %v", ids)
	}
	vers := decode[struct{ Versions []string }](t, e.do(t, "GET", objects+"indicator--"+tagged+"/versions/", ""), http.StatusOK)
	if !slices.Equal(vers.Versions, []string{ts, "2024-05-02T12:00:00.500Z"}) {
		t.Errorf("versions %v", vers.Versions)
	}
	one := decode[envelopeIn](t, e.do(t, "GET", objects+"indicator--"+tagged+"/", ""), http.StatusOK)
	if len(one.Objects) != 1 || fmt.Sprint(one.Objects[0]["labels"]) != "[mitre_attack:T1059.003]" {
		t.Errorf("latest version %v", one.Objects)
	}
	mf := decode[struct{ Objects []manifestEntry }](t, e.do(t, "GET", "/taxii2/api/collections/ttpmap-shared/manifest/?match[type]=ipv4-addr", ""), http.StatusOK)
	if len(mf.Objects) != 1 || mf.Objects[0].Version != mf.Objects[0].DateAdded {
		t.Errorf("manifest of an observable %+v", mf.Objects)
	}
}

func TestStatusesBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0, func(c *Config) { c.MaxStatuses = 2 })
	objects := "/taxii2/api/collections/ttpmap-shared/objects/"
	var ids []string
	for i := range 4 {
		ts := fmt.Sprintf("2026-01-0%dT00:00:00.000Z", i+1)
		st := decode[statusResource](t, e.do(t, "POST", objects, `{"objects":[`+indicator("7f3c1b1e-0000-4000-8000-00000000000"+fmt.Sprint(i), ts, "")+`]}`), http.StatusAccepted)
		if st.SuccessCount != 1 {
			t.Fatalf("post %d: %+v", i, st)
		}
		ids = append(ids, st.ID)
	}
	for i, id := range ids {
		w := e.do(t, "GET", "/taxii2/api/status/"+id+"/", "")
		if want := map[bool]int{true: 200, false: 404}[i >= 2]; w.Code != want {
			t.Errorf("status %d of 4 (keep 2): %d, want %d", i, w.Code, want)
		}
	}
	if a, b := newStatusID(), newStatusID(); a == b || !validUUID(a) || a[14] != '4' {
		t.Errorf("status ids %s %s", a, b)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "no findings store") {
		t.Errorf("New(empty) = %v", err)
	}
}
