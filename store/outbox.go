package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ttpmap/ttpmap/finding"
)

// The outbox holds, per exporter, the findings not yet delivered. An
// exporter loop Claims a batch (leasing it so that no other worker takes it
// meanwhile), sends it, then Acks the delivered findings, Retries the ones
// that failed transiently and DeadLetters the ones that never will be
// accepted. A worker that dies holding a lease loses nothing: once the
// lease expires the rows are claimable again, so delivery is at least once
// and sinks key on EventID.

// Claim leases up to n findings queued for the exporter that are due (never
// leased or lease expired, and past their retry time), oldest queued first,
// for the lease duration.
func (s *Store) Claim(ctx context.Context, exporter string, n int, lease time.Duration) ([]*finding.Finding, error) {
	if n <= 0 {
		return nil, nil
	}
	if lease <= 0 {
		return nil, fmt.Errorf("claim %s: lease must be positive, got %s", exporter, lease)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("claim %s: begin: %w", exporter, err)
	}
	defer tx.Rollback()
	now := s.now()
	rows, err := tx.QueryContext(ctx, `SELECT o.id, f.json FROM outbox o JOIN findings f ON f.event_id = o.event_id
		WHERE o.exporter = ? AND o.lease_until <= ? AND o.next_attempt_at <= ?
		ORDER BY o.id LIMIT ?`, exporter, now.UnixNano(), now.UnixNano(), n)
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", exporter, err)
	}
	var ids []int64
	var fs []*finding.Finding
	for rows.Next() {
		var id int64
		var blob []byte
		if err := rows.Scan(&id, &blob); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim %s: %w", exporter, err)
		}
		f, err := decode(blob)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim %s: %w", exporter, err)
		}
		ids = append(ids, id)
		fs = append(fs, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim %s: %w", exporter, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	upd, err := tx.PrepareContext(ctx, `UPDATE outbox SET lease_until = ? WHERE id = ?`)
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", exporter, err)
	}
	defer upd.Close()
	until := unixNano(now.Add(lease))
	for _, id := range ids {
		if _, err := upd.ExecContext(ctx, until, id); err != nil {
			return nil, fmt.Errorf("claim %s: %w", exporter, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("claim %s: commit: %w", exporter, err)
	}
	return fs, nil
}

// Ack removes delivered findings from the exporter's outbox and records the
// time as its last success.
func (s *Store) Ack(ctx context.Context, exporter string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	now := s.now().UnixNano()
	err := s.eachID(ctx, ids, `DELETE FROM outbox WHERE exporter = ? AND event_id = ?`,
		func(id string) []any { return []any{exporter, id} },
		func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO exporter_state (exporter, last_success) VALUES (?, ?)
				ON CONFLICT (exporter) DO UPDATE SET last_success = excluded.last_success`, exporter, now)
			return err
		})
	if err != nil {
		return fmt.Errorf("ack %s: %w", exporter, err)
	}
	return nil
}

// Retry releases the lease of findings whose delivery failed transiently:
// their attempt count goes up, lastErr is recorded and they become
// claimable again after the delay.
func (s *Store) Retry(ctx context.Context, exporter string, ids []string, after time.Duration, lastErr string) error {
	if len(ids) == 0 {
		return nil
	}
	next := unixNano(s.now().Add(max(after, 0)))
	err := s.eachID(ctx, ids, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, lease_until = 0, last_error = ?
		WHERE exporter = ? AND event_id = ?`,
		func(id string) []any { return []any{next, lastErr, exporter, id} }, nil)
	if err != nil {
		return fmt.Errorf("retry %s: %w", exporter, err)
	}
	return nil
}

// DeadLetter moves findings that will never be delivered from the
// exporter's outbox to the dead_letters table, with the reason and the
// number of attempts including this last one. The findings stay stored.
func (s *Store) DeadLetter(ctx context.Context, exporter string, ids []string, reason string) error {
	if len(ids) == 0 {
		return nil
	}
	now := s.now().UnixNano()
	err := s.eachID(ctx, ids, `INSERT OR REPLACE INTO dead_letters (exporter, event_id, reason, attempts, failed_at)
		SELECT exporter, event_id, ?, attempts + 1, ? FROM outbox WHERE exporter = ? AND event_id = ?`,
		func(id string) []any { return []any{reason, now, exporter, id} },
		func(tx *sql.Tx) error {
			del, err := tx.PrepareContext(ctx, `DELETE FROM outbox WHERE exporter = ? AND event_id = ?`)
			if err != nil {
				return err
			}
			defer del.Close()
			for _, id := range ids {
				if _, err := del.ExecContext(ctx, exporter, id); err != nil {
					return err
				}
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("dead-letter %s: %w", exporter, err)
	}
	return nil
}

// DeadLetterEntry is one finding an exporter gave up on.
type DeadLetterEntry struct {
	EventID  string    `json:"event_id"`
	Reason   string    `json:"reason"`
	Attempts int       `json:"attempts"`
	FailedAt time.Time `json:"failed_at"`
}

// DeadLetters returns up to limit (100 when ≤ 0) dead letters of the
// exporter, most recent first.
func (s *Store) DeadLetters(ctx context.Context, exporter string, limit int) ([]DeadLetterEntry, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	rows, err := s.r.QueryContext(ctx, `SELECT event_id, reason, attempts, failed_at FROM dead_letters
		WHERE exporter = ? ORDER BY failed_at DESC, event_id LIMIT ?`, exporter, limit)
	if err != nil {
		return nil, fmt.Errorf("dead letters %s: %w", exporter, err)
	}
	defer rows.Close()
	var out []DeadLetterEntry
	for rows.Next() {
		var e DeadLetterEntry
		var at int64
		if err := rows.Scan(&e.EventID, &e.Reason, &e.Attempts, &at); err != nil {
			return nil, fmt.Errorf("dead letters %s: %w", exporter, err)
		}
		e.FailedAt = time.Unix(0, at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dead letters %s: %w", exporter, err)
	}
	return out, nil
}

// Redrive queues up to max (all when ≤ 0) of the exporter's dead letters
// again, oldest first, e.g. after a wrong credential was fixed, and returns
// how many it moved.
func (s *Store) Redrive(ctx context.Context, exporter string, max int) (int, error) {
	if max <= 0 {
		max = -1 // SQLite: no limit
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("redrive %s: begin: %w", exporter, err)
	}
	defer tx.Rollback()
	now := s.now().UnixNano()
	res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO outbox (exporter, event_id, enqueued_at)
		SELECT exporter, event_id, ? FROM dead_letters WHERE exporter = ? ORDER BY failed_at, event_id LIMIT ?`, now, exporter, max)
	if err != nil {
		return 0, fmt.Errorf("redrive %s: %w", exporter, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("redrive %s: %w", exporter, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM dead_letters WHERE exporter = ? AND event_id IN
		(SELECT event_id FROM outbox WHERE exporter = ?)`, exporter, exporter); err != nil {
		return 0, fmt.Errorf("redrive %s: %w", exporter, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("redrive %s: commit: %w", exporter, err)
	}
	return int(n), nil
}

// OutboxStats returns how many findings are queued for the exporter (due or
// not, leased or not), how many it dead-lettered, and when it last acked a
// delivery (zero if never).
func (s *Store) OutboxStats(ctx context.Context, exporter string) (queued, failed int, lastSuccess time.Time, err error) {
	var last sql.NullInt64
	err = s.r.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM outbox WHERE exporter = ?1),
		(SELECT COUNT(*) FROM dead_letters WHERE exporter = ?1),
		(SELECT last_success FROM exporter_state WHERE exporter = ?1)`, exporter).Scan(&queued, &failed, &last)
	if err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("outbox stats %s: %w", exporter, err)
	}
	if last.Valid {
		lastSuccess = time.Unix(0, last.Int64)
	}
	return queued, failed, lastSuccess, nil
}

// eachID runs stmt with args(id) for every id, then after (if any), in one
// transaction.
func (s *Store) eachID(ctx context.Context, ids []string, stmt string, args func(string) []any, after func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, stmt)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	defer st.Close()
	for _, id := range ids {
		if _, err := st.ExecContext(ctx, args(id)...); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
	}
	if after != nil {
		if err := after(tx); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
