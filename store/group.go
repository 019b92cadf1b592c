package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Group commit: every Put is a durable transaction, and a commit costs far
// more than the few rows an enrich request adds. So Puts that arrive while
// another is committing wait, and the next of them to lead commits all that
// wait in one transaction. A leader commits one group and hands the lead to
// the first waiter, so no caller serves others' requests for long.

// errLead tells a waiting request that it leads the next group.
var errLead = errors.New("lead the next group")

// putReq is one Put waiting to be committed.
type putReq struct {
	ctx       context.Context
	rows      []putRow
	exporters []string
	done      chan error // buffered (1): the result, or errLead
}

// putGroup gathers waiting Puts.
type putGroup struct {
	mu      sync.Mutex
	pending []*putReq
	busy    bool // a leader is committing
}

// submit queues req and returns its result, leading a group commit when no
// one else is.
func (g *putGroup) submit(s *Store, req *putReq) error {
	g.mu.Lock()
	g.pending = append(g.pending, req)
	lead := !g.busy
	g.busy = true
	g.mu.Unlock()
	if !lead {
		if err := <-req.done; err != errLead {
			return err
		}
	}
	g.mu.Lock()
	batch := g.pending // holds req: only a leader takes from pending
	g.pending = nil
	g.mu.Unlock()
	s.commitGroup(batch)
	g.mu.Lock()
	if len(g.pending) > 0 {
		g.pending[0].done <- errLead
	} else {
		g.busy = false
	}
	g.mu.Unlock()
	return <-req.done
}

// commitGroup writes the requests in one transaction and answers each. If
// that fails and there were several, each is tried alone, so that one bad
// request fails only itself.
func (s *Store) commitGroup(reqs []*putReq) {
	live := reqs[:0:0]
	for _, r := range reqs {
		if err := r.ctx.Err(); err != nil {
			r.done <- fmt.Errorf("put findings: %w", err)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	err := s.putGroupTx(live)
	if err != nil && len(live) > 1 {
		for _, r := range live {
			r.done <- s.putGroupTx([]*putReq{r})
		}
		return
	}
	for _, r := range live {
		r.done <- err
	}
}

// putGroupTx runs one transaction for the requests. Its context is not
// any one caller's: once begun, the group's commit is finished for all.
func (s *Store) putGroupTx(reqs []*putReq) error {
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("put findings: begin: %w", err)
	}
	defer tx.Rollback()
	if err := s.putTx(ctx, tx, reqs); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("put findings: commit: %w", err)
	}
	return nil
}
