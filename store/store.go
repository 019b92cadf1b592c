// Package store keeps findings and a per-exporter outbox in an embedded
// SQLite database (WAL mode), so that "accepted means stored": once Put has
// returned nil, the findings and the work of exporting them survive a crash
// (kill -9) of the process, and export resumes on restart by claiming the
// outbox again.
//
// Writes go through a single connection whose transactions start with
// BEGIN IMMEDIATE, so concurrent writers queue instead of failing with
// SQLITE_BUSY, and concurrent Puts share one commit (group.go); reads use a
// separate, read-only pool and run beside them. Commits are synced to disk
// (SyncFull) unless Options say otherwise.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/ttpmap/ttpmap/finding"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// ErrNotFound is returned by Get and Delete when no finding has the event ID.
var ErrNotFound = errors.New("finding not found")

// Store is a findings database. Its methods are safe for concurrent use.
type Store struct {
	w *sql.DB // one connection: every write, serialised
	r *sql.DB // read-only pool
	// now returns the current time; tests may replace it.
	now   func() time.Time
	group putGroup
}

// Sync is how a commit waits for the disk (SQLite's synchronous pragma in
// WAL mode).
type Sync int

const (
	// SyncFull syncs the log at every commit: a stored finding survives a
	// power cut as well as a crash. The default.
	SyncFull Sync = iota
	// SyncNormal syncs only at checkpoints: a stored finding survives the
	// process being killed, but a power cut may lose the last commits.
	// Commits are cheaper (see docs/performance.md).
	SyncNormal
)

// ParseSync reads "full" or "normal".
func ParseSync(s string) (Sync, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "full", "":
		return SyncFull, nil
	case "normal":
		return SyncNormal, nil
	}
	return 0, fmt.Errorf("unknown sync mode %q (want full or normal)", s)
}

// Options tune Open.
type Options struct {
	Sync Sync
}

// Open opens (creating it if needed) the database at path with the
// default Options and brings its schema up to date.
func Open(path string) (*Store, error) { return OpenWith(path, Options{}) }

// OpenWith is Open with options.
func OpenWith(path string, o Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("open store: empty path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open store %s: path may not contain '?' or '#'", path)
	}
	mode := "FULL"
	if o.Sync == SyncNormal {
		mode = "NORMAL"
	}
	pragmas := "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(" + mode + ")&_pragma=foreign_keys(1)"
	w, err := sql.Open("sqlite", path+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, now: time.Now}
	if err := s.migrate(context.Background()); err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	r.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	s.r = r
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	errR := s.r.Close()
	errW := s.w.Close()
	if err := errors.Join(errW, errR); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// migrations are applied in order; migrations[i] brings the schema to
// version i+1. Append, never edit.
var migrations = []string{
	`CREATE TABLE findings (
		event_id      TEXT PRIMARY KEY,
		timestamp     INTEGER NOT NULL, -- Unix nanoseconds, clamped (see unixNano)
		severity      TEXT NOT NULL,
		host          TEXT NOT NULL,
		user          TEXT NOT NULL,
		technique_ids TEXT NOT NULL,    -- JSON array of strings
		rule_id       TEXT NOT NULL,
		json          BLOB NOT NULL,    -- the whole Finding
		stored_at     INTEGER NOT NULL
	);
	CREATE INDEX findings_time ON findings (timestamp, event_id);
	CREATE INDEX findings_host ON findings (host COLLATE NOCASE, timestamp, event_id);
	CREATE TABLE outbox (
		id              INTEGER PRIMARY KEY AUTOINCREMENT,
		exporter        TEXT NOT NULL,
		event_id        TEXT NOT NULL REFERENCES findings (event_id) ON DELETE CASCADE,
		enqueued_at     INTEGER NOT NULL,
		attempts        INTEGER NOT NULL DEFAULT 0,
		next_attempt_at INTEGER NOT NULL DEFAULT 0,
		lease_until     INTEGER NOT NULL DEFAULT 0,
		last_error      TEXT NOT NULL DEFAULT '',
		UNIQUE (exporter, event_id)
	);
	CREATE INDEX outbox_event ON outbox (event_id);
	CREATE INDEX outbox_order ON outbox (exporter, id);
	CREATE TABLE dead_letters (
		exporter  TEXT NOT NULL,
		event_id  TEXT NOT NULL REFERENCES findings (event_id) ON DELETE CASCADE,
		reason    TEXT NOT NULL,
		attempts  INTEGER NOT NULL,
		failed_at INTEGER NOT NULL,
		PRIMARY KEY (exporter, event_id)
	);
	CREATE INDEX dead_letters_event ON dead_letters (event_id);
	CREATE TABLE exporter_state (
		exporter     TEXT PRIMARY KEY,
		last_success INTEGER NOT NULL
	);`,
	// 2: TAXII — findings in the order they were added; objects POSTed
	// by partners.
	`CREATE INDEX findings_stored ON findings (stored_at, event_id);
	CREATE TABLE IF NOT EXISTS taxii_objects (
		seq          INTEGER PRIMARY KEY AUTOINCREMENT,
		collection   TEXT NOT NULL,
		id           TEXT NOT NULL,
		type         TEXT NOT NULL,
		spec_version TEXT NOT NULL,
		modified     INTEGER NOT NULL,
		added_at     INTEGER NOT NULL,
		json         BLOB NOT NULL,
		UNIQUE (collection, id, modified)
	);
	CREATE INDEX IF NOT EXISTS taxii_objects_added ON taxii_objects (collection, added_at, seq);`,
	// 3: small records the service keeps across restarts (scan jobs,
	// TAXII status resources).
	`CREATE TABLE records (
		kind       TEXT NOT NULL,
		id         TEXT NOT NULL,
		json       BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (kind, id)
	);
	CREATE INDEX records_created ON records (kind, created_at, id);`,
}

