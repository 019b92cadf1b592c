package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/server/auth"
	"github.com/ttpmap/ttpmap/store"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef-web-ui-test")
	t0     = time.Date(2026, 11, 23, 7, 40, 0, 0, time.UTC)
)

// clock is the time seen by the verifier and the pages; tests move it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time)     { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

// fixture is a web UI over a temporary store holding testFindings.
type fixture struct {
	h     http.Handler
	store *store.Store
	clock *clock
	token string // a valid analyst token
}

// testFindings are hand-made findings with real ATT&CK ids; one carries
// markup in every free-text field.
func testFindings() []*finding.Finding {
	return []*finding.Finding{
		{
			EventID: "f-ps-encoded", Timestamp: t0.Add(2 * time.Minute), Host: "WS-FIN-07.corp.local", User: "CORP\\jdoe",
			Source: "10.1.4.27", TechniqueIDs: []string{"T1059.001", "T1027"}, Tactics: []string{"execution", "defense-evasion"},
			ConfidenceScore: 0.85, EventType: "threat", Severity: "high", SourceService: "ttpmap",
			Description: "PowerShell started with an encoded command", RuleID: "5f2c6f7e-ps-enc", RuleTitle: "Encoded PowerShell Command Line",
			RelatedIndicators: []finding.Indicator{{ID: "i1", Type: "ipv4-addr", Value: "10.1.4.27", Tags: []string{"source"}}},
			Metadata: finding.Metadata{
				TechniqueDetails: []finding.TechniqueDetail{{ID: "T1059.001", Name: "PowerShell", Tactics: []string{"execution"}, URL: "https://attack.mitre.org/techniques/T1059/001/"}},
				ThreatActors:     []finding.ThreatActor{{ID: "G0016", Name: "APT29"}, {ID: "G0007", Name: "APT28"}},
				OriginalEvent:    map[string]any{"EventID": 4688.0, "CommandLine": "powershell.exe -nop -enc SQBFAFgA", "NewProcessName": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"},
			},
		},
		{
			EventID: "f-log-clear", Timestamp: t0.Add(8 * time.Minute), Host: "DC01.corp.local", User: "CORP\\jdoe",
			TechniqueIDs: []string{"T1070.001"}, Tactics: []string{"defense-evasion"}, ConfidenceScore: 0.9, EventType: "threat",
			Severity: "critical", Description: "The Security log was cleared", RuleID: "r-1102", RuleTitle: "Security Event Log Cleared",
			Metadata: finding.Metadata{OriginalEvent: map[string]any{"EventID": 1102.0, "Channel": "Security"}},
		},
		{
			EventID: "f-brute", Timestamp: t0, Host: "DC01.corp.local", User: "administrator",
			TechniqueIDs: []string{"T1110.001"}, Tactics: []string{"credential-access"}, ConfidenceScore: 0.6, EventType: "anomaly",
			Severity: "medium", Description: "Many failed logons for one account", RuleID: "r-4625", RuleTitle: "Password Guessing",
		},
		{
			EventID: "f-xss", Timestamp: t0.Add(-24 * time.Hour), Host: "<b>evil-host</b>", User: `"><img src=x onerror=alert(1)>`,
			TechniqueIDs: []string{"T1059"}, Severity: "low", ConfidenceScore: 0.3,
			Description: `<script>alert("pwned")</script>`, RuleID: "r-xss", RuleTitle: `<script>alert(2)</script>`,
			Metadata: finding.Metadata{OriginalEvent: map[string]any{"payload": "</pre><script>alert(3)</script>"}},
		},
	}
}

func newFixture(t testing.TB, mod func(*Config)) *fixture {
	t.Helper()
	return newFixtureWith(t, testFindings(), mod)
}

// newFixtureWith is newFixture with other findings.
func newFixtureWith(t testing.TB, fs []*finding.Finding, mod func(*Config)) *fixture {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "ttpmap.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Put(context.Background(), fs, nil); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: t0.Add(10 * time.Minute)}
	v, err := auth.New(auth.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Store: s,
		Authenticate: func(tok string) (auth.Role, error) {
			cl, err := v.Verify(tok, c.now())
			return cl.Role, err
		},
		Exporters: func(context.Context) []ExporterStatus {
			return []ExporterStatus{
				{Name: "elastic", Enabled: true, URL: "https://elastic:hunter2@es.corp.local:9200/?api_key=s3cr3t#x", Queued: 12, LastSuccess: t0.Add(9 * time.Minute)},
				{Name: "splunk", Enabled: false, URL: "https://splunk.corp.local:8088", Failed: 3, LastError: "HEC 503: <server busy>"},
			}
		},
		Version: "v9.9.9-test",
		Now:     c.now,
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{h: h, store: s, clock: c, token: mint(t, "analyst", c.now())}
}

func mint(t testing.TB, role string, now time.Time) string {
	t.Helper()
	tok, err := auth.Mint(secret, role, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// get requests path with the session cookie holding token ("" for none).
func (f *fixture) get(t *testing.T, path, token string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		r.AddCookie(&http.Cookie{Name: cookieName, Value: token})
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w.Result()
}

func (f *fixture) post(t *testing.T, path string, form url.Values, hdr map[string]string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// page GETs path as the fixture's analyst and returns the body of its 200.
func (f *fixture) page(t *testing.T, path string) string {
	t.Helper()
	resp := f.get(t, path, f.token)
	b := body(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d\n%s", path, resp.StatusCode, b)
	}
	return b
}

// contains reports each of wants that the page named what lacks.
func contains(t *testing.T, what, page string, wants ...string) {
	t.Helper()
	for _, s := range wants {
		if !strings.Contains(page, s) {
			t.Errorf("%s lacks %s", what, s)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{Authenticate: func(string) (auth.Role, error) { return auth.Analyst, nil }}); err == nil {
		t.Error("New without a store: no error")
	}
	s, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := New(Config{Store: s}); err == nil {
		t.Error("New without Authenticate: no error")
	}
}

func TestPagesRequireLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	expired := mint(t, "analyst", t0.Add(-3*time.Hour))
	for _, tc := range []struct {
		path, token, location string
		cleared               bool
	}{
		{"/", "", "/login", false},
		{"/findings?severity=high", "", "/login?next=%2Ffindings%3Fseverity%3Dhigh", false},
		{"/findings/f-ps-encoded", "", "/login?next=%2Ffindings%2Ff-ps-encoded", false},
		{"/matrix", "", "/login?next=%2Fmatrix", false},
		{"/exporters", "", "/login?next=%2Fexporters", false},
		{"/no-such-page", "", "/login?next=%2Fno-such-page", false},
		{"/", "garbage", "/login", true},
		{"/matrix", expired, "/login?next=%2Fmatrix", true},
		{"/findings/f-ps-encoded", mint(t, "analyst", t0)[:40] + "x", "/login?next=%2Ffindings%2Ff-ps-encoded", true},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp := f.get(t, tc.path, tc.token)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tc.location {
				t.Fatalf("status %d location %q, want 303 %q", resp.StatusCode, resp.Header.Get("Location"), tc.location)
			}
			b := body(t, resp)
			for _, leak := range []string{"WS-FIN-07", "PowerShell", "elastic", "DC01"} {
				if strings.Contains(b, leak) {
					t.Errorf("unauthenticated response holds %q", leak)
				}
			}
			cleared := false
			for _, c := range resp.Cookies() {
				if c.Name == cookieName && c.MaxAge < 0 {
					cleared = true
				}
			}
			if cleared != tc.cleared {
				t.Errorf("cookie cleared %v, want %v", cleared, tc.cleared)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	now := f.clock.now()
	for _, tc := range []struct {
		name     string
		form     url.Values
		hdr      map[string]string
		status   int
		location string
	}{
		{"valid analyst", url.Values{"token": {f.token}}, nil, 303, "/"},
		{"valid admin, same origin", url.Values{"token": {mint(t, "admin", now)}}, map[string]string{"Origin": "http://example.com"}, 303, "/"},
		{"bearer prefix and spaces", url.Values{"token": {"  Bearer " + f.token + "\n"}}, nil, 303, "/"},
		{"next kept", url.Values{"token": {f.token}, "next": {"/matrix?all=1"}}, nil, 303, "/matrix?all=1"},
		{"next to another host ignored", url.Values{"token": {f.token}, "next": {"//evil.example/x"}}, nil, 303, "/"},
		{"next with scheme ignored", url.Values{"token": {f.token}, "next": {"https://evil.example/"}}, nil, 303, "/"},
		{"next with backslash ignored", url.Values{"token": {f.token}, "next": {"/\\evil.example"}}, nil, 303, "/"},
		{"empty", url.Values{"token": {""}}, nil, 401, ""},
		{"garbage", url.Values{"token": {"not-a-token-SECRETMARK"}}, nil, 401, ""},
		{"markup", url.Values{"token": {"<script>SECRETMARK</script>"}}, nil, 401, ""},
		{"bad signature", url.Values{"token": {f.token[:len(f.token)-4] + "AAAA"}}, nil, 401, ""},
		{"expired", url.Values{"token": {mint(t, "analyst", now.Add(-2*time.Hour))}}, nil, 401, ""},
		{"too long", url.Values{"token": {strings.Repeat("A", maxTokenLen+1)}}, nil, 401, ""},
		{"cross-site origin", url.Values{"token": {f.token}}, map[string]string{"Origin": "https://evil.example"}, 403, ""},
		{"null origin", url.Values{"token": {f.token}}, map[string]string{"Origin": "null"}, 403, ""},
		{"cross-site referer", url.Values{"token": {f.token}}, map[string]string{"Referer": "https://evil.example/login"}, 403, ""},
		{"same-site referer", url.Values{"token": {f.token}}, map[string]string{"Referer": "http://example.com/login"}, 303, "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.post(t, "/login", tc.form, tc.hdr)
			b := body(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tc.status, b)
			}
			var session *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == cookieName {
					session = c
				}
			}
			if tc.status != 303 {
				if session != nil {
					t.Errorf("refused log-in set a cookie")
				}
				if tok := tc.form.Get("token"); tok != "" && strings.Contains(b, strings.TrimSpace(tok)) {
					t.Error("response echoes the token")
				}
				if strings.Contains(b, "SECRETMARK") {
					t.Error("response echoes part of the token")
				}
				if tc.status == 401 && !strings.Contains(b, "Invalid or expired token.") {
					t.Errorf("no generic error message in\n%s", b)
				}
				if !strings.Contains(b, `<form method="post" action="/login"`) {
					t.Error("the form is not shown again")
				}
				return
			}
			if got := resp.Header.Get("Location"); got != tc.location {
				t.Errorf("location %q, want %q", got, tc.location)
			}
			if session == nil {
				t.Fatal("no session cookie")
			}
			if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/" || session.Secure {
				t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure", session)
			}
			if strings.Contains(b, session.Value) {
				t.Error("the redirect body holds the token")
			}
			// The cookie opens the pages.
			if r := f.get(t, "/", session.Value); r.StatusCode != 200 {
				t.Errorf("GET / with the new cookie: %d", r.StatusCode)
			}
		})
	}
}

func TestLoginFormAndSecureCookie(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.Secure = true })
	resp := f.get(t, "/login?next=%2Fmatrix", "")
	b := body(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(b, `name="token"`) || !strings.Contains(b, `name="next" value="/matrix"`) {
		t.Fatalf("login form: %d\n%s", resp.StatusCode, b)
	}
	if r := f.get(t, "/login?next=https://evil.example", ""); strings.Contains(body(t, r), "evil.example") {
		t.Error("login form keeps a foreign next")
	}
	resp = f.post(t, "/login", url.Values{"token": {f.token}}, nil)
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		c = k
	}
	if resp.StatusCode != 303 || c == nil || c.Name != secureCookieName || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("status %d cookie %+v: want __Host- cookie, Secure, HttpOnly, Strict", resp.StatusCode, c)
	}
	// The plain cookie name is not accepted under TLS.
	if r := f.get(t, "/", f.token); r.StatusCode != http.StatusSeeOther {
		t.Errorf("plain cookie name under Secure: %d, want 303", r.StatusCode)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	resp := f.post(t, "/logout", nil, map[string]string{"Origin": "http://example.com"})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	cs := resp.Cookies()
	if len(cs) != 1 || cs[0].Name != cookieName || cs[0].MaxAge >= 0 || cs[0].Value != "" {
		t.Errorf("logout cookies %+v: want the session cleared", cs)
	}
	if r := f.post(t, "/logout", nil, map[string]string{"Origin": "https://evil.example"}); r.StatusCode != 403 || len(r.Cookies()) != 0 {
		t.Errorf("cross-site logout: %d %v", r.StatusCode, r.Cookies())
	}
	if r := f.get(t, "/logout", f.token); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /logout: %d, want 405", r.StatusCode)
	}
}

