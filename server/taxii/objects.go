package taxii

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// collectionInfo is a TAXII collection resource.
type collectionInfo struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	CanRead     bool     `json:"can_read"`
	CanWrite    bool     `json:"can_write"`
	MediaTypes  []string `json:"media_types"`
}

// collectionInfos returns the collections as r's caller sees them.
func (h *handler) collectionInfos(r *http.Request) []collectionInfo {
	return []collectionInfo{
		{
			ID:          FindingsID,
			Title:       "ttpmap findings",
			Description: "Stored findings as STIX 2.1 indicators, sightings and ATT&CK attack-patterns, in the order they were stored.",
			CanRead:     true,
			MediaTypes:  []string{MediaSTIX},
		},
		{
			ID:          SharedID,
			Title:       "Shared indicators",
			Description: "STIX 2.1 objects shared by partners; indicators are tagged with ATT&CK techniques.",
			CanRead:     true,
			CanWrite:    h.canWrite(r),
			MediaTypes:  []string{MediaSTIX},
		},
	}
}

func (h *handler) canWrite(r *http.Request) bool {
	return h.cfg.CanWrite == nil || h.cfg.CanWrite(r)
}

func (h *handler) collections(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"collections": h.collectionInfos(r)})
}

func (h *handler) collection(w http.ResponseWriter, r *http.Request) {
	for _, c := range h.collectionInfos(r) {
		if c.ID == r.PathValue("id") {
			writeJSON(w, http.StatusOK, c)
			return
		}
	}
	writeError(w, http.StatusNotFound, "collection not found", "no collection "+r.PathValue("id"))
}

// errNoCollection is returned for an unknown collection id (404).
var errNoCollection = errors.New("collection not found")

// page returns one page of collection id.
func (h *handler) page(ctx context.Context, id string, q query) (page, error) {
	switch id {
	case FindingsID:
		return h.findingsPage(ctx, q)
	case SharedID:
		return h.sharedPage(ctx, q)
	}
	return page{}, errNoCollection
}

// readPage parses the query of r and reads the page it asks for, or
// writes the error reply and returns false.
func (h *handler) readPage(w http.ResponseWriter, r *http.Request, edit func(*query)) (page, bool) {
	q, err := parseQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad request", err.Error())
		return page{}, false
	}
	if edit != nil {
		edit(&q)
	}
	p, err := h.page(r.Context(), r.PathValue("id"), q)
	switch {
	case err == nil:
		return p, true
	case errors.Is(err, errNoCollection):
		writeError(w, http.StatusNotFound, "collection not found", "no collection "+r.PathValue("id"))
	case errors.Is(err, errBadRequest):
		writeError(w, http.StatusBadRequest, "bad request", err.Error())
	default:
		h.internal(w, r, fmt.Errorf("taxii: read collection %s: %w", r.PathValue("id"), err))
	}
	return page{}, false
}

// setDateHeaders sets X-TAXII-Date-Added-First and -Last from the page.
func setDateHeaders(w http.ResponseWriter, p page) {
	if len(p.entries) == 0 {
		return
	}
	first, last := p.entries[0].added, p.entries[0].added
	for _, e := range p.entries[1:] {
		if e.added.Before(first) {
			first = e.added
		}
		if e.added.After(last) {
			last = e.added
		}
	}
	w.Header().Set("X-TAXII-Date-Added-First", fmtTime(first))
	w.Header().Set("X-TAXII-Date-Added-Last", fmtTime(last))
}

// envelopeOut is a TAXII envelope of objects.
type envelopeOut struct {
	More    bool              `json:"more"`
	Next    string            `json:"next,omitempty"`
	Objects []json.RawMessage `json:"objects,omitempty"`
}

func writeEnvelope(w http.ResponseWriter, p page) {
	env := envelopeOut{More: p.more, Next: p.next}
	for _, e := range p.entries {
		env.Objects = append(env.Objects, e.raw)
	}
	setDateHeaders(w, p)
	writeJSON(w, http.StatusOK, env)
}

func (h *handler) getObjects(w http.ResponseWriter, r *http.Request) {
	if p, ok := h.readPage(w, r, nil); ok {
		writeEnvelope(w, p)
	}
}

// getObject serves one object (all its versions selected by
// match[version], last by default).
func (h *handler) getObject(w http.ResponseWriter, r *http.Request) {
	oid := r.PathValue("oid")
	p, ok := h.readPage(w, r, func(q *query) { q.ids = []string{oid} })
	if !ok {
		return
	}
	if len(p.entries) == 0 && !p.more {
		writeError(w, http.StatusNotFound, "object not found", "no object "+oid+" in collection "+r.PathValue("id"))
		return
	}
	writeEnvelope(w, p)
}

func (h *handler) versions(w http.ResponseWriter, r *http.Request) {
	oid := r.PathValue("oid")
	p, ok := h.readPage(w, r, func(q *query) {
		q.ids = []string{oid}
		q.versions.All = true
	})
	if !ok {
		return
	}
	if len(p.entries) == 0 && !p.more {
		writeError(w, http.StatusNotFound, "object not found", "no object "+oid+" in collection "+r.PathValue("id"))
		return
	}
	out := struct {
		More     bool     `json:"more"`
		Versions []string `json:"versions,omitempty"`
	}{More: p.more}
	for _, e := range p.entries {
		out.Versions = append(out.Versions, e.version())
	}
	setDateHeaders(w, p)
	writeJSON(w, http.StatusOK, out)
}

// manifestEntry is a TAXII manifest record.
type manifestEntry struct {
	ID        string `json:"id"`
	DateAdded string `json:"date_added"`
	Version   string `json:"version"`
	MediaType string `json:"media_type"`
}

func (h *handler) manifest(w http.ResponseWriter, r *http.Request) {
	p, ok := h.readPage(w, r, nil)
	if !ok {
		return
	}
	out := struct {
		More    bool            `json:"more"`
		Next    string          `json:"next,omitempty"`
		Objects []manifestEntry `json:"objects,omitempty"`
	}{More: p.more, Next: p.next}
	for _, e := range p.entries {
		out.Objects = append(out.Objects, manifestEntry{ID: e.id, DateAdded: fmtTime(e.added), Version: e.version(), MediaType: MediaSTIX})
	}
	setDateHeaders(w, p)
	writeJSON(w, http.StatusOK, out)
}
