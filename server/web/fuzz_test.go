package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzFindingsQuery sends arbitrary query strings to the findings page:
// it must answer 200 or 400, never panic, and never reflect markup.
func FuzzFindingsQuery(f *testing.F) {
	for _, seed := range []string{
		"", "severity=high", "technique=T1059.001&since=24h", "host=DC01&limit=2", "since=2026-11-23T07:00:00Z",
		"cursor=eyJ0IjoxLCJpZCI6ImEifQ", "cursor=%00", "technique=%3Cscript%3E", "host=%22%3E%3Cscript%3Ex",
		"since=99999999999d", "limit=-1", "live=off", "since=-1h", "severity=%ff%fe",
	} {
		f.Add(seed)
	}
	fx := newFixture(f, nil)
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.RawQuery = query
		r.AddCookie(&http.Cookie{Name: cookieName, Value: fx.token})
		w := httptest.NewRecorder()
		fx.h.ServeHTTP(w, r)
		if w.Code != 200 && w.Code != 400 {
			t.Fatalf("query %q: status %d", query, w.Code)
		}
		if b := w.Body.String(); strings.Contains(b, "<script") {
			t.Fatalf("query %q: page holds <script", query)
		}
	})
}