func TestTokenExpiryApplies(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	if r := f.get(t, "/", f.token); r.StatusCode != 200 {
		t.Fatalf("fresh token: %d", r.StatusCode)
	}
	f.clock.add(2 * time.Hour) // past exp and the leeway
	if r := f.get(t, "/", f.token); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("expired token: %d, want 303 to /login", r.StatusCode)
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for _, path := range []string{"/login", "/", "/matrix", "/findings/nope", "/static/web.css"} {
		for _, tok := range []string{"", f.token} {
			resp := f.get(t, path, tok)
			h := resp.Header
			if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
				!strings.Contains(csp, "form-action 'self'") || strings.Contains(csp, "script-src") {
				t.Errorf("%s: CSP %q", path, csp)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" || h.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s: headers %v", path, h)
			}
			if path != "/static/web.css" && h.Get("Cache-Control") != "no-store" {
				t.Errorf("%s: Cache-Control %q", path, h.Get("Cache-Control"))
			}
		}
	}
	resp := f.get(t, "/static/web.css", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestFindingsPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	b := f.page(t, "/")
	// Newest first.
	got := rowIDs(b)
	want := []string{"f-log-clear", "f-ps-encoded", "f-brute", "f-xss"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("rows %v, want %v", got, want)
	}
	contains(t, "findings page", b,
		`<meta http-equiv="refresh" content="10">`,
		`href="https://attack.mitre.org/techniques/T1059/001/"`,
		`<span class="sev s-critical">critical</span>`,
		`Encoded PowerShell Command Line`, `WS-FIN-07.corp.local`, `CORP\jdoe`, `0.85`,
		`href="/findings/f-ps-encoded"`, `4 stored`, `v9.9.9-test`, `<span class="role">analyst</span>`,
	)
}

