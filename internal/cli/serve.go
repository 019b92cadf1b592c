package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ttpmap/ttpmap/attack"
	"github.com/ttpmap/ttpmap/coverage"
	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/export"
	"github.com/ttpmap/ttpmap/export/deliver"
	"github.com/ttpmap/ttpmap/queue"
	redisq "github.com/ttpmap/ttpmap/queue/redis"
	"github.com/ttpmap/ttpmap/rules"
	"github.com/ttpmap/ttpmap/server"
	"github.com/ttpmap/ttpmap/server/auth"
	"github.com/ttpmap/ttpmap/server/taxii"
	"github.com/ttpmap/ttpmap/server/web"
	"github.com/ttpmap/ttpmap/sigma"
	"github.com/ttpmap/ttpmap/store"
)

// serveDefaults are the documented defaults of `ttpmap serve`.
const (
	defaultListen = "127.0.0.1:8080"
	defaultDB     = "ttpmap.db"
)

// runServe runs the enrichment service until interrupted.
func runServe(ctx context.Context, e *env, args []string) error {
	// Settings: flags, then the environment, then the --config file.
	var file map[string]string
	if path := configFlag(args); path != "" {
		var err error
		if file, err = loadServeConfig(path); err != nil {
			return &usageError{err.Error()}
		}
	}
	getenv := func(name string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return file[name]
	}
	envOr := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := newFlags(e, "serve",
		"ttpmap serve [--listen ADDR] [--db PATH] [--rules PATH]... [--queue redis://…] [--tls-cert FILE --tls-key FILE]",
		"  TTPMAP_JWT_SECRET=$(cat secret) ttpmap serve --listen 127.0.0.1:8080 --db /var/lib/ttpmap/ttpmap.db\n"+
			"  ELASTIC_URL=https://es:9200 ELASTIC_API_KEY=… SPLUNK_URL=https://splunk:8088 SPLUNK_TOKEN=… ttpmap serve\n"+
			"  ttpmap serve --queue redis://redis:6379/0 --rules sigma/rules/windows   # several instances share the export work",
		flagGroup{"Service", []string{"config", "listen", "db", "db-sync", "tls-cert", "tls-key", "queue", "scan-dir", "max-body", "max-batch", "max-upload"}},
		flagGroup{"Auth", []string{"jwt-public-keys", "jwt-issuer", "jwt-audience", "api-keys"}},
		flagGroup{"Rules", []string{"rules", "no-builtin", "mapping", "reload-interval"}},
		flagGroup{"Export", []string{"export-batch", "export-lease"}},
	)
	fs.String("config", "", "read settings from a YAML `FILE` (flags and environment variables win; see docs/api.md)")
	listen := fs.String("listen", envOr("TTPMAP_LISTEN", defaultListen), "listen on `ADDR` ($TTPMAP_LISTEN)")
	dbPath := fs.String("db", envOr("TTPMAP_DB", defaultDB), "SQLite database `PATH` for findings and the outbox ($TTPMAP_DB)")
	dbSync := fs.String("db-sync", envOr("TTPMAP_DB_SYNC", "full"), "how commits reach the disk: `MODE` full (a stored finding survives a power cut) or normal (faster; survives a crash of ttpmap, not of the machine) ($TTPMAP_DB_SYNC)")
	tlsCert := fs.String("tls-cert", getenv("TTPMAP_TLS_CERT"), "serve HTTPS with this certificate `FILE` (PEM)")
	tlsKey := fs.String("tls-key", getenv("TTPMAP_TLS_KEY"), "private key `FILE` (PEM) of --tls-cert")
	queueURL := fs.String("queue", getenv("TTPMAP_QUEUE"), "put the export outbox on Redis Streams: `URL` redis://[:password@]host:port/db (default: in the SQLite store)")
	scanDir := fs.String("scan-dir", "", "spool uploaded scan files in `DIR` (default: scans/ beside --db)")
	maxBody := fs.Int64("max-body", server.DefaultMaxBody, "largest enrich request, in `BYTES`")
	maxBatch := fs.Int("max-batch", server.DefaultMaxBatch, "most events in one batch request")
	maxUpload := fs.Int64("max-upload", server.DefaultMaxUpload, "largest scan upload, in `BYTES`")
	pubKeys := fs.String("jwt-public-keys", getenv("TTPMAP_JWT_PUBLIC_KEYS"), "accept RS256/ES256 tokens signed by the keys in `FILE` (PEM or JWKS)")
	issuer := fs.String("jwt-issuer", getenv("TTPMAP_JWT_ISSUER"), "require this iss claim")
	audience := fs.String("jwt-audience", getenv("TTPMAP_JWT_AUDIENCE"), "require this aud claim")
	apiKeys := fs.String("api-keys", getenv("TTPMAP_API_KEYS"), "hashed API keys `FILE` (lines: sha256-hex role name) for machine clients")
	var ruleFlag repeatFlag
	fs.Var(&ruleFlag, "rules", "also load Sigma rules from `PATH` (file or folder; repeatable)")
	noBuiltin := fs.Bool("no-builtin", false, "do not load the embedded rule packs")
	mappingFile := fs.String("mapping", "", "logsource/field mapping `FILE` replacing the built-in one")
	reloadInt := fs.Duration("reload-interval", 0, "poll the --rules folders and reload on change (SIGHUP always reloads)")
	exportBatch := fs.Int("export-batch", 500, "findings per export request")
	exportLease := fs.Duration("export-lease", 2*time.Minute, "how long a claimed export batch is reserved before another worker may take it")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return &usageError{"--tls-cert and --tls-key go together"}
	}
	syncMode, err := store.ParseSync(*dbSync)
	if err != nil {
		return &usageError{"--db-sync: " + err.Error()}
	}

	verifier, keys, err := serveAuth(getenv, *pubKeys, *issuer, *audience, *apiKeys)
	if err != nil {
		return err
	}
	kb, err := attack.Embedded()
	if err != nil {
		return err
	}
	load := func() (*ruleSet, error) {
		rs, err := loadRuleSet(!*noBuiltin, ruleFlag, *mappingFile, "")
		if err != nil || *noBuiltin {
			return rs, err
		}
		// The service also maps generic alerts (IDS, WAF, honeypot, decoy).
		rr, errs := sigma.LoadFS(rules.AlertsFS(), ".")
		if len(errs) > 0 {
			return nil, fmt.Errorf("embedded alert rules: %w", errs[0])
		}
		for _, r := range rr {
			r.File = "builtin:" + r.File
		}
		rs.rules = append(rs.rules, rr...)
		rs.builtin += len(rr)
		return rs, nil
	}
	rs, err := load()
	if err != nil {
		return err
	}
	for _, le := range rs.loadErrors {
		e.log.Warn("rule not loaded", "err", le)
	}
	st, err := store.OpenWith(*dbPath, store.Options{Sync: syncMode})
	if err != nil {
		return err
	}
	defer st.Close()
	if *scanDir == "" {
		*scanDir = filepath.Join(filepath.Dir(*dbPath), "scans")
	}

	var outbox queue.Outbox = st
	var producer queue.Producer
	var ready func(context.Context) error
	var deadLetters func(context.Context, string, int) (any, error)
	var redrive func(context.Context, string, int) (int, error)
	if *queueURL != "" {
		goredis.SetLogger(redisLogger{e.log})
		q, err := redisq.New(ctx, *queueURL, redisq.Config{})
		if err != nil {
			return err
		}
		defer q.Close()
		outbox, producer, ready, redrive = q, q, q.Ready, q.Redrive
		deadLetters = func(ctx context.Context, exporter string, limit int) (any, error) {
			dl, err := q.DeadLetters(ctx, exporter, limit)
			if dl == nil {
				dl = []redisq.DeadLetter{}
			}
			return dl, err
		}
	}

	var exporters []server.Exporter
	for _, name := range []string{"elastic", "splunk"} {
		if getenv(strings.ToUpper(name)+"_URL") == "" {
			continue // brief 001: an exporter is on when its URL is set
		}
		sink, url, err := newSink(name, getenv, e.log)
		if err != nil {
			return err
		}
		defer sink.Close(context.Background())
		loop, err := deliver.New(sink, outbox, deliver.Config{Batch: *exportBatch, Lease: *exportLease, Logger: e.log, Backoff: export.Backoff{Base: 500 * time.Millisecond, Max: time.Minute}})
		if err != nil {
			return err
		}
		exporters = append(exporters, server.Exporter{Name: name, URL: url, Loop: loop})
		e.log.Info("exporter enabled", "exporter", name, "url", url)
	}

	var srv *server.Server
	taxiiHandler, err := taxii.New(taxii.Config{
		Findings: st, Objects: st, Statuses: st, KB: kb,
		Enrich:  func(ctx context.Context, text string) ([]string, float64) { return srv.EnrichText(ctx, text) },
		OnError: func(r *http.Request, err error) { e.log.Error("taxii", "path", r.URL.Path, "err", err) },
	})
	if err != nil {
		return err
	}
	webHandler, err := web.New(web.Config{
		Store: st, KB: kb, Version: Version, Secure: *tlsCert != "",
		Authenticate: func(token string) (auth.Role, error) { return authenticateToken(verifier, keys, token) },
		Exporters: func(ctx context.Context) []web.ExporterStatus {
			var out []web.ExporterStatus
			for _, x := range srv.ExporterStatuses(ctx) {
				ws := web.ExporterStatus{Name: x.Name, Enabled: x.Enabled && !x.Paused, URL: x.URL, Queued: x.Queued, Failed: x.Failed, LastError: x.LastError}
				if x.LastSuccess != nil {
					ws.LastSuccess = *x.LastSuccess
				}
				out = append(out, ws)
			}
			return out
		},
	})
	if err != nil {
		return err
	}
	first := true
	srv, err = server.New(server.Config{
		Store: st, Outbox: outbox, Producer: producer, Ready: ready, Exporters: exporters,
		DeadLetters: deadLetters, Redrive: redrive,
		KB: kb,
		Rules: func() ([]*sigma.Rule, error) {
			if first {
				first = false
				return rs.rules, nil
			}
			r, err := load()
			if err != nil {
				return nil, err
			}
			return r.rules, nil
		},
		EngineOptions: detect.Options{Mapping: rs.mapping, Logger: e.log},
		Coverage: func(ctx context.Context, rules []*sigma.Rule) (any, error) {
			k, err := coverage.New(kb, rules)
			if err != nil {
				return nil, err
			}
			return map[string]any{"attack_version": kb.Version(), "techniques": k.All(nil)}, nil
		},
		Verifier: verifier, Keys: keys,
		TAXII:   taxiiHandler,
		Web:     webHandler,
		MaxBody: *maxBody, MaxBatch: *maxBatch, MaxUpload: *maxUpload, ScanDir: *scanDir,
		Logger: e.log, Version: Version,
	})
	if err != nil {
		return err
	}
	defer srv.Close()

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	var fp ruleFingerprint
	if *reloadInt > 0 {
		fp = fingerprint(ruleFlag)
	}
	go watchRules(watchCtx, e.log, srv.Rules(), load, ruleFlag, *reloadInt, fp)

	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	err = server.Serve(ctx, *listen, srv.Handler(), *tlsCert, *tlsKey, e.log, func(a net.Addr) {
		e.log.Info("serving", "url", scheme+"://"+a.String(), "db", *dbPath, "rules", len(rs.rules), "exporters", len(exporters))
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// authenticateToken checks a token pasted into the web UI's log-in form:
// a JWT, or else an API key.
func authenticateToken(v *auth.Verifier, keys *auth.KeySet, token string) (auth.Role, error) {
	err := auth.ErrMissing
	if v != nil {
		c, verr := v.Verify(token, time.Now())
		if verr == nil {
			return c.Role, nil
		}
		err = verr
	}
	if keys != nil && strings.HasPrefix(token, auth.APIKeyPrefix) {
		k, kerr := keys.Check(token)
		if kerr == nil {
			return k.Role, nil
		}
		err = kerr
	}
	return "", err
}

// redisLogger sends go-redis's own messages (dial failures) to our log
// instead of its default stderr logger.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.Warn("redis: " + fmt.Sprintf(format, v...))
}

// serveAuth builds the verifier (HS256 from $TTPMAP_JWT_SECRET or
// $TTPMAP_JWT_SECRET_FILE, RS256/ES256 from a key file) and the API keys.
func serveAuth(getenv func(string) string, pubKeysFile, issuer, audience, apiKeysFile string) (*auth.Verifier, *auth.KeySet, error) {
	secret := []byte(os.Getenv(auth.SecretEnv))
	if f := getenv(auth.SecretEnv + "_FILE"); len(secret) == 0 && f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s_FILE: %w", auth.SecretEnv, err)
		}
		secret = []byte(strings.TrimRight(string(data), "\r\n"))
	}
	cfg := auth.Config{Secret: secret, Issuer: issuer, Audience: audience}
	if pubKeysFile != "" {
		data, err := os.ReadFile(pubKeysFile)
		if err != nil {
			return nil, nil, fmt.Errorf("read --jwt-public-keys: %w", err)
		}
		cfg.PublicKeys = data
	}
	var verifier *auth.Verifier
	if len(cfg.Secret) > 0 || len(cfg.PublicKeys) > 0 {
		v, err := auth.New(cfg)
		if errors.Is(err, auth.ErrWeakSecret) {
			return nil, nil, &usageError{fmt.Sprintf("%s must be at least %d bytes", auth.SecretEnv, auth.MinSecretLen)}
		}
		if err != nil {
			return nil, nil, fmt.Errorf("jwt: %w", err)
		}
		verifier = v
	}
	var keys *auth.KeySet
	if apiKeysFile != "" {
		data, err := os.ReadFile(apiKeysFile)
		if err != nil {
			return nil, nil, fmt.Errorf("read --api-keys: %w", err)
		}
		if keys, err = auth.ParseKeySet(data); err != nil {
			return nil, nil, fmt.Errorf("--api-keys %s: %w", apiKeysFile, err)
		}
	}
	if verifier == nil && keys == nil {
		return nil, nil, &usageError{"no authentication: set " + auth.SecretEnv + " (HS256), --jwt-public-keys or --api-keys"}
	}
	return verifier, keys, nil
}
