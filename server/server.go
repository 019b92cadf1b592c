// Package server is `ttpmap serve`: the enrichment API (events in, ATT&CK
// findings out, stored before the 2xx), the durable export loops, TAXII and
// the web UI mounted beside it, health, readiness and Prometheus metrics.
// Every route but /healthz and /readyz is authenticated (server/auth).
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/export/deliver"
	"github.com/ttpmap/ttpmap/finding"
	"github.com/ttpmap/ttpmap/queue"
	"github.com/ttpmap/ttpmap/server/auth"
	"github.com/ttpmap/ttpmap/sigma"
	"github.com/ttpmap/ttpmap/store"
)

// Limits and defaults.
const (
	DefaultMaxBody   = 1 << 20   // one enrich request
	DefaultMaxBatch  = 1000      // events in one batch request
	DefaultMaxUpload = 256 << 20 // one scan upload
)

// Exporter is one SIEM sink with its delivery loop.
type Exporter struct {
	Name string // outbox key: "elastic", "splunk"
	URL  string // shown in status; never holds credentials
	Loop *deliver.Loop
}

// Rules loads the rule set; the server calls it at start and on reload.
type Rules func() ([]*sigma.Rule, error)

// Config is everything a Server needs. Store, KB, Rules and an
// authenticator (Verifier or Keys) are required.
type Config struct {
	Store    *store.Store
	Outbox   queue.Outbox   // nil: Store's own outbox
	Producer queue.Producer // set when the outbox is not the store (Redis)
	// Ready reports whether the external queue is reachable (nil: always).
	Ready     func(ctx context.Context) error
	Exporters []Exporter
	// DeadLetters lists (a JSON array, never null) and Redrive re-queues
	// an exporter's dead letters; nil: the Store's (set both when the
	// outbox is elsewhere).
	DeadLetters func(ctx context.Context, exporter string, limit int) (any, error)
	Redrive     func(ctx context.Context, exporter string, max int) (int, error)

	KB            *attack.KB
	Rules         Rules
	EngineOptions detect.Options
	// Coverage computes the coverage document for the loaded rules (nil:
	// the route answers 404).
	Coverage func(ctx context.Context, rules []*sigma.Rule) (any, error)

	Verifier *auth.Verifier
	Keys     *auth.KeySet

	TAXII http.Handler // mounted at /taxii2/ when set
	Web   http.Handler // mounted at / when set

	MaxBody   int64 // bytes of an enrich request (DefaultMaxBody)
	MaxBatch  int   // events of a batch request (DefaultMaxBatch)
	MaxUpload int64 // bytes of a scan upload (DefaultMaxUpload)
	ScanDir   string
	Logger    *slog.Logger
	Version   string
}

// Server is a running service. Create with New, serve Handler, stop with
// Close.
type Server struct {
	cfg      Config
	log      *slog.Logger
	outbox   queue.Outbox
	enricher *enricher
	rules    atomic.Pointer[[]*sigma.Rule]
	metrics  *metrics
	jobs     *jobs
	handler  http.Handler

	runCtx  context.Context
	stop    context.CancelFunc
	loops   sync.WaitGroup
	started time.Time
}