// rowIDs returns the event ids of the findings table rows in order.
func rowIDs(page string) []string {
	var ids []string
	for _, m := range regexp.MustCompile(`<tr data-event-id="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func TestEscaping(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for _, path := range []string{"/", "/findings/f-xss", "/matrix"} {
		b := body(t, f.get(t, path, f.token))
		for _, bad := range []string{"<script>", "<b>evil-host</b>", "<img src=x", "</pre><script>"} {
			if strings.Contains(b, bad) {
				t.Errorf("%s holds unescaped %q", path, bad)
			}
		}
	}
	contains(t, "detail page (escaped)", body(t, f.get(t, "/findings/f-xss", f.token)),
		"&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;", "&lt;b&gt;evil-host&lt;/b&gt;", "&lt;/pre&gt;&lt;script&gt;alert(3)&lt;/script&gt;")
}

func TestFilters(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil) // now = t0+10m
	for _, tc := range []struct {
		query  string
		status int
		ids    []string
	}{
		{"severity=critical", 200, []string{"f-log-clear"}},
		{"severity=HIGH", 200, []string{"f-ps-encoded"}},
		{"technique=T1059", 200, []string{"f-ps-encoded", "f-xss"}},
		{"technique=t1059.001", 200, []string{"f-ps-encoded"}},
		{"technique=T1070.001&severity=critical", 200, []string{"f-log-clear"}},
		{"host=dc01.corp.local", 200, []string{"f-log-clear", "f-brute"}},
		{"since=1h", 200, []string{"f-log-clear", "f-ps-encoded", "f-brute"}},
		{"since=5m", 200, []string{"f-log-clear"}},
		{"since=2026-11-23T07:41:00Z", 200, []string{"f-log-clear", "f-ps-encoded"}},
		{"since=2026-11-22", 200, []string{"f-log-clear", "f-ps-encoded", "f-brute", "f-xss"}},
		{"since=2d", 200, []string{"f-log-clear", "f-ps-encoded", "f-brute", "f-xss"}},
		{"host=nowhere", 200, nil},
		{"technique=powershell", 400, nil},
		{"severity=urgent", 400, nil},
		{"since=yesterday", 400, nil},
		{"limit=0", 400, nil},
		{"limit=9999", 400, nil},
		{"cursor=%21%21", 400, nil},
	} {
		t.Run(tc.query, func(t *testing.T) {
			resp := f.get(t, "/?"+tc.query, f.token)
			b := body(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tc.status, b)
			}
			if got := rowIDs(b); strings.Join(got, ",") != strings.Join(tc.ids, ",") {
				t.Errorf("rows %v, want %v", got, tc.ids)
			}
			if tc.status == 400 && !strings.Contains(b, `class="error"`) {
				t.Error("no error message")
			}
		})
	}
	// The form shows the filter back, escaped.
	b := body(t, f.get(t, "/?host=%22%3E%3Cscript%3E", f.token))
	if strings.Contains(b, `"><script>`) || !strings.Contains(b, `value="&#34;&gt;&lt;script&gt;"`) {
		t.Error("host filter not escaped in the form")
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	var seen []string
	path := "/?limit=3"
	for page := 0; ; page++ {
		b := body(t, f.get(t, path, f.token))
		seen = append(seen, rowIDs(b)...)
		if page > 0 && strings.Contains(b, `http-equiv="refresh"`) {
			t.Error("an older page refreshes itself")
		}
		m := regexp.MustCompile(`<a href="([^"]*)" rel="next">`).FindStringSubmatch(b)
		if m == nil {
			break
		}
		path = strings.ReplaceAll(m[1], "&amp;", "&")
		if !strings.Contains(path, "limit=3") {
			t.Errorf("older link %q drops the limit", path)
		}
		if page > 3 {
			t.Fatal("no last page")
		}
	}
	want := "f-log-clear,f-ps-encoded,f-brute,f-xss"
	if strings.Join(seen, ",") != want {
		t.Errorf("pages %v, want %s", seen, want)
	}
	// Pausing the live view.
	if b := body(t, f.get(t, "/?live=off", f.token)); strings.Contains(b, `http-equiv="refresh"`) || !strings.Contains(b, "resume live") {
		t.Error("live=off still refreshes")
	}
}

func TestDetail(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	contains(t, "detail page", f.page(t, "/findings/f-ps-encoded"),
		"Encoded PowerShell Command Line", "PowerShell started with an encoded command", "f-ps-encoded",
		"2026-11-23 07:42:00 UTC", "10.1.4.27", "threat", "0.85", "5f2c6f7e-ps-enc",
		`<tr data-technique="T1059.001">`, "PowerShell", `<tr data-technique="T1027">`, "Obfuscated Files or Information",
		`href="https://attack.mitre.org/groups/G0016/"`, "APT29", "ipv4-addr",
		`<pre class="json" id="original-event">`, `&#34;CommandLine&#34;: &#34;powershell.exe -nop -enc SQBFAFgA&#34;`,
		`C:\\Windows\\System32`,
	)
	// Event ids that need escaping in a path still link to their page.
	odd := &finding.Finding{EventID: "odd/id ?#%", Timestamp: t0, Severity: "low", RuleTitle: "Odd Id"}
	if err := f.store.Put(context.Background(), []*finding.Finding{odd}, nil); err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`<a href="(/findings/odd[^"]*)">`).FindStringSubmatch(body(t, f.get(t, "/", f.token)))
	if link == nil {
		t.Fatal("no link to the odd finding")
	}
	if r := f.get(t, link[1], f.token); r.StatusCode != 200 || !strings.Contains(body(t, r), "Odd Id") {
		t.Errorf("GET %s: %d", link[1], r.StatusCode)
	}
	for _, tc := range []struct{ path string }{{"/findings/no-such-id"}, {"/findings/%3Cscript%3E"}} {
		resp := f.get(t, tc.path, f.token)
		b := body(t, resp)
		if resp.StatusCode != 404 || !strings.Contains(b, "Finding not found") || strings.Contains(b, "<script>") {
			t.Errorf("%s: %d\n%s", tc.path, resp.StatusCode, b)
		}
	}
	if r := f.get(t, "/no-such-page", f.token); r.StatusCode != 404 {
		t.Errorf("unknown page: %d", r.StatusCode)
	}
}

func TestMatrixPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	b := f.page(t, "/matrix")
	// T1059 holds its own finding and T1059.001's; T1110 only its sub.
	contains(t, "matrix", b,
		`data-technique="T1059" data-total="2"`, `data-technique="T1059.001" data-total="1"`,
		`data-technique="T1110" data-total="1"`, `data-technique="T1110.001" data-total="1"`,
		`data-technique="T1070" data-total="1"`, `data-technique="T1027" data-total="1"`,
		`href="/?technique=T1059.001"`, `<div class="col" data-tactic="execution">`,
		`<div class="col" data-tactic="defense-evasion">`, "5 techniques with findings",
	)
	if n := len(regexp.MustCompile(`<div class="col( none)?" data-tactic=`).FindAllString(b, -1)); n != 14 {
		t.Errorf("%d tactic columns, want 14", n)
	}
	if strings.Contains(b, `data-total="0"`) {
		t.Error("matrix shows techniques without findings by default")
	}
	if b := body(t, f.get(t, "/matrix?all=1", f.token)); !strings.Contains(b, `data-technique="T1548" data-total="0"`) {
		t.Error("matrix?all=1 lacks an empty cell")
	}
}

func TestMatrixView(t *testing.T) {
	t.Parallel()
	kb, err := attack.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	ui := &ui{kb: kb}
	for _, tc := range []struct {
		name   string
		counts map[string]int
		cells  map[string]int // top-level cell id → total
		subs   map[string]int
		other  []string
		max    int
	}{
		{"empty", map[string]int{}, map[string]int{}, map[string]int{}, nil, 0},
		{"sub rolls up", map[string]int{"T1059.001": 3, "T1059.003": 2, "T1059": 1},
			map[string]int{"T1059": 6}, map[string]int{"T1059.001": 3, "T1059.003": 2}, nil, 6},
		{"sub only", map[string]int{"T1110.003": 4}, map[string]int{"T1110": 4}, map[string]int{"T1110.003": 4}, nil, 4},
		{"lower case and unknown", map[string]int{"t1003.001": 1, "T9999": 2}, map[string]int{"T1003": 1}, map[string]int{"T1003.001": 1}, []string{"T9999"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := ui.matrixView(tc.counts, false)
			cells, subs := map[string]int{}, map[string]int{}
			for _, col := range v.Columns {
				for _, c := range col.Cells {
					cells[c.ID] = c.Total
					for _, s := range c.Subs {
						subs[s.ID] = s.Total
					}
				}
			}
			var other []string
			for _, c := range v.Other {
				other = append(other, c.ID)
			}
			if !equalMaps(cells, tc.cells) || !equalMaps(subs, tc.subs) || strings.Join(other, ",") != strings.Join(tc.other, ",") || v.Max != tc.max {
				t.Errorf("cells %v subs %v other %v max %d; want %v %v %v %d", cells, subs, other, v.Max, tc.cells, tc.subs, tc.other, tc.max)
			}
			if len(v.Columns) != 14 {
				t.Errorf("%d columns", len(v.Columns))
			}
		})
	}
}

