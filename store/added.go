package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/finding"
)

// This file serves TAXII: findings in the order they were stored (their
// "date added"), and a table of STIX objects that partners share.

// ErrCursor is wrapped by the errors of ListAdded and ListObjects when the
// cursor is not one they returned.
var ErrCursor = errors.New("bad cursor")

// Added is a stored finding with the time Put stored it.
type Added struct {
	Finding  *finding.Finding
	StoredAt time.Time
	// Cursor resumes ListAdded just after this finding.
	Cursor string
}

// AddedQuery selects findings for ListAdded. Zero fields do not filter.
type AddedQuery struct {
	// After keeps findings stored strictly after it.
	After time.Time
	// Cursor is a next value (or an Added.Cursor) of an earlier call with
	// the same filters; "" starts at the beginning.
	Cursor string
	// Limit is the page size: DefaultLimit when ≤ 0, at most MaxLimit.
	Limit int
	// EventIDs, when not empty, keeps only these findings.
	EventIDs []string
}

// ListAdded returns one page of findings ordered by (stored_at, event_id),
// and the cursor of the next page ("" on the last page).
//
// Without an index on (stored_at, event_id) each call sorts the table
// (about 40 ms for 50,000 findings).
func (s *Store) ListAdded(ctx context.Context, q AddedQuery) (page []Added, next string, err error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	var where []string
	var args []any
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("list added findings: %w (%w)", err, ErrCursor)
		}
		where = append(where, "(stored_at, event_id) > (?, ?)")
		args = append(args, c.T, c.ID)
	}
	if !q.After.IsZero() {
		where = append(where, "stored_at > ?")
		args = append(args, unixNano(q.After))
	}
	if len(q.EventIDs) > 0 {
		ids, err := json.Marshal(q.EventIDs)
		if err != nil {
			return nil, "", fmt.Errorf("list added findings: %w", err)
		}
		where = append(where, "event_id IN (SELECT value FROM json_each(?))")
		args = append(args, string(ids))
	}
	query := "SELECT stored_at, event_id, json FROM findings" + whereClause(where) +
		" ORDER BY stored_at, event_id LIMIT ?"
	args = append(args, limit+1)

	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list added findings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if len(page) == limit {
			next = page[len(page)-1].Cursor
			break
		}
		var c cursor
		var blob []byte
		if err := rows.Scan(&c.T, &c.ID, &blob); err != nil {
			return nil, "", fmt.Errorf("list added findings: %w", err)
		}
		f, err := decode(blob)
		if err != nil {
			return nil, "", fmt.Errorf("list added findings: %s: %w", c.ID, err)
		}
		page = append(page, Added{Finding: f, StoredAt: time.Unix(0, c.T).UTC(), Cursor: encodeCursor(c)})
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list added findings: %w", err)
	}
	return page, next, nil
}

// AddedKey is the part of a stored finding that names its STIX objects.
type AddedKey struct {
	EventID      string
	TechniqueIDs []string
	StoredAt     time.Time
}

