// Package web serves the web UI of `ttpmap serve`: server-rendered pages
// (html/template, no script, no CDN) listing the stored findings with
// filters, one finding with its original event, an ATT&CK matrix heat map
// and the exporters' status.
//
// Every page but the log-in form requires a session cookie holding a token
// (a JWT from `ttpmap token`, or an API key) that is verified again on every
// request, so expiry and key removal apply at once. The cookie is HttpOnly
// and SameSite=Strict (and Secure, with the __Host- prefix, under TLS);
// state changes are POST-only and check Origin/Referer. Responses carry a
// strict Content-Security-Policy and are never cached.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/server/auth"
	"github.com/ttpmap/ttpmap/store"
)

// ExporterStatus is what the exporter page shows of one exporter. It must
// hold no secret; URL is shown without user info, query or fragment.
type ExporterStatus struct {
	Name        string
	Enabled     bool
	URL         string
	Queued      int // findings waiting in the outbox
	Failed      int // dead letters
	LastSuccess time.Time
	LastError   string
}

// Config configures the web UI.
type Config struct {
	// Store holds the findings (List, Get, TechniqueCounts). Required.
	Store *store.Store
	// Exporters returns the exporters' status; nil shows none.
	Exporters func(ctx context.Context) []ExporterStatus
	// Authenticate checks a presented token (JWT or API key) and returns
	// its role. Required. It must not log the token.
	Authenticate func(token string) (auth.Role, error)
	// Secure marks the session cookie Secure (serve over TLS) and names it
	// with the __Host- prefix.
	Secure bool
	// Version is shown in the footer.
	Version string
	// KB names techniques and orders the matrix; nil means attack.Embedded.
	KB *attack.KB
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Cookie names of the session: the __Host- prefix binds the cookie to this
// host, path / and TLS, so it needs Secure.
const (
	cookieName       = "ttpmap_session"
	secureCookieName = "__Host-ttpmap_session"
)

// maxTokenLen bounds the token accepted at log-in: it must fit in a cookie.
const maxTokenLen = 3800

// pageSize is the default number of findings per page; maxPageSize the most
// a "limit" parameter may ask.
const (
	pageSize    = 50
	maxPageSize = 500
)

// refreshSeconds is how often the first page of findings reloads itself.
const refreshSeconds = 10

// contentSecurityPolicy allows only this origin's style sheet and data:
// images: no script, no frames, forms only to this origin.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

//go:embed templates/*.html static/*
var files embed.FS

// ui is the web UI handler state; immutable after New.
type ui struct {
	cfg    Config
	kb     *attack.KB
	now    func() time.Time
	cookie string
	pages  map[string]*template.Template
	css    []byte
}

// New returns the web UI handler. Mount it at the root of the server.
func New(cfg Config) (http.Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("web ui: no store")
	}
	if cfg.Authenticate == nil {
		return nil, errors.New("web ui: no Authenticate function")
	}
	u := &ui{cfg: cfg, kb: cfg.KB, now: cfg.Now, cookie: cookieName}
	if u.kb == nil {
		kb, err := attack.Embedded()
		if err != nil {
			return nil, fmt.Errorf("web ui: %w", err)
		}
		u.kb = kb
	}
	if u.now == nil {
		u.now = time.Now
	}
	if cfg.Secure {
		u.cookie = secureCookieName
	}
	pages, err := parsePages()
	if err != nil {
		return nil, fmt.Errorf("web ui: %w", err)
	}
	u.pages = pages
	if u.css, err = fs.ReadFile(files, "static/web.css"); err != nil {
		return nil, fmt.Errorf("web ui: %w", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", u.loginForm)
	mux.HandleFunc("POST /login", u.login)
	mux.HandleFunc("POST /logout", u.logout)
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "log out with POST", http.StatusMethodNotAllowed)
	})
	mux.HandleFunc("GET /static/web.css", u.stylesheet)
	mux.Handle("GET /{$}", u.protect(u.findings))
	mux.Handle("GET /findings", u.protect(u.findings))
	mux.Handle("GET /findings/{id}", u.protect(u.finding))
	mux.Handle("GET /matrix", u.protect(u.matrix))
	mux.Handle("GET /exporters", u.protect(u.exporters))
	mux.Handle("/", u.protect(u.notFound))
	return headers(mux), nil
}

