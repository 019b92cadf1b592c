// Package redis puts the export outbox (queue.Outbox, queue.Producer) on
// Redis Streams, so that several `ttpmap serve` instances share the export
// work of one queue.
//
// Per exporter there is one stream, <prefix><exporter> (default prefix
// "ttpmap:outbox:"), read by one consumer group, ttpmap-<exporter>; every
// Queue value is a consumer of its own name. Enqueue adds one entry per
// finding (fields event_id and finding, the finding's JSON). Claim first
// takes over entries whose lease ended (XCLAIM: a dead worker loses
// nothing), then reads new ones (XREADGROUP), and records each entry's
// lease end in the sorted set <stream>:leases, so a lease lasts what its
// own Claim asked. Ack deletes the entries; Retry moves them to the sorted
// set <stream>:delayed until they are due, when Claim puts them back on
// the stream; DeadLetter moves them to the hash <stream>:dead with the
// reason. Claim and every move is one Lua script, so a crash never loses a
// finding nor leaves one claimed without a lease.
// Nothing is trimmed: a queued finding leaves only by Ack or DeadLetter.
//
// Delivery is at least once, as with the SQLite outbox: sinks key on
// EventID.
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/queue"
)

// Compile-time checks that Queue is a full outbox and producer.
var (
	_ queue.Outbox   = (*Queue)(nil)
	_ queue.Producer = (*Queue)(nil)
)

// DefaultPrefix starts the key of every exporter's stream.
const DefaultPrefix = "ttpmap:outbox:"

// groupPrefix starts the name of every exporter's consumer group.
const groupPrefix = "ttpmap-"

// chunk bounds the ids one script call or one pipeline handles, so that no
// single call blocks Redis for long.
const chunk = 500

// Config tunes a Queue. Zero values take the defaults shown.
type Config struct {
	// Prefix of the per-exporter keys ("ttpmap:outbox:").
	Prefix string
	// Consumer is this instance's name in the consumer groups; it must be
	// unique among the instances sharing the queue (hostname-pid-random).
	Consumer string
	// ConsumerTTL: consumers of other, dead instances that hold nothing and
	// were idle this long are removed from the group when this instance
	// first uses it (24h; negative keeps them).
	ConsumerTTL time.Duration
}

// Queue is a Redis Streams outbox. It is safe for concurrent use.
type Queue struct {
	rdb      *goredis.Client
	cfg      Config
	redacted string // the URL without its password, for errors

	mu     sync.Mutex
	groups map[string]bool                // exporters whose group this Queue has ensured
	leases map[string]map[string]*claimed // exporter → event ID → entries this consumer claimed
}

// claimed is the stream entries of one event ID that this consumer holds.
type claimed struct {
	entries map[string]struct{}
	forget  time.Time // when to drop the record: the latest lease's end plus one lease
}

// New connects to the Redis at rawURL (redis://[user:password@]host:port/db,
// rediss:// for TLS; go-redis query options such as dial_timeout apply),
// checks it answers, and returns the queue. Errors never show the password.
func New(ctx context.Context, rawURL string, cfg Config) (*Queue, error) {
	redacted := redactURL(rawURL)
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis queue: invalid URL %s", redacted)
	}
	opts, err := goredis.ParseURL(rawURL)
	if err != nil {
		// Not wrapped: the text is scrubbed of the credentials.
		return nil, fmt.Errorf("redis queue: invalid URL %s: %s", scrub(redacted, u), scrub(err.Error(), u))
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.Consumer == "" {
		cfg.Consumer = defaultConsumer()
	}
	if cfg.ConsumerTTL == 0 {
		cfg.ConsumerTTL = 24 * time.Hour
	}
	q := &Queue{
		rdb:      goredis.NewClient(opts),
		cfg:      cfg,
		redacted: redacted,
		groups:   map[string]bool{},
		leases:   map[string]map[string]*claimed{},
	}
	if err := q.Ready(ctx); err != nil {
		q.rdb.Close()
		return nil, err
	}
	return q, nil
}

// Consumer is this Queue's name in the consumer groups.
func (q *Queue) Consumer() string { return q.cfg.Consumer }

// Ready reports whether Redis answers (for /readyz).
func (q *Queue) Ready(ctx context.Context) error {
	if err := q.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis queue %s: ping: %w", q.redacted, err)
	}
	return nil
}

