package taxii

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/ttpmap/ttpmap/export/stix"
	"github.com/ttpmap/ttpmap/store"
)

// sharedPage returns one page of the shared collection.
func (h *handler) sharedPage(ctx context.Context, q query) (page, error) {
	objs, next, err := h.cfg.Objects.ListObjects(ctx, store.ObjectQuery{
		Collection: SharedID, After: q.after, Cursor: q.next, Limit: q.limit,
		IDs: q.ids, Types: q.types, SpecVersions: q.specVersions, Versions: q.versions,
	})
	if errors.Is(err, store.ErrCursor) {
		return page{}, fmt.Errorf("%w: invalid next", errBadRequest)
	}
	if err != nil {
		return page{}, err
	}
	p := page{more: next != "", next: next}
	for _, o := range objs {
		p.entries = append(p.entries, entry{
			id: o.ID, typ: o.Type, specVersion: o.SpecVersion,
			modified: o.Modified, added: o.Added, raw: o.JSON,
		})
	}
	return p, nil
}

// postObjects adds an envelope of objects to the shared collection and
// answers 202 with a completed status: each object that fails validation
// is listed among the failures, the others are stored.
func (h *handler) postObjects(w http.ResponseWriter, r *http.Request) {
	switch id := r.PathValue("id"); {
	case id == FindingsID:
		writeError(w, http.StatusForbidden, "read-only collection", id+" cannot be written")
		return
	case id != SharedID:
		writeError(w, http.StatusNotFound, "collection not found", "no collection "+id)
		return
	case !h.canWrite(r):
		writeError(w, http.StatusForbidden, "forbidden", "this credential may not write to "+id)
		return
	}
	if !taxiiContent(r.Header.Get("Content-Type")) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported media type", "POST a TAXII envelope as "+MediaTAXII)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "request too large",
				fmt.Sprintf("the body exceeds %d bytes", h.cfg.MaxBody))
			return
		}
		writeError(w, http.StatusBadRequest, "bad request", "could not read the body")
		return
	}
	raws, err := parseEnvelope(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad request", err.Error())
		return
	}
	st := &statusResource{
		ID: newStatusID(), Status: "complete",
		RequestTimestamp: fmtTime(h.cfg.Now()), TotalCount: len(raws),
	}
	var objs []store.SharedObject
	var ok []statusDetail
	for i, raw := range raws {
		o, err := parseObject(raw)
		if err == nil {
			err = h.enrich(r.Context(), &o)
		}
		var b []byte
		if err == nil {
			b, err = json.Marshal(o.props)
		}
		if err != nil {
			st.fail(statusDetail{ID: o.id, Version: o.version(), Message: fmt.Sprintf("object %d: %v", i, err)})
			continue
		}
		mod := o.modified
		if mod.IsZero() {
			mod = o.created
		}
		objs = append(objs, store.SharedObject{ID: o.id, Type: o.typ, SpecVersion: o.specVersion, Modified: mod, JSON: b})
		ok = append(ok, statusDetail{ID: o.id, Version: o.version()})
	}
	if len(objs) > 0 {
		if _, err := h.cfg.Objects.PutObjects(r.Context(), SharedID, objs); err != nil {
			h.internal(w, r, fmt.Errorf("taxii: store shared objects: %w", err))
			return
		}
	}
	for _, d := range ok {
		st.succeed(d)
	}
	if err := h.cfg.Statuses.PutRecord(r.Context(), statusKind, st.ID, st, h.cfg.MaxStatuses); err != nil && h.cfg.OnError != nil {
		// The objects are stored and the reply carries the status; only a
		// later GET of it will miss.
		h.cfg.OnError(r, fmt.Errorf("taxii: keep status %s: %w", st.ID, err))
	}
	writeJSON(w, http.StatusAccepted, st)
}

// techniqueRE matches an ATT&CK technique id.
var techniqueRE = regexp.MustCompile(`^T\d{4}(\.\d{3})?$`)

// enrich adds ATT&CK techniques to an indicator that names none: Enrich
// reads its name, description and pattern, and each technique becomes a
// mitre_attack:Txxxx label and a mitre-attack external reference; the
// x_ttpmap_enrichment property records what was added. The object's
// version is left as its producer set it.
func (h *handler) enrich(ctx context.Context, o *object) error {
	if o.typ != "indicator" || h.cfg.Enrich == nil || hasTechnique(o.props) {
		return nil
	}
	var text []string
	for _, key := range []string{"name", "description", "pattern"} {
		var s string
		if json.Unmarshal(o.props[key], &s) == nil && s != "" {
			text = append(text, s)
		}
	}
	ids, conf := h.cfg.Enrich(ctx, strings.Join(text, "\n"))
	var labels []string
	var refs []json.RawMessage
	json.Unmarshal(o.props["labels"], &labels) // checked by parseObject
	json.Unmarshal(o.props["external_references"], &refs)
	var added []string
	for _, id := range ids {
		ref := stix.ExternalReference{SourceName: stix.KillChain, ExternalID: strings.ToUpper(strings.TrimSpace(id))}
		if t, ok := h.cfg.KB.Technique(id); ok {
			ref.ExternalID, ref.URL, ref.Description = t.ID, t.URL, t.Name
		} else if !techniqueRE.MatchString(ref.ExternalID) {
			continue
		} else {
			ref.URL = "https://attack.mitre.org/techniques/" + strings.ReplaceAll(ref.ExternalID, ".", "/")
		}
		if slices.Contains(added, ref.ExternalID) {
			continue
		}
		added = append(added, ref.ExternalID)
		labels = append(labels, "mitre_attack:"+ref.ExternalID)
		b, err := json.Marshal(ref)
		if err != nil {
			return fmt.Errorf("enrich: %w", err)
		}
		refs = append(refs, b)
	}
	if len(added) == 0 {
		return nil
	}
	if math.IsNaN(conf) {
		conf = 0
	}
	conf = min(max(conf, 0), 1)
	for key, v := range map[string]any{
		"labels":              labels,
		"external_references": refs,
		"x_ttpmap_enrichment": map[string]any{"technique_ids": added, "confidence": conf},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("enrich: %w", err)
		}
		o.props[key] = b
	}
	return nil
}

// hasTechnique reports whether an indicator names an ATT&CK technique: a
// mitre_attack: label or a mitre-attack external reference with an id.
func hasTechnique(props map[string]json.RawMessage) bool {
	var labels []string
	json.Unmarshal(props["labels"], &labels)
	for _, l := range labels {
		if len(l) > len("mitre_attack:") && strings.EqualFold(l[:len("mitre_attack:")], "mitre_attack:") {
			return true
		}
	}
	var refs []stix.ExternalReference
	json.Unmarshal(props["external_references"], &refs)
	for _, r := range refs {
		if r.SourceName == stix.KillChain && r.ExternalID != "" {
			return true
		}
	}
	return false
}

// internal answers 500 and hands err to Config.OnError.
func (h *handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	if h.cfg.OnError != nil {
		h.cfg.OnError(r, err)
	}
	writeError(w, http.StatusInternalServerError, "internal error", "the server could not complete the request")
}
