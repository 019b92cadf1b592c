// Package queue defines the outbox contract the export loop consumes: per
// exporter, findings are claimed under a lease, then acknowledged, retried
// later or dead-lettered. The embedded SQLite store (store.Store) is the
// default implementation; queue/redis puts the outbox on Redis Streams so
// several `ttpmap serve` instances share the work.
//
// Delivery is at least once: a worker that dies holding a lease loses
// nothing, the findings become claimable again when the lease expires, so
// sinks key on EventID.
package queue

import (
	"context"
	"time"

	"github.com/ttpmap/ttpmap/finding"
)

// Outbox is what an exporter loop needs from a queue.
type Outbox interface {
	// Claim leases up to n due findings queued for the exporter, oldest
	// first, for the lease duration.
	Claim(ctx context.Context, exporter string, n int, lease time.Duration) ([]*finding.Finding, error)
	// Ack removes delivered findings and records the success time.
	Ack(ctx context.Context, exporter string, ids []string) error
	// Retry releases findings whose delivery failed transiently; they are
	// due again after the delay.
	Retry(ctx context.Context, exporter string, ids []string, after time.Duration, lastErr string) error
	// DeadLetter moves findings that will never be accepted out of the
	// queue, keeping the reason.
	DeadLetter(ctx context.Context, exporter string, ids []string, reason string) error
	// OutboxStats reports the queued (due or not) and dead-lettered counts
	// and the time of the last successful delivery (zero when none).
	OutboxStats(ctx context.Context, exporter string) (queued, failed int, lastSuccess time.Time, err error)
}

// Producer is a queue that findings are put on separately from the store
// (Redis). With the SQLite store, store.Put queues in the same transaction
// that stores, so it needs no Producer.
type Producer interface {
	Enqueue(ctx context.Context, exporter string, fs []*finding.Finding) error
}