// headers sets the security headers of every response.
func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// session is the signed-in caller of a protected page.
type session struct {
	Role auth.Role
}

// protect admits requests whose session cookie holds a valid token of a
// role allowed to read (analyst or admin); others are sent to the log-in
// page, and a stale cookie is cleared.
func (u *ui) protect(page func(http.ResponseWriter, *http.Request, session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(u.cookie)
		if err != nil || c.Value == "" {
			u.toLogin(w, r)
			return
		}
		role, err := u.cfg.Authenticate(c.Value)
		if err != nil || !role.Allows(auth.Analyst) {
			u.clearCookie(w)
			u.toLogin(w, r)
			return
		}
		page(w, r, session{Role: role})
	})
}

// toLogin redirects to the log-in page, remembering a local GET target.
func (u *ui) toLogin(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		if next := r.URL.RequestURI(); localPath(next) {
			target += "?next=" + url.QueryEscape(next)
		}
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// localPath reports whether p is a path on this server, safe to redirect
// to: it starts with one slash and names no other host.
func localPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		strings.ContainsAny(p, "\\\r\n\t") || len(p) > 2048 {
		return false
	}
	v, err := url.Parse(p)
	return err == nil && v.Scheme == "" && v.Host == "" && v.User == nil
}

// sameOrigin reports whether a POST comes from this site: an Origin or,
// without it, a Referer header naming another host refuses it. Browsers
// send Origin on POSTs; SameSite=Strict already keeps the cookie from
// cross-site requests, so a request with neither header is admitted.
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		v, err := url.Parse(o)
		return err == nil && o != "null" && strings.EqualFold(v.Host, r.Host)
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		v, err := url.Parse(ref)
		return err == nil && strings.EqualFold(v.Host, r.Host)
	}
	return true
}

func (u *ui) setCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name: u.cookie, Value: token, Path: "/",
		HttpOnly: true, Secure: u.cfg.Secure, SameSite: http.SameSiteStrictMode,
	})
}

func (u *ui) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: u.cookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: u.cfg.Secure, SameSite: http.SameSiteStrictMode,
	})
}

// loginView is the log-in page.
type loginView struct {
	Error string
	Next  string
}

func (u *ui) loginForm(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Query().Get("next")
	if !localPath(next) {
		next = ""
	}
	u.render(w, http.StatusOK, "login", nil, loginView{Next: next})
}

// login checks the posted token and, when valid, stores it in the session
// cookie. A refusal shows one generic message and never the token.
func (u *ui) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		u.render(w, http.StatusForbidden, "login", nil, loginView{Error: "Cross-site log-in refused."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		u.render(w, http.StatusBadRequest, "login", nil, loginView{Error: "Invalid form."})
		return
	}
	next := r.PostForm.Get("next")
	if !localPath(next) {
		next = "/"
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	token = strings.TrimPrefix(token, "Bearer ")
	fail := loginView{Error: "Invalid or expired token.", Next: next}
	if !tokenShaped(token) {
		u.render(w, http.StatusUnauthorized, "login", nil, fail)
		return
	}
	role, err := u.cfg.Authenticate(token)
	if err != nil || !role.Allows(auth.Analyst) {
		u.render(w, http.StatusUnauthorized, "login", nil, fail)
		return
	}
	u.setCookie(w, token)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// tokenShaped reports whether token could be a JWT or API key and is safe
// to store in a cookie as is: base64url, base64 and dots only.
func tokenShaped(token string) bool {
	if token == "" || len(token) > maxTokenLen {
		return false
	}
	for _, c := range []byte(token) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == '~' || c == '+' || c == '/' || c == '=':
		default:
			return false
		}
	}
	return true
}

func (u *ui) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	u.clearCookie(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (u *ui) stylesheet(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=3600")
	w.Write(u.css)
}

func (u *ui) notFound(w http.ResponseWriter, r *http.Request, s session) {
	u.render(w, http.StatusNotFound, "error", &s, errorView{Title: "Not found", Message: "There is no page at this address."})
}
