package taxii

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/export/stix"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/store"
)

// maxScan bounds the findings one request reads when filters discard
// their objects; the page then ends early with more set.
const maxScan = 5000

// errBadRequest marks errors caused by the request (400).
var errBadRequest = errors.New("bad request")

// fcursor is a position in the findings collection: after the finding
// whose store cursor is After ("" = the start), skipping the first Skip
// matching objects of the next finding.
type fcursor struct {
	After string `json:"a,omitempty"`
	Skip  int    `json:"s,omitempty"`
}

func (c fcursor) encode() string {
	b, _ := json.Marshal(c) // cannot fail: a string and an int
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeFCursor(s string) (fcursor, error) {
	var c fcursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Skip < 0 {
		return c, fmt.Errorf("%w: invalid next %q", errBadRequest, s)
	}
	return c, nil
}

// findingsPage returns one page of the findings collection. Each finding
// gives its objects in export/stix's order; the identity and each
// attack-pattern go with the first finding (in stored order) that needs
// them, so that every object appears exactly once.
func (h *handler) findingsPage(ctx context.Context, q query) (page, error) {
	var cur fcursor
	if q.next != "" {
		var err error
		if cur, err = decodeFCursor(q.next); err != nil {
			return page{}, err
		}
	}
	var events []string
	if len(q.ids) > 0 {
		var err error
		if events, err = h.resolveIDs(ctx, q.ids); err != nil || len(events) == 0 {
			return page{}, err
		}
	}
	fs := &firsts{tech: map[string]string{}}
	batchSize := min(MaxLimit, max(16, q.limit/3+1))
	var p page
	after, skip, scanned := cur.After, cur.Skip, 0
	for {
		batch, next, err := h.cfg.Findings.ListAdded(ctx, store.AddedQuery{
			After: q.after, Cursor: after, Limit: batchSize, EventIDs: events,
		})
		if err != nil {
			if errors.Is(err, store.ErrCursor) {
				return page{}, fmt.Errorf("%w: invalid next", errBadRequest)
			}
			return page{}, err
		}
		if err := h.resolveFirsts(ctx, fs, batch); err != nil {
			return page{}, err
		}
		for _, a := range batch {
			scanned++
			objs, err := h.objectsOf(a, fs, &q)
			if err != nil {
				return page{}, err
			}
			for i := skip; i < len(objs); i++ {
				if len(p.entries) == q.limit {
					p.more, p.next = true, fcursor{After: after, Skip: i}.encode()
					return p, nil
				}
				p.entries = append(p.entries, objs[i])
			}
			after, skip = a.Cursor, 0
		}
		if next == "" {
			return p, nil
		}
		if scanned >= maxScan {
			p.more, p.next = true, fcursor{After: after}.encode()
			return p, nil
		}
	}
}

// objectsOf returns the objects of a stored finding that pass q, stamped
// with the time it was stored.
func (h *handler) objectsOf(a store.Added, fs *firsts, q *query) ([]entry, error) {
	b := stix.NewBundler(h.cfg.KB, stix.Options{Identity: h.cfg.Identity, Now: func() time.Time { return a.StoredAt }})
	b.Add(a.Finding)
	version := a.StoredAt.Truncate(time.Millisecond) // stix.TimeFormat precision
	var out []entry
	for _, o := range b.Bundle().Objects {
		switch o.Type {
		case "identity":
			if fs.identity != "" && fs.identity != a.Finding.EventID {
				continue
			}
		case "attack-pattern":
			if len(o.ExternalReferences) > 0 {
				if first, ok := fs.tech[o.ExternalReferences[0].ExternalID]; ok && first != a.Finding.EventID {
					continue
				}
			}
		}
		e := entry{id: o.ID, typ: o.Type, specVersion: o.SpecVersion, modified: version, added: a.StoredAt}
		if !q.matches(e) {
			continue
		}
		raw, err := json.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", o.ID, err)
		}
		e.raw = raw
		out = append(out, e)
	}
	return out, nil
}

// firsts records which finding first needed the identity and each
// technique's attack-pattern.
type firsts struct {
	identity string            // event id of the first stored finding
	tech     map[string]string // canonical technique id → event id
	done     bool              // the whole table was walked
}

// resolveFirsts walks the stored findings in order until the first users
// of the identity and of every technique of batch are known.
func (h *handler) resolveFirsts(ctx context.Context, fs *firsts, batch []store.Added) error {
	missing := map[string]bool{}
	for _, a := range batch {
		for _, t := range a.Finding.TechniqueIDs {
			if c := h.canon(t); c != "" && fs.tech[c] == "" {
				missing[c] = true
			}
		}
	}
	if fs.done || (fs.identity != "" && len(missing) == 0) {
		return nil
	}
	complete := true
	err := h.cfg.Findings.WalkAdded(ctx, func(k store.AddedKey) bool {
		if fs.identity == "" {
			fs.identity = k.EventID
		}
		for _, t := range k.TechniqueIDs {
			c := h.canon(t)
			if c == "" {
				continue
			}
			if _, ok := fs.tech[c]; !ok {
				fs.tech[c] = k.EventID
			}
			delete(missing, c)
		}
		if len(missing) == 0 {
			complete = false
			return false
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("find first findings: %w", err)
	}
	fs.done = complete
	return nil
}

// canon returns a technique id as export/stix names its attack-pattern.
func (h *handler) canon(id string) string {
	if t, ok := h.cfg.KB.Technique(id); ok {
		return t.ID
	}
	return strings.ToUpper(strings.TrimSpace(strings.TrimPrefix(strings.ToLower(id), "attack.")))
}

// resolveIDs returns the event ids of the findings that carry objects with
// these STIX ids. It walks the stored keys, building each finding's
// objects from its event id and techniques only, and stops once every id
// is found.
func (h *handler) resolveIDs(ctx context.Context, ids []string) ([]string, error) {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var events []string
	now := func() time.Time { return time.Time{} }
	err := h.cfg.Findings.WalkAdded(ctx, func(k store.AddedKey) bool {
		b := stix.NewBundler(h.cfg.KB, stix.Options{Identity: h.cfg.Identity, Now: now})
		b.Add(&finding.Finding{EventID: k.EventID, TechniqueIDs: k.TechniqueIDs})
		hit := false
		for _, o := range b.Bundle().Objects {
			if want[o.ID] {
				delete(want, o.ID)
				hit = true
			}
		}
		if hit {
			events = append(events, k.EventID)
		}
		return len(want) > 0
	})
	if err != nil {
		return nil, fmt.Errorf("resolve object ids: %w", err)
	}
	return events, nil
}
