package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// Records are small JSON documents the service keeps across restarts, by
// kind ("scan_job", "taxii_status") and id: scan job records and TAXII
// status resources, which a client may ask for after the server that made
// them was restarted.

// ErrNoRecord is wrapped by GetRecord's error when no record has the kind
// and id.
var ErrNoRecord = errors.New("no such record")

// PutRecord stores v (as JSON) under kind and id, replacing an earlier
// version but keeping its creation time. When keep > 0, only the keep
// newest records of the kind (by creation) are kept: older ones are deleted
// in the same transaction.
func (s *Store) PutRecord(ctx context.Context, kind, id string, v any, keep int) error {
	if kind == "" || id == "" {
		return fmt.Errorf("put record %q/%q: empty kind or id", kind, id)
	}
	blob, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("put record %s/%s: %w", kind, id, err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("put record %s/%s: begin: %w", kind, id, err)
	}
	defer tx.Rollback()
	now := s.now().UnixNano()
	if _, err := tx.ExecContext(ctx, `INSERT INTO records (kind, id, json, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (kind, id) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at`,
		kind, id, blob, now, now); err != nil {
		return fmt.Errorf("put record %s/%s: %w", kind, id, err)
	}
	if keep > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE kind = ? AND id IN (
			SELECT id FROM records WHERE kind = ? ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?)`,
			kind, kind, keep); err != nil {
			return fmt.Errorf("put record %s/%s: prune: %w", kind, id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("put record %s/%s: commit: %w", kind, id, err)
	}
	return nil
}

// GetRecord decodes the record under kind and id into v, or returns an
// error wrapping ErrNoRecord.
func (s *Store) GetRecord(ctx context.Context, kind, id string, v any) error {
	var blob []byte
	err := s.r.QueryRowContext(ctx, `SELECT json FROM records WHERE kind = ? AND id = ?`, kind, id).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("get record %s/%q: %w", kind, id, ErrNoRecord)
	}
	if err != nil {
		return fmt.Errorf("get record %s/%q: %w", kind, id, err)
	}
	if err := json.Unmarshal(blob, v); err != nil {
		return fmt.Errorf("get record %s/%q: decode: %w", kind, id, err)
	}
	return nil
}

// Records returns the JSON of every record of the kind, oldest first.
// PutRecord's keep bounds a kind, so this reads them all at once.
func (s *Store) Records(ctx context.Context, kind string) ([]json.RawMessage, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT json FROM records WHERE kind = ? ORDER BY created_at, id`, kind)
	if err != nil {
		return nil, fmt.Errorf("list records %s: %w", kind, err)
	}
	defer rows.Close()
	var out []json.RawMessage
	for rows.Next() {
		var blob []byte
		if err := rows.Scan(&blob); err != nil {
			return nil, fmt.Errorf("list records %s: %w", kind, err)
		}
		out = append(out, blob)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list records %s: %w", kind, err)
	}
	return out, nil
}
