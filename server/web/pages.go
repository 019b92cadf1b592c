package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/store"
)

// pageNames are the templates in templates/, each rendered inside layout.
var pageNames = []string{"login", "findings", "finding", "matrix", "exporters", "error"}

// funcs are the template helpers.
var funcs = template.FuncMap{
	"ts":       fmtTime,
	"sevClass": sevClass,
	"attackURL": func(id string) string {
		u, _ := attackURL(id)
		return u
	},
	"conf": func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
}

func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// pageData is what layout.html renders around a page.
type pageData struct {
	Page    string   // name of the page, marks the current nav entry
	Session *session // nil on the log-in page
	Version string
	Refresh int // seconds; 0 for none
	Data    any
}

// render executes the page into a buffer first, so a template error becomes
// a clean 500 instead of half a page.
func (u *ui) render(w http.ResponseWriter, status int, name string, s *session, data any) {
	pd := pageData{Page: name, Session: s, Version: u.cfg.Version, Data: data}
	if fv, ok := data.(*findingsView); ok && fv.Live {
		pd.Refresh = refreshSeconds
	}
	var buf bytes.Buffer
	if err := u.pages[name].ExecuteTemplate(&buf, "layout", pd); err != nil {
		http.Error(w, "internal error: cannot render page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorView is the error page.
type errorView struct {
	Title, Message string
}

func (u *ui) fail(w http.ResponseWriter, status int, s session, title, msg string) {
	u.render(w, status, "error", &s, errorView{Title: title, Message: msg})
}

const timeLayout = "2006-01-02 15:04:05"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// severities in the order of the filter's choices, worst first.
var severities = []string{"critical", "high", "medium", "low", "informational"}

func sevClass(sev string) string {
	s := strings.ToLower(sev)
	for _, known := range severities {
		if s == known {
			return "s-" + s
		}
	}
	return "s-unknown"
}

var techniqueID = regexp.MustCompile(`^[Tt][0-9]{4}(\.[0-9]{3})?$`)

// attackURL returns the ATT&CK page of a technique id, or false when id is
// not shaped like one.
func attackURL(id string) (string, bool) {
	if !techniqueID.MatchString(id) {
		return "", false
	}
	id = strings.ToUpper(id)
	return "https://attack.mitre.org/techniques/" + strings.Replace(id, ".", "/", 1) + "/", true
}

// techLink is a technique as shown beside a finding.
type techLink struct {
	ID, Name, URL string
	Tactics       []string
}

func (u *ui) techLink(id string) techLink {
	l := techLink{ID: id}
	l.URL, _ = attackURL(id)
	if te, ok := u.kb.Technique(id); ok {
		l.Name = te.Name
		for _, short := range te.Tactics {
			if ta, ok := u.kb.Tactic(short); ok {
				l.Tactics = append(l.Tactics, ta.Name)
			} else {
				l.Tactics = append(l.Tactics, short)
			}
		}
	}
	return l
}

// filterView is the filter form of the findings page, as submitted.
type filterView struct {
	Technique, Severity, Host, Since string
	Limit                            int
}

// findingsView is the findings page.
type findingsView struct {
	Filter     filterView
	Severities []string
	Error      string
	Rows       []rowView
	Stored     int // findings in the store, unfiltered
	Filtered   bool
	Paged      bool // a page after the first
	Older      string
	Newest     string
	Live       bool
	LiveURL    string // the same page, live on or off
}

type rowView struct {
	ID, Time, Host, User, Severity, Rule, RuleID, Description, Confidence string
	Techniques                                                            []techLink
	URL                                                                   string
}

// query builds the store query of the findings page from the URL, or
// returns a message for the operator.
func (u *ui) query(q url.Values) (filterView, store.Query, string) {
	f := filterView{
		Technique: strings.TrimSpace(q.Get("technique")),
		Severity:  strings.ToLower(strings.TrimSpace(q.Get("severity"))),
		Host:      strings.TrimSpace(q.Get("host")),
		Since:     strings.TrimSpace(q.Get("since")),
		Limit:     pageSize,
	}
	sq := store.Query{Desc: true, Cursor: q.Get("cursor"), Host: f.Host}
	var problems []string
	if f.Technique != "" {
		if !techniqueID.MatchString(f.Technique) {
			problems = append(problems, "technique must look like T1059 or T1059.001")
		} else {
			f.Technique = strings.ToUpper(f.Technique)
			sq.Technique = f.Technique
		}
	}
	if f.Severity != "" {
		if sevClass(f.Severity) == "s-unknown" {
			problems = append(problems, "severity must be one of "+strings.Join(severities, ", "))
		} else {
			sq.Severity = f.Severity
		}
	}
	if len(f.Host) > 255 {
		problems = append(problems, "host name too long")
		sq.Host = ""
	}
	if f.Since != "" {
		t, err := parseSince(f.Since, u.now())
		if err != nil {
			problems = append(problems, err.Error())
		} else {
			sq.Since = t
		}
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPageSize {
			problems = append(problems, fmt.Sprintf("limit must be a number from 1 to %d", maxPageSize))
		} else {
			f.Limit = n
		}
	}
	sq.Limit = f.Limit
	return f, sq, strings.Join(problems, "; ")
}

// parseSince reads the "since" filter: a duration back from now ("15m",
// "24h", "7d") or a time (RFC 3339, "2006-01-02T15:04" or "2006-01-02",
// UTC when no zone is given).
func parseSince(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n <= 36500 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("since must be a duration such as 24h or 7d, or a time such as 2026-11-23T07:00:00Z")
}

// link returns the findings page URL of filter f, with extra parameters.
func (f filterView) link(extra ...string) string {
	v := url.Values{}
	for _, kv := range [][2]string{{"technique", f.Technique}, {"severity", f.Severity}, {"host", f.Host}, {"since", f.Since}} {
		if kv[1] != "" {
			v.Set(kv[0], kv[1])
		}
	}
	if f.Limit != pageSize {
		v.Set("limit", strconv.Itoa(f.Limit))
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

func (u *ui) findings(w http.ResponseWriter, r *http.Request, s session) {
	q := r.URL.Query()
	f, sq, problem := u.query(q)
	v := &findingsView{Filter: f, Severities: severities, Error: problem, Paged: sq.Cursor != "",
		Filtered: f.Technique != "" || f.Severity != "" || f.Host != "" || f.Since != ""}
	v.Live = !v.Paged && q.Get("live") != "off" && problem == ""
	if v.Live {
		v.LiveURL = f.link("live", "off")
	} else if !v.Paged {
		v.LiveURL = f.link()
	}
	if v.Paged {
		v.Newest = f.link()
	}
	n, err := u.cfg.Store.Count(r.Context())
	if err != nil {
		u.fail(w, http.StatusInternalServerError, s, "Store unavailable", "The findings store could not be read.")
		return
	}
	v.Stored = n
	if problem != "" {
		u.render(w, http.StatusBadRequest, "findings", &s, v)
		return
	}
	list, next, err := u.cfg.Store.List(r.Context(), sq)
	if err != nil {
		if errors.Is(err, store.ErrCursor) {
			v.Error = "The page link is not valid any more; start from the newest findings."
			u.render(w, http.StatusBadRequest, "findings", &s, v)
			return
		}
		u.fail(w, http.StatusInternalServerError, s, "Store unavailable", "The findings store could not be read.")
		return
	}
	for _, fi := range list {
		v.Rows = append(v.Rows, u.row(fi))
	}
	if next != "" {
		v.Older = f.link("cursor", next)
	}
	u.render(w, http.StatusOK, "findings", &s, v)
}

func (u *ui) row(f *finding.Finding) rowView {
	rv := rowView{ID: f.EventID, Time: fmtTime(f.Timestamp), Host: f.Host, User: f.User, Severity: f.Severity,
		Rule: f.RuleTitle, RuleID: f.RuleID, Description: f.Description,
		Confidence: strconv.FormatFloat(f.ConfidenceScore, 'f', 2, 64),
		URL:        "/findings/" + url.PathEscape(f.EventID)}
	if rv.Rule == "" {
		rv.Rule = f.RuleID
	}
	for _, id := range f.TechniqueIDs {
		rv.Techniques = append(rv.Techniques, u.techLink(id))
	}
	return rv
}

// detailView is the page of one finding.
type detailView struct {
	F          *finding.Finding
	Techniques []techLink
	Actors     []actorView
	Original   string // the original event, indented JSON
	Raw        string // the whole finding, indented JSON
}

type actorView struct {
	ID, Name, URL string
}

var groupID = regexp.MustCompile(`^G[0-9]{4}$`)

func (u *ui) finding(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PathValue("id")
	f, err := u.cfg.Store.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		u.fail(w, http.StatusNotFound, s, "Finding not found", "No stored finding has this event ID.")
		return
	}
	if err != nil {
		u.fail(w, http.StatusInternalServerError, s, "Store unavailable", "The findings store could not be read.")
		return
	}
	v := detailView{F: f}
	named := map[string]finding.TechniqueDetail{}
	for _, d := range f.Metadata.TechniqueDetails {
		named[d.ID] = d
	}
	for _, id := range f.TechniqueIDs {
		l := u.techLink(id)
		if d, ok := named[id]; ok && d.Name != "" {
			l.Name = d.Name
		}
		v.Techniques = append(v.Techniques, l)
	}
	for _, a := range f.Metadata.ThreatActors {
		av := actorView{ID: a.ID, Name: a.Name}
		if groupID.MatchString(a.ID) {
			av.URL = "https://attack.mitre.org/groups/" + a.ID + "/"
		}
		v.Actors = append(v.Actors, av)
	}
	if f.Metadata.OriginalEvent != nil {
		v.Original = indent(f.Metadata.OriginalEvent)
	}
	v.Raw = indent(f)
	u.render(w, http.StatusOK, "finding", &s, v)
}

// indent returns v as indented JSON; the template escapes it for HTML.
func indent(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("(cannot show as JSON: %v)", err)
	}
	return strings.TrimRight(buf.String(), "\n")
}

// exportersView is the exporter status page.
type exportersView struct {
	Rows []exporterRow
}

type exporterRow struct {
	Name, URL, LastSuccess, Ago, LastError string
	Enabled                                bool
	Queued, Failed                         int
}

// maxErrorLen bounds the last error shown per exporter.
const maxErrorLen = 500

func (u *ui) exporters(w http.ResponseWriter, r *http.Request, s session) {
	var v exportersView
	if u.cfg.Exporters != nil {
		now := u.now()
		for _, e := range u.cfg.Exporters(r.Context()) {
			row := exporterRow{Name: e.Name, URL: displayURL(e.URL), Enabled: e.Enabled, Queued: e.Queued,
				Failed: e.Failed, LastSuccess: fmtTime(e.LastSuccess), LastError: e.LastError}
			if !e.LastSuccess.IsZero() {
				row.Ago = ago(now.Sub(e.LastSuccess))
			}
			if len(row.LastError) > maxErrorLen {
				row.LastError = strings.ToValidUTF8(row.LastError[:maxErrorLen], "") + "…"
			}
			v.Rows = append(v.Rows, row)
		}
	}
	u.render(w, http.StatusOK, "exporters", &s, v)
}

// displayURL returns raw without user info, query and fragment, which may
// hold credentials; "" when it does not parse.
func displayURL(raw string) string {
	if raw == "" {
		return ""
	}
	v, err := url.Parse(raw)
	if err != nil || v.Host == "" {
		return ""
	}
	v.User, v.RawQuery, v.ForceQuery, v.Fragment, v.RawFragment = nil, "", false, "", ""
	return v.String()
}

// ago says how long d is, roughly: "45s ago", "3m ago", "2h ago", "5d ago".
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(math.Floor(d.Hours()/24)))
}
