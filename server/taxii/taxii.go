// Package taxii serves ttpmap's findings, and indicators that partners
// share, over TAXII 2.1 (OASIS, 2021): discovery, one API root ("api"),
// and two collections.
//
//   - ttpmap-findings (read-only): every stored finding as STIX 2.1
//     objects built by export/stix (indicator, indicates relationships,
//     sighting, and the attack-patterns and producer identity the first time
//     a finding needs them), in the order the findings were stored. An
//     object's date_added is the stored_at time of its finding, and its
//     version (created = modified) is that same time, so repeated reads give
//     identical objects.
//   - ttpmap-shared (read and write): STIX objects POSTed by partners, kept
//     durably in the Objects store. Indicators that name no ATT&CK technique
//     are enriched first (Config.Enrich) with mitre_attack:Txxxx labels and
//     mitre-attack external references.
//
// Authentication is the caller's job: the server wraps the handler, and
// Config.CanWrite tells it who may POST. Every POST is processed before it
// is answered and its status resource is in the reply; the last
// Config.MaxStatuses are also kept in the Statuses store, so a client can
// fetch one again after a restart.
package taxii

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/store"
)

// Media types.
const (
	MediaTAXII = "application/taxii+json;version=2.1"
	MediaSTIX  = "application/stix+json;version=2.1"
)

// Collection ids.
const (
	FindingsID = "ttpmap-findings"
	SharedID   = "ttpmap-shared"
)

// Defaults of Config.
const (
	DefaultPrefix      = "/taxii2"
	DefaultMaxBody     = 10 << 20
	DefaultMaxStatuses = 1000
	DefaultLimit       = 100
	MaxLimit           = store.MaxLimit
)

// Findings lists stored findings by the time they were stored;
// *store.Store implements it.
type Findings interface {
	ListAdded(ctx context.Context, q store.AddedQuery) ([]store.Added, string, error)
	WalkAdded(ctx context.Context, fn func(store.AddedKey) bool) error
}

// Objects keeps shared STIX objects; *store.Store implements it.
type Objects interface {
	PutObjects(ctx context.Context, collection string, objs []store.SharedObject) (int, error)
	ListObjects(ctx context.Context, q store.ObjectQuery) ([]store.SharedObject, string, error)
}

// Records keeps status resources; *store.Store implements it.
type Records interface {
	PutRecord(ctx context.Context, kind, id string, v any, keep int) error
	GetRecord(ctx context.Context, kind, id string, v any) error
}

// EnrichFunc maps free text (an indicator's name, description and
// pattern) to ATT&CK technique ids and a confidence in 0.0–1.0.
type EnrichFunc func(ctx context.Context, text string) (techniqueIDs []string, confidence float64)

// Config configures the handler. Findings, Objects and Statuses are
// required.
type Config struct {
	Findings Findings
	Objects  Objects
	Statuses Records
	// KB names techniques and gives their URLs; nil loads the embedded
	// knowledge base.
	KB *attack.KB
	// Enrich, when not nil, adds techniques to POSTed indicators that name
	// none.
	Enrich EnrichFunc
	// CanWrite, when not nil, tells whether a request may POST to
	// ttpmap-shared (and sets can_write in its collection resource); nil
	// lets every request that reaches the handler write.
	CanWrite func(*http.Request) bool
	// Prefix is the path the handler is mounted at (DefaultPrefix).
	Prefix string
	// BaseURL ("https://host:port") makes the URLs in the discovery
	// resource absolute; empty derives them from each request.
	BaseURL string
	// Title of the discovery and API root resources.
	Title string
	// Identity names the producer identity of the findings' objects
	// (stix.DefaultIdentity when empty).
	Identity string
	// MaxBody caps a POST body in bytes (DefaultMaxBody).
	MaxBody int64
	// MaxStatuses is how many status resources are kept
	// (DefaultMaxStatuses).
	MaxStatuses int
	// Now returns the current time (time.Now).
	Now func() time.Time
	// OnError, when not nil, receives the cause of every 500 reply (the
	// reply itself says nothing about it).
	OnError func(r *http.Request, err error)
}