// migrate creates schema_version and applies the migrations not yet applied,
// each in its own transaction.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	for {
		done, err := s.migrateOne(ctx)
		if err != nil || done {
			return err
		}
	}
}

func (s *Store) migrateOne(ctx context.Context) (done bool, err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return false, fmt.Errorf("migrate: read version: %w", err)
	}
	if v > len(migrations) {
		return false, fmt.Errorf("schema version %d is newer than this program's %d", v, len(migrations))
	}
	if v == len(migrations) {
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
		return false, fmt.Errorf("migrate to version %d: %w", v+1, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`, v+1, s.now().UnixNano()); err != nil {
		return false, fmt.Errorf("migrate to version %d: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate to version %d: commit: %w", v+1, err)
	}
	return false, nil
}

// SchemaVersion returns the schema version of the open database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}

// unixNano returns t in Unix nanoseconds, clamped to the int64 range (years
// 1678–2262), so that the zero time and far dates still order correctly.
func unixNano(t time.Time) int64 {
	if t.Before(minTime) {
		return math.MinInt64
	}
	if t.After(maxTime) {
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// Put stores the findings and queues each newly stored finding once for
// every exporter, all in one transaction: when Put returns nil, all of it is
// durable; otherwise none of it is. A finding whose EventID is already stored
// is left unchanged and not queued again, so re-posting the same event is
// idempotent. Concurrent Puts share a transaction (see group.go).
func (s *Store) Put(ctx context.Context, fs []*finding.Finding, exporters []string) error {
	req, err := newPutReq(ctx, fs, exporters)
	if err != nil || len(req.rows) == 0 {
		return err
	}
	return s.group.submit(s, req)
}

// newPutReq checks and encodes the findings of a Put.
func newPutReq(ctx context.Context, fs []*finding.Finding, exporters []string) (*putReq, error) {
	rows := make([]putRow, 0, len(fs))
	for i, f := range fs {
		if f == nil {
			return nil, fmt.Errorf("put finding %d: nil finding", i)
		}
		if f.EventID == "" {
			return nil, fmt.Errorf("put finding %d: empty event_id", i)
		}
		tech := f.TechniqueIDs
		if tech == nil {
			tech = []string{}
		}
		tj, err := json.Marshal(tech)
		if err != nil {
			return nil, fmt.Errorf("put finding %s: %w", f.EventID, err)
		}
		blob, err := json.Marshal(f)
		if err != nil {
			return nil, fmt.Errorf("put finding %s: %w", f.EventID, err)
		}
		rows = append(rows, putRow{f, tj, blob})
	}
	for _, e := range exporters {
		if e == "" {
			return nil, errors.New("put findings: empty exporter name")
		}
	}
	return &putReq{ctx: ctx, rows: rows, exporters: exporters, done: make(chan error, 1)}, nil
}

// putRow is a finding ready to insert.
type putRow struct {
	f          *finding.Finding
	techniques []byte
	blob       []byte
}

// putTx inserts the requests' findings and outbox rows in tx.
func (s *Store) putTx(ctx context.Context, tx *sql.Tx, reqs []*putReq) error {
	insF, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO findings
		(event_id, timestamp, severity, host, user, technique_ids, rule_id, json, stored_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("put findings: prepare: %w", err)
	}
	defer insF.Close()
	insO, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO outbox (exporter, event_id, enqueued_at) VALUES (?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("put findings: prepare: %w", err)
	}
	defer insO.Close()
	now := s.now().UnixNano()
	for _, req := range reqs {
		for _, r := range req.rows {
			f := r.f
			res, err := insF.ExecContext(ctx, f.EventID, unixNano(f.Timestamp), f.Severity, f.Host, f.User,
				string(r.techniques), f.RuleID, r.blob, now)
			if err != nil {
				return fmt.Errorf("put finding %s: %w", f.EventID, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("put finding %s: %w", f.EventID, err)
			}
			if n == 0 {
				continue // already stored (and queued when it was)
			}
			for _, e := range req.exporters {
				if _, err := insO.ExecContext(ctx, e, f.EventID, now); err != nil {
					return fmt.Errorf("put finding %s: queue for %s: %w", f.EventID, e, err)
				}
			}
		}
	}
	return nil
}

// Get returns the finding with the event ID, or an error wrapping
// ErrNotFound.
func (s *Store) Get(ctx context.Context, eventID string) (*finding.Finding, error) {
	var blob []byte
	err := s.r.QueryRowContext(ctx, `SELECT json FROM findings WHERE event_id = ?`, eventID).Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get %q: %w", eventID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", eventID, err)
	}
	f, err := decode(blob)
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", eventID, err)
	}
	return f, nil
}

// Delete removes the finding with the event ID, with its outbox and
// dead-letter rows, or returns an error wrapping ErrNotFound.
func (s *Store) Delete(ctx context.Context, eventID string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM findings WHERE event_id = ?`, eventID)
	if err != nil {
		return fmt.Errorf("delete %q: %w", eventID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete %q: %w", eventID, err)
	}
	if n == 0 {
		return fmt.Errorf("delete %q: %w", eventID, ErrNotFound)
	}
	return nil
}

// Count returns the number of stored findings.
func (s *Store) Count(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM findings`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count findings: %w", err)
	}
	return n, nil
}

func decode(blob []byte) (*finding.Finding, error) {
	var f finding.Finding
	if err := json.Unmarshal(blob, &f); err != nil {
		return nil, fmt.Errorf("decode stored finding: %w", err)
	}
	return &f, nil
}
