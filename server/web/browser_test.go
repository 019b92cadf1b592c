package web

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/internal/browsertest"
	"github.com/ttpmap/ttpmap/pipeline"
	"github.com/ttpmap/ttpmap/rules"
	"github.com/ttpmap/ttpmap/sigma"
	"github.com/ttpmap/ttpmap/source"
	"github.com/ttpmap/ttpmap/source/all"
)

// screenshotEnv, when "1", makes TestBrowser write docs/img/web-ui.png.
const screenshotEnv = "TTPMAP_UPDATE_SCREENSHOT"

// storyFindings runs the embedded rules over the Quick start sample (an
// Event Viewer CSV export of a small intrusion), as `ttpmap serve` would.
func storyFindings(t *testing.T) []*finding.Finding {
	t.Helper()
	kb, err := attack.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	rs, errs := sigma.LoadFS(rules.FS(), ".")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	engine, _, err := detect.New(rs, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fs []*finding.Finding
	_, err = pipeline.Run(context.Background(), pipeline.Config{
		Walker:  &source.Walker{Formats: all.Formats()},
		Paths:   []string{"../../testdata/attack-story.csv"},
		Engine:  engine,
		Builder: &finding.Builder{KB: kb, SourceService: "ttpmap"},
		Out:     func(f *finding.Finding) error { fs = append(fs, f); return nil },
		OnError: func(err error) { t.Error(err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) < 10 {
		t.Fatalf("only %d findings from the sample", len(fs))
	}
	return fs
}

// loginPage is served by the test only, outside the UI handler and its
// CSP: it posts the token to /login from the same origin, as a person
// pasting it would, so Chromium receives the session cookie.
var loginPage = template.Must(template.New("").Parse(`<!DOCTYPE html>
<html><body><form method="post" action="/login">
<input type="hidden" name="token" value="{{.Token}}"><input type="hidden" name="next" value="{{.Next}}">
</form><script>document.forms[0].submit()</script></body></html>`))

// chromium runs headless Chromium on a URL (browsertest only opens files):
// log in through the form, follow the redirect, then dump or shoot.
type chromium struct {
	bin, profile string
}

func (c chromium) run(t *testing.T, target string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browsertest.Timeout)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--no-first-run", "--hide-scrollbars", "--disable-extensions",
		"--user-data-dir=" + c.profile, "--virtual-time-budget=4000"}
	cmd := exec.CommandContext(ctx, c.bin, append(append(base, args...), target)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

// TestBrowser logs in through the form in headless Chromium and checks that
// the findings table and the matrix render; with TTPMAP_UPDATE_SCREENSHOT=1
// it saves a screenshot of the findings page as docs/img/web-ui.png.
func TestBrowser(t *testing.T) {
	browsertest.New(t) // skips when chromium is absent
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not on PATH")
	}
	fs := storyFindings(t)
	last := fs[0].Timestamp
	for _, f := range fs {
		if f.Timestamp.After(last) {
			last = f.Timestamp
		}
	}
	fx := newFixtureWith(t, fs, func(c *Config) {
		c.Version = "1.4.0"
		c.Exporters = func(context.Context) []ExporterStatus {
			return []ExporterStatus{
				{Name: "elastic", Enabled: true, URL: "https://es.corp.local:9200", LastSuccess: last.Add(5 * time.Minute)},
				{Name: "splunk", Enabled: true, URL: "https://splunk.corp.local:8088", Queued: 4, LastSuccess: last.Add(4 * time.Minute)},
			}
		}
	})
	fx.clock.set(last.Add(6 * time.Minute))
	fx.token = mint(t, "analyst", fx.clock.now())

	mux := http.NewServeMux()
	mux.Handle("/", fx.h)
	mux.HandleFunc("GET /test-login", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		loginPage.Execute(w, map[string]string{"Token": fx.token, "Next": r.URL.Query().Get("next")})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	login := func(next string) string { return srv.URL + "/test-login?next=" + url.QueryEscape(next) }

	// A fresh profile per run: no cookie is carried over between runs, so
	// each run proves the log-in itself.
	br := func(name string) chromium { return chromium{bin: bin, profile: filepath.Join(t.TempDir(), name)} }

	dom := string(br("findings").run(t, login("/"), "--dump-dom"))
	if !strings.Contains(dom, `<table class="findings" id="findings">`) {
		t.Fatalf("after log-in the DOM has no findings table:\n%.2000s", dom)
	}
	rows := regexp.MustCompile(`<tr data-event-id="([^"]+)"`).FindAllStringSubmatch(dom, -1)
	if len(rows) != min(len(fs), pageSize) {
		t.Errorf("DOM has %d finding rows, want %d", len(rows), min(len(fs), pageSize))
	}
	newest := fs[0]
	for _, f := range fs {
		if f.Timestamp.After(newest.Timestamp) || f.Timestamp.Equal(newest.Timestamp) && f.EventID > newest.EventID {
			newest = f
		}
	}
	if len(rows) > 0 && rows[0][1] != newest.EventID {
		t.Errorf("first row %s, want the newest finding %s", rows[0][1], newest.EventID)
	}
	if !strings.Contains(dom, newest.RuleTitle) || !strings.Contains(dom, `data-technique="`+newest.TechniqueIDs[0]+`"`) {
		t.Errorf("DOM lacks the newest finding's rule %q or technique %s", newest.RuleTitle, newest.TechniqueIDs[0])
	}

	dom = string(br("matrix").run(t, login("/matrix"), "--dump-dom"))
	if !strings.Contains(dom, `<div class="matrix" id="matrix">`) {
		t.Fatalf("after log-in the DOM has no matrix:\n%.2000s", dom)
	}
	counts, err := fx.store.TechniqueCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"T1110.001", "T1059.001", "T1070.001"} {
		want := fmt.Sprintf(`data-technique="%s" data-total="%d"`, id, counts[id])
		if counts[id] == 0 || !strings.Contains(dom, want) {
			t.Errorf("matrix DOM lacks %s (count %d)", want, counts[id])
		}
	}

	// Without the log-in, Chromium lands on the form.
	dom = string(br("anon").run(t, srv.URL+"/matrix", "--dump-dom"))
	if !strings.Contains(dom, `action="/login"`) || strings.Contains(dom, `id="matrix"`) {
		t.Errorf("anonymous /matrix did not land on the log-in form")
	}

	shot := filepath.Join(t.TempDir(), "web-ui.png")
	br("shot").run(t, login("/"), "--screenshot="+shot, fmt.Sprintf("--window-size=%d,%d", browsertest.Width, browsertest.Height))
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != browsertest.Width || b.Dy() != browsertest.Height {
		t.Errorf("screenshot is %v", b)
	}
	if v := browsertest.Variance(img); v < 500 {
		t.Errorf("screenshot looks blank: variance %.1f", v)
	}
	if os.Getenv(screenshotEnv) == "1" {
		if err := os.WriteFile("../../docs/img/web-ui.png", data, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote docs/img/web-ui.png (%d bytes)", len(data))
	}
}
