package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/finding"
)

// Page sizes of List.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Query selects findings for List. Zero fields do not filter.
type Query struct {
	// Limit is the page size: DefaultLimit when ≤ 0, at most MaxLimit.
	Limit int
	// Cursor is the opaque next value of the previous page; "" starts at
	// the beginning. It must be used with the same filters and order.
	Cursor string
	// Since keeps findings whose timestamp is at or after it.
	Since time.Time
	// Technique keeps findings tagged with this ATT&CK technique or one of
	// its sub-techniques ("T1059" also matches "T1059.001"); case-insensitive.
	Technique string
	// Severity keeps findings of this severity; case-insensitive.
	Severity string
	// Host keeps findings of this host; case-insensitive.
	Host string
	// Desc lists newest first; the default is oldest first.
	Desc bool
}

// cursor is the keyset position after which the next page starts.
type cursor struct {
	T  int64  `json:"t"`
	ID string `json:"id"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c) // cannot fail: an int and a string
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, fmt.Errorf("invalid cursor: %w (%w)", err, ErrCursor)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("invalid cursor: %w (%w)", err, ErrCursor)
	}
	if c.ID == "" {
		return c, fmt.Errorf("invalid cursor: no event id (%w)", ErrCursor)
	}
	return c, nil
}

// List returns one page of findings ordered by (timestamp, event_id), and
// the cursor of the next page ("" on the last page).
func (s *Store) List(ctx context.Context, q Query) (fs []*finding.Finding, next string, err error) {
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
			return nil, "", fmt.Errorf("list findings: %w", err)
		}
		op := ">"
		if q.Desc {
			op = "<"
		}
		where = append(where, "(timestamp, event_id) "+op+" (?, ?)")
		args = append(args, c.T, c.ID)
	}
	if !q.Since.IsZero() {
		where = append(where, "timestamp >= ?")
		args = append(args, unixNano(q.Since))
	}
	if t := strings.TrimSpace(q.Technique); t != "" {
		where = append(where, `EXISTS (SELECT 1 FROM json_each(findings.technique_ids) j
			WHERE upper(j.value) = upper(?) OR upper(substr(j.value, 1, ?)) = upper(?))`)
		args = append(args, t, len(t)+1, t+".")
	}
	if q.Severity != "" {
		where = append(where, "severity = ? COLLATE NOCASE")
		args = append(args, strings.TrimSpace(q.Severity))
	}
	if q.Host != "" {
		where = append(where, "host = ? COLLATE NOCASE")
		args = append(args, q.Host)
	}
	query := "SELECT timestamp, event_id, json FROM findings" + whereClause(where)
	if q.Desc {
		query += " ORDER BY timestamp DESC, event_id DESC"
	} else {
		query += " ORDER BY timestamp, event_id"
	}
	query += " LIMIT ?"
	args = append(args, limit+1)

	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list findings: %w", err)
	}
	defer rows.Close()
	var last cursor
	for rows.Next() {
		if len(fs) == limit {
			next = encodeCursor(last)
			break
		}
		var blob []byte
		if err := rows.Scan(&last.T, &last.ID, &blob); err != nil {
			return nil, "", fmt.Errorf("list findings: %w", err)
		}
		f, err := decode(blob)
		if err != nil {
			return nil, "", fmt.Errorf("list findings: %s: %w", last.ID, err)
		}
		fs = append(fs, f)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list findings: %w", err)
	}
	return fs, next, nil
}

// CountTechnique returns how many findings are tagged with the technique or
// one of its sub-techniques.
func (s *Store) CountTechnique(ctx context.Context, technique string) (int, error) {
	t := strings.TrimSpace(technique)
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM findings WHERE EXISTS (SELECT 1 FROM json_each(findings.technique_ids) j
		WHERE upper(j.value) = upper(?) OR upper(substr(j.value, 1, ?)) = upper(?))`, t, len(t)+1, t+".").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", technique, err)
	}
	return n, nil
}