// handler serves the TAXII routes.
type handler struct {
	cfg Config
	mux *http.ServeMux
}

// New returns the TAXII 2.1 handler for cfg, serving the routes under
// cfg.Prefix (mount it there with the prefix kept in the path).
func New(cfg Config) (http.Handler, error) {
	var errs []error
	if cfg.Findings == nil {
		errs = append(errs, errors.New("no findings store"))
	}
	if cfg.Objects == nil {
		errs = append(errs, errors.New("no objects store"))
	}
	if cfg.Statuses == nil {
		errs = append(errs, errors.New("no status store"))
	}
	if cfg.MaxBody < 0 || cfg.MaxStatuses < 0 {
		errs = append(errs, errors.New("negative MaxBody or MaxStatuses"))
	}
	if strings.ContainsAny(cfg.Prefix, "{}") {
		errs = append(errs, fmt.Errorf("prefix %q may not contain braces", cfg.Prefix))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("taxii: %w", err)
	}
	if cfg.KB == nil {
		kb, err := attack.Embedded()
		if err != nil {
			return nil, fmt.Errorf("taxii: %w", err)
		}
		cfg.KB = kb
	}
	cfg.Prefix = "/" + strings.Trim(cfg.Prefix, "/")
	if cfg.Prefix == "/" {
		cfg.Prefix = DefaultPrefix
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Title == "" {
		cfg.Title = "ttpmap TAXII server"
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxStatuses == 0 {
		cfg.MaxStatuses = DefaultMaxStatuses
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &handler{cfg: cfg, mux: http.NewServeMux()}
	p := cfg.Prefix
	col := p + "/api/collections/{id}"
	routes := map[string]http.HandlerFunc{
		"GET " + p + "/{$}":                          h.discovery,
		"GET " + p + "/api/{$}":                      h.apiRoot,
		"GET " + p + "/api/collections/{$}":          h.collections,
		"GET " + col + "/{$}":                        h.collection,
		"GET " + col + "/objects/{$}":                h.getObjects,
		"POST " + col + "/objects/{$}":               h.postObjects,
		"GET " + col + "/objects/{oid}/{$}":          h.getObject,
		"GET " + col + "/objects/{oid}/versions/{$}": h.versions,
		"GET " + col + "/manifest/{$}":               h.manifest,
		"GET " + p + "/api/status/{sid}/{$}":         h.status,
		p + "/":                                      h.notFound,
	}
	for pattern, fn := range routes {
		h.mux.HandleFunc(pattern, fn)
	}
	return h, nil
}

// ServeHTTP checks the Accept header, then routes.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !acceptable(r.Header.Values("Accept")) {
		writeError(w, http.StatusNotAcceptable, "not acceptable",
			"the Accept header must allow "+MediaTAXII)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// notFound answers paths no route matches: 405 when the path exists for
// another method, else 404.
func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if m == r.Method {
			continue
		}
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pattern := h.mux.Handler(r2); pattern != "" && pattern != h.cfg.Prefix+"/" {
			writeError(w, http.StatusMethodNotAllowed, "method not allowed", r.Method+" is not allowed here")
			return
		}
	}
	writeError(w, http.StatusNotFound, "not found", "no TAXII resource at "+r.URL.Path)
}

// baseURL returns the scheme and host URLs are built on.
func (h *handler) baseURL(r *http.Request) string {
	if h.cfg.BaseURL != "" {
		return h.cfg.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (h *handler) discovery(w http.ResponseWriter, r *http.Request) {
	root := h.baseURL(r) + h.cfg.Prefix + "/api/"
	writeJSON(w, http.StatusOK, map[string]any{
		"title":       h.cfg.Title,
		"description": "ttpmap findings and shared ATT&CK-tagged indicators.",
		"default":     root,
		"api_roots":   []string{root},
	})
}

func (h *handler) apiRoot(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"title":              h.cfg.Title,
		"description":        "ttpmap findings as STIX 2.1, and indicators shared by partners.",
		"versions":           []string{MediaTAXII},
		"max_content_length": h.cfg.MaxBody,
	})
}