// WalkAdded calls fn with every stored finding's key in (stored_at,
// event_id) order until fn returns false. It reads neither the findings'
// JSON nor their original events, so it is cheap enough to resolve STIX
// ids back to findings.
func (s *Store) WalkAdded(ctx context.Context, fn func(AddedKey) bool) error {
	rows, err := s.r.QueryContext(ctx, `SELECT stored_at, event_id, technique_ids FROM findings ORDER BY stored_at, event_id`)
	if err != nil {
		return fmt.Errorf("walk added findings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t int64
		var k AddedKey
		var tech []byte
		if err := rows.Scan(&t, &k.EventID, &tech); err != nil {
			return fmt.Errorf("walk added findings: %w", err)
		}
		if err := json.Unmarshal(tech, &k.TechniqueIDs); err != nil {
			return fmt.Errorf("walk added findings: %s: technique ids: %w", k.EventID, err)
		}
		k.StoredAt = time.Unix(0, t).UTC()
		if !fn(k) {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("walk added findings: %w", err)
	}
	return nil
}

// SharedObject is one version of a STIX object kept in a collection.
type SharedObject struct {
	ID          string
	Type        string
	SpecVersion string
	// Modified identifies the version; zero for objects without one.
	Modified time.Time
	// Added is when PutObjects first stored this version (set by it).
	Added time.Time
	// JSON is the whole object.
	JSON []byte
}

// PutObjects stores the objects in a collection, all in one transaction,
// and returns how many were new. A version (id, modified) already stored is
// left unchanged.
func (s *Store) PutObjects(ctx context.Context, collection string, objs []SharedObject) (added int, err error) {
	if collection == "" {
		return 0, fmt.Errorf("put objects: empty collection")
	}
	for i, o := range objs {
		if o.ID == "" || o.Type == "" {
			return 0, fmt.Errorf("put objects: object %d: empty id or type", i)
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("put objects: begin: %w", err)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO taxii_objects
		(collection, id, type, spec_version, modified, added_at, json) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return 0, fmt.Errorf("put objects: prepare: %w", err)
	}
	defer ins.Close()
	now := s.now().UnixNano()
	for _, o := range objs {
		var mod int64
		if !o.Modified.IsZero() {
			mod = unixNano(o.Modified)
		}
		res, err := ins.ExecContext(ctx, collection, o.ID, o.Type, o.SpecVersion, mod, now, o.JSON)
		if err != nil {
			return 0, fmt.Errorf("put object %s: %w", o.ID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("put object %s: %w", o.ID, err)
		}
		added += int(n)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("put objects: commit: %w", err)
	}
	return added, nil
}

// VersionMatch selects versions of each object; the zero value keeps the
// last one. Set fields are alternatives (first,last keeps both).
type VersionMatch struct {
	All, First, Last bool
	// Modified keeps the versions modified at these times.
	Modified []time.Time
}

// ObjectQuery selects shared objects for ListObjects. Zero fields do not
// filter, except Versions (last version only).
type ObjectQuery struct {
	Collection string
	// After keeps objects added strictly after it.
	After time.Time
	// Cursor is the next value of an earlier call with the same filters.
	Cursor string
	// Limit is the page size: DefaultLimit when ≤ 0, at most MaxLimit.
	Limit int
	// IDs, Types and SpecVersions keep objects with one of these values.
	IDs, Types, SpecVersions []string
	Versions                 VersionMatch
}

// ListObjects returns one page of a collection's objects ordered by the
// time they were added, and the cursor of the next page ("" on the last
// page). A collection nothing was ever put in is empty.
func (s *Store) ListObjects(ctx context.Context, q ObjectQuery) (objs []SharedObject, next string, err error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	where := []string{"o.collection = ?"}
	args := []any{q.Collection}
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("list objects: %w (%w)", err, ErrCursor)
		}
		seq, err := strconv.ParseInt(c.ID, 10, 64)
		if err != nil {
			return nil, "", fmt.Errorf("list objects: invalid cursor: %w (%w)", err, ErrCursor)
		}
		where = append(where, "(o.added_at, o.seq) > (?, ?)")
		args = append(args, c.T, seq)
	}
	if !q.After.IsZero() {
		where = append(where, "o.added_at > ?")
		args = append(args, unixNano(q.After))
	}
	filters := []struct {
		col  string
		vals []string
	}{{"o.id", q.IDs}, {"o.type", q.Types}, {"o.spec_version", q.SpecVersions}}
	for _, f := range filters {
		col, vals := f.col, f.vals
		if len(vals) == 0 {
			continue
		}
		j, err := json.Marshal(vals)
		if err != nil {
			return nil, "", fmt.Errorf("list objects: %w", err)
		}
		where = append(where, col+" IN (SELECT value FROM json_each(?))")
		args = append(args, string(j))
	}
	if w, a := versionWhere(q.Versions); w != "" {
		where = append(where, w)
		args = append(args, a...)
	}
	query := "SELECT o.seq, o.id, o.type, o.spec_version, o.modified, o.added_at, o.json FROM taxii_objects o" +
		whereClause(where) + " ORDER BY o.added_at, o.seq LIMIT ?"
	args = append(args, limit+1)

	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list objects: %w", err)
	}
	defer rows.Close()
	var last cursor
	for rows.Next() {
		if len(objs) == limit {
			next = encodeCursor(last)
			break
		}
		var o SharedObject
		var seq, mod, added int64
		if err := rows.Scan(&seq, &o.ID, &o.Type, &o.SpecVersion, &mod, &added, &o.JSON); err != nil {
			return nil, "", fmt.Errorf("list objects: %w", err)
		}
		if mod != 0 {
			o.Modified = time.Unix(0, mod).UTC()
		}
		o.Added = time.Unix(0, added).UTC()
		last = cursor{T: added, ID: strconv.FormatInt(seq, 10)}
		objs = append(objs, o)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list objects: %w", err)
	}
	return objs, next, nil
}

// versionWhere returns the condition of a VersionMatch ("" for all).
func versionWhere(v VersionMatch) (string, []any) {
	if v.All {
		return "", nil
	}
	if !v.First && len(v.Modified) == 0 {
		v.Last = true
	}
	var or []string
	var args []any
	const agg = "(SELECT %s(o2.modified) FROM taxii_objects o2 WHERE o2.collection = o.collection AND o2.id = o.id)"
	if v.Last {
		or = append(or, "o.modified = "+fmt.Sprintf(agg, "MAX"))
	}
	if v.First {
		or = append(or, "o.modified = "+fmt.Sprintf(agg, "MIN"))
	}
	for _, t := range v.Modified {
		or = append(or, "o.modified = ?")
		args = append(args, unixNano(t))
	}
	return "(" + strings.Join(or, " OR ") + ")", args
}

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}