// Close removes this consumer from the groups it used when it holds no
// finding (a held one stays claimable by others once its lease expires),
// then closes the connections.
func (q *Queue) Close() error {
	q.mu.Lock()
	exporters := make([]string, 0, len(q.groups))
	for e := range q.groups {
		exporters = append(exporters, e)
	}
	q.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, e := range exporters {
		k := q.keys(e)
		if err := scriptLeave.Run(ctx, q.rdb, []string{k.stream}, k.group, q.cfg.Consumer).Err(); err != nil && !isNoGroup(err) {
			errs = append(errs, fmt.Errorf("leave group %s: %w", k.group, err))
		}
	}
	if err := q.rdb.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close redis queue %s: %w", q.redacted, err)
	}
	return nil
}

// keyset names the Redis keys of one exporter.
type keyset struct {
	stream      string // entries: event_id, finding
	group       string
	leases      string // zset entry ID → lease end (unix ms), for every pending entry
	delayed     string // zset event ID → due (unix ms)
	payload     string // hash event ID → finding JSON, for delayed entries
	attempts    string // hash event ID → failed attempts
	lastError   string // hash event ID → last error
	dead        string // hash event ID → deadRecord JSON
	deadIndex   string // zset event ID → dead-lettered at (unix ms)
	lastSuccess string // unix µs of the last Ack
}

func (q *Queue) keys(exporter string) keyset {
	s := q.cfg.Prefix + exporter
	return keyset{
		stream:      s,
		group:       groupPrefix + exporter,
		leases:      s + ":leases",
		delayed:     s + ":delayed",
		payload:     s + ":payload",
		attempts:    s + ":attempts",
		lastError:   s + ":last_error",
		dead:        s + ":dead",
		deadIndex:   s + ":dead:index",
		lastSuccess: s + ":last_success",
	}
}

// checkExporter rejects names that would make one exporter's keys collide
// with another's.
func checkExporter(exporter string) error {
	if exporter == "" {
		return errors.New("empty exporter name")
	}
	if strings.ContainsAny(exporter, ": \t\r\n") {
		return fmt.Errorf("exporter name %q: must not contain ':' or spaces", exporter)
	}
	return nil
}

// ensureGroup creates the exporter's stream and group once per Queue (a
// group that exists already is fine), reading from the stream's start so
// that findings enqueued before it are delivered, and removes long-idle
// empty consumers of dead instances.
func (q *Queue) ensureGroup(ctx context.Context, exporter string, k keyset) error {
	q.mu.Lock()
	done := q.groups[exporter]
	q.mu.Unlock()
	if done {
		return nil
	}
	err := q.rdb.XGroupCreateMkStream(ctx, k.stream, k.group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create group %s: %w", k.group, err)
	}
	if q.cfg.ConsumerTTL > 0 {
		err := scriptReap.Run(ctx, q.rdb, []string{k.stream}, k.group, q.cfg.Consumer, q.cfg.ConsumerTTL.Milliseconds()).Err()
		if err != nil {
			return fmt.Errorf("reap idle consumers of %s: %w", k.group, err)
		}
	}
	q.mu.Lock()
	q.groups[exporter] = true
	q.mu.Unlock()
	return nil
}

// forgetGroup makes the next call create the group again (after NOGROUP:
// the stream was deleted under us).
func (q *Queue) forgetGroup(exporter string) {
	q.mu.Lock()
	delete(q.groups, exporter)
	q.mu.Unlock()
}

func isNoGroup(err error) bool {
	return err != nil && strings.Contains(err.Error(), "NOGROUP")
}

// Enqueue adds the findings to the exporter's stream, in order. It is not
// atomic: on error some may be queued, and enqueuing all again only causes
// duplicates, which Claim merges when they meet in one batch.
func (q *Queue) Enqueue(ctx context.Context, exporter string, fs []*finding.Finding) error {
	if err := checkExporter(exporter); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	if len(fs) == 0 {
		return nil
	}
	blobs := make([][]byte, len(fs))
	for i, f := range fs {
		if f == nil || f.EventID == "" {
			return fmt.Errorf("enqueue %s: finding %d has no event ID", exporter, i)
		}
		b, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("enqueue %s: encode %s: %w", exporter, f.EventID, err)
		}
		blobs[i] = b
	}
	k := q.keys(exporter)
	if err := q.ensureGroup(ctx, exporter, k); err != nil {
		return fmt.Errorf("enqueue %s: %w", exporter, err)
	}
	for start := 0; start < len(fs); start += chunk {
		end := min(start+chunk, len(fs))
		_, err := q.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i := start; i < end; i++ {
				p.XAdd(ctx, &goredis.XAddArgs{Stream: k.stream, Values: []any{"event_id", fs[i].EventID, "finding", blobs[i]}})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("enqueue %s: %d of %d queued: %w", exporter, start, len(fs), err)
		}
	}
	return nil
}