func equalMaps(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestExportersPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	b := f.page(t, "/exporters")
	contains(t, "exporters page", b,
		`<tr data-exporter="elastic">`, "https://es.corp.local:9200/", "enabled", "2026-11-23 07:49:00", "(1m ago)",
		`<tr data-exporter="splunk">`, "disabled", "never", "HEC 503: &lt;server busy&gt;", `<td class="num bad">3</td>`,
	)
	for _, secret := range []string{"hunter2", "s3cr3t", "api_key"} {
		if strings.Contains(b, secret) {
			t.Errorf("exporters page shows %q", secret)
		}
	}
	f = newFixture(t, func(c *Config) { c.Exporters = nil })
	if b := body(t, f.get(t, "/exporters", f.token)); !strings.Contains(b, "No exporter is configured.") {
		t.Error("no empty message without exporters")
	}
}

func TestHelpers(t *testing.T) {
	t.Parallel()
	now := t0
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"15m", now.Add(-15 * time.Minute), true},
		{"24h", now.Add(-24 * time.Hour), true},
		{"7d", now.Add(-7 * 24 * time.Hour), true},
		{"2026-11-23T07:00:00Z", time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC), true},
		{"2026-11-23T09:00:00+02:00", time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC), true},
		{"2026-11-23T07:00", time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC), true},
		{"2026-11-23", time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), true},
		{"-5m", time.Time{}, false},
		{"xd", time.Time{}, false},
		{"soon", time.Time{}, false},
	} {
		got, err := parseSince(tc.in, now)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	for in, want := range map[string]bool{
		"/": true, "/matrix?all=1": true, "/findings/a%2Fb": true,
		"": false, "//evil": false, "/\\evil": false, "https://evil/": false, "matrix": false, "/a\nb": false,
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %v", in, got)
		}
	}
	for in, want := range map[string]string{
		"https://u:p@h.example:9200/path?k=v#f": "https://h.example:9200/path",
		"http://h":                              "http://h",
		"not a url":                             "",
		"":                                      "",
		"%zz":                                   "",
	} {
		if got := displayURL(in); got != want {
			t.Errorf("displayURL(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct {
		token string
		ok    bool
	}{{"eyJh.eyJz.c2ln", true}, {"ttpk_abc-_", true}, {"a b", false}, {"a;b", false}, {`a"b`, false}, {"", false}} {
		if got := tokenShaped(tc.token); got != tc.ok {
			t.Errorf("tokenShaped(%q) = %v", tc.token, got)
		}
	}
}