// New checks cfg, loads the rules and starts the export loops.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.KB == nil || cfg.Rules == nil {
		return nil, errors.New("new server: store, ATT&CK and rules are required")
	}
	if cfg.Verifier == nil && (cfg.Keys == nil || cfg.Keys.Len() == 0) {
		return nil, errors.New("new server: no authentication configured (set TTPMAP_JWT_SECRET, a JWT public key, or API keys)")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, outbox: cfg.Outbox, metrics: newMetrics(), started: time.Now()}
	if s.outbox == nil {
		s.outbox = cfg.Store
	}
	if s.cfg.DeadLetters == nil {
		s.cfg.DeadLetters = func(ctx context.Context, exporter string, limit int) (any, error) {
			dl, err := cfg.Store.DeadLetters(ctx, exporter, limit)
			if dl == nil {
				dl = []store.DeadLetterEntry{} // [] in JSON, not null
			}
			return dl, err
		}
	}
	if s.cfg.Redrive == nil {
		s.cfg.Redrive = cfg.Store.Redrive
	}
	rs, err := cfg.Rules()
	if err != nil {
		return nil, fmt.Errorf("new server: load rules: %w", err)
	}
	engine, skipped, err := detect.New(rs, cfg.EngineOptions)
	if err != nil {
		return nil, fmt.Errorf("new server: rules: %w", err)
	}
	for _, sk := range skipped {
		s.log.Warn("rule skipped", "rule", sk.Rule.Title, "file", sk.Rule.File, "reason", sk.Reason)
	}
	s.rules.Store(&rs)
	s.enricher = &enricher{engine: engine, builder: &finding.Builder{KB: cfg.KB, SourceService: "ttpmap"}}
	if err := s.enricher.setRules(rs); err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	s.runCtx, s.stop = context.WithCancel(context.Background())
	s.jobs = newJobs(s)
	if err := s.jobs.recover(s.runCtx); err != nil {
		s.stop()
		return nil, fmt.Errorf("new server: %w", err)
	}
	s.handler = s.routes()
	for _, e := range cfg.Exporters {
		s.loops.Add(1)
		go func() {
			defer s.loops.Done()
			e.Loop.Run(s.runCtx)
		}()
	}
	return s, nil
}

// Handler is the whole HTTP surface.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the export loops and waits for running scan jobs; it does
// not close the store. Findings not yet exported stay in the outbox for the
// next start.
func (s *Server) Close() {
	s.stop()
	s.jobs.wg.Wait()
	s.loops.Wait()
}

// Reload loads the rules again (Config.Rules) and swaps them in.
func (s *Server) Reload() (rules, skipped int, err error) {
	rs, err := s.cfg.Rules()
	if err != nil {
		return 0, 0, fmt.Errorf("reload rules: %w", err)
	}
	sk, err := s.Rules().Reload(rs)
	if err != nil {
		return 0, 0, err
	}
	return len(rs) - len(sk), len(sk), nil
}

// RuleSwapper swaps a loaded rule set into a running server.
type RuleSwapper struct{ s *Server }

// Rules returns the server's rule swapper (for file watchers and SIGHUP).
func (s *Server) Rules() RuleSwapper { return RuleSwapper{s} }

// Reload swaps rs in for new requests and scan jobs; on error the old set
// stays.
func (r RuleSwapper) Reload(rs []*sigma.Rule) ([]detect.SkippedRule, error) {
	if err := r.s.enricher.setRules(rs); err != nil {
		return nil, fmt.Errorf("reload rules: %w", err)
	}
	sk, err := r.s.enricher.engine.Reload(rs)
	if err != nil {
		return nil, fmt.Errorf("reload rules: %w", err)
	}
	r.s.rules.Store(&rs)
	r.s.metrics.reloads.Add(1)
	return sk, nil
}

// exporterNames are the outbox keys a new finding is queued for.
func (s *Server) exporterNames() []string {
	names := make([]string, len(s.cfg.Exporters))
	for i, e := range s.cfg.Exporters {
		names[i] = e.Name
	}
	return names
}

// store keeps findings and queues them for every exporter; when it
// returns nil they are durable ("accepted means stored").
func (s *Server) store(ctx context.Context, fs []*finding.Finding) error {
	if len(fs) == 0 {
		return nil
	}
	names := s.exporterNames()
	if s.cfg.Producer == nil {
		if err := s.cfg.Store.Put(ctx, fs, names); err != nil {
			return err
		}
	} else {
		if err := s.cfg.Store.Put(ctx, fs, nil); err != nil {
			return err
		}
		for _, n := range names {
			if err := s.cfg.Producer.Enqueue(ctx, n, fs); err != nil {
				return fmt.Errorf("queue for %s: %w", n, err)
			}
		}
	}
	s.metrics.stored.Add(int64(len(fs)))
	for _, e := range s.cfg.Exporters {
		e.Loop.Notify()
	}
	return nil
}

// Serve listens on addr (TLS when cert and key files are given) until ctx
// ends, then shuts down gracefully.
func Serve(ctx context.Context, addr string, h http.Handler, certFile, keyFile string, log *slog.Logger, ready func(net.Addr)) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute, // scan uploads
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() {
		if certFile != "" {
			errc <- srv.ServeTLS(ln, certFile, keyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