// OutboxStats returns how many findings are queued for the exporter (on the
// stream, claimed or not, plus those waiting for a retry), how many were
// dead-lettered, and when any instance last acked a delivery (zero if
// never).
func (q *Queue) OutboxStats(ctx context.Context, exporter string) (queued, failed int, lastSuccess time.Time, err error) {
	if err := checkExporter(exporter); err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("outbox stats: %w", err)
	}
	k := q.keys(exporter)
	var xlen, zcard, hlen *goredis.IntCmd
	var last *goredis.StringCmd
	_, err = q.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		xlen = p.XLen(ctx, k.stream)
		zcard = p.ZCard(ctx, k.delayed)
		hlen = p.HLen(ctx, k.dead)
		last = p.Get(ctx, k.lastSuccess)
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return 0, 0, time.Time{}, fmt.Errorf("outbox stats %s: %w", exporter, err)
	}
	if s, err := last.Result(); err == nil {
		us, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, time.Time{}, fmt.Errorf("outbox stats %s: last success %q: %w", exporter, s, err)
		}
		lastSuccess = time.UnixMicro(us)
	}
	return int(xlen.Val() + zcard.Val()), int(hlen.Val()), lastSuccess, nil
}

// DeadLetter is one finding an exporter gave up on.
type DeadLetter struct {
	EventID  string    `json:"event_id"`
	Reason   string    `json:"reason"`
	Attempts int       `json:"attempts"` // failed deliveries, including the last one
	FailedAt time.Time `json:"failed_at"`
	Entry    string    `json:"-"` // stream entry ID it had
	Finding  string    `json:"-"` // the queued finding as stored (JSON, unless it was malformed)
}

// Redrive queues up to max (all when ≤ 0) of the exporter's dead letters
// again, oldest first, and returns how many it moved. Malformed ones stay.
func (q *Queue) Redrive(ctx context.Context, exporter string, max int) (int, error) {
	if err := checkExporter(exporter); err != nil {
		return 0, fmt.Errorf("redrive: %w", err)
	}
	k := q.keys(exporter)
	n, err := scriptRedrive.Run(ctx, q.rdb, []string{k.stream, k.dead, k.deadIndex, k.attempts}, max).Int()
	if err != nil {
		return 0, fmt.Errorf("redrive %s: %w", exporter, err)
	}
	return n, nil
}

// deadRecord is the JSON stored per dead letter (written by the Lua
// scripts: failed_at is a string of unix µs, beyond Lua's number format).
type deadRecord struct {
	Reason   string `json:"reason"`
	Attempts int    `json:"attempts"`
	FailedAt string `json:"failed_at"`
	Entry    string `json:"entry"`
	Finding  string `json:"finding"`
}

// DeadLetters returns up to limit (100 when ≤ 0) dead letters of the
// exporter, most recent first.
func (q *Queue) DeadLetters(ctx context.Context, exporter string, limit int) ([]DeadLetter, error) {
	if err := checkExporter(exporter); err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	if limit <= 0 {
		limit = 100
	}
	k := q.keys(exporter)
	ids, err := q.rdb.ZRevRange(ctx, k.deadIndex, 0, int64(limit-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("dead letters %s: %w", exporter, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	recs, err := q.rdb.HMGet(ctx, k.dead, ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("dead letters %s: %w", exporter, err)
	}
	out := make([]DeadLetter, 0, len(ids))
	for i, id := range ids {
		s, ok := recs[i].(string)
		if !ok {
			continue // removed meanwhile
		}
		var r deadRecord
		if err := json.Unmarshal([]byte(s), &r); err != nil {
			return nil, fmt.Errorf("dead letters %s: %s: %w", exporter, id, err)
		}
		d := DeadLetter{EventID: id, Reason: r.Reason, Attempts: r.Attempts, Entry: r.Entry, Finding: r.Finding}
		if us, err := strconv.ParseInt(r.FailedAt, 10, 64); err == nil {
			d.FailedAt = time.UnixMicro(us)
		}
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].FailedAt.After(out[j].FailedAt) })
	return out, nil
}

// defaultConsumer names this process: hostname-pid-random.
func defaultConsumer() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "ttpmap"
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// redactURL returns rawURL with any password replaced by "xxxxx", also when
// it does not parse.
func redactURL(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		return u.Redacted()
	}
	rest := rawURL
	scheme := ""
	if i := strings.Index(rest, "://"); i >= 0 {
		scheme, rest = rest[:i+3], rest[i+3:]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		return scheme + "xxxxx" + rest[i:]
	}
	return scheme + rest
}

// scrub removes u's password from an error text.
func scrub(s string, u *url.URL) string {
	if u.User == nil {
		return s
	}
	if p, ok := u.User.Password(); ok && p != "" {
		s = strings.ReplaceAll(s, p, "xxxxx")
	}
	return s
}
