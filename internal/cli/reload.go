package cli

import (
	"context"
	"io/fs"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/sigma"
)

// ruleReloader swaps a rule set in: *detect.Engine, or the service.
type ruleReloader interface {
	Reload(rules []*sigma.Rule) ([]detect.SkippedRule, error)
}

// watchRules reloads the engine's rules when a reload signal arrives
// (SIGHUP on Unix) or, with a positive interval, when a rule file under
// paths changes. Events keep flowing; the engine swaps rule sets between
// batches. last is the fingerprint of paths when the engine's rules were
// loaded. It returns when ctx ends.
func watchRules(ctx context.Context, log *slog.Logger, engine ruleReloader, load func() (*ruleSet, error), paths []string, interval time.Duration, last ruleFingerprint) {
	sig, stop := reloadSignal()
	defer stop()
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		case <-tick:
			fp := fingerprint(paths)
			if fp == last {
				continue
			}
			last = fp
		}
		rs, err := load()
		if err != nil {
			log.Warn("rules not reloaded; the previous set stays", "err", err)
			continue
		}
		skipped, err := engine.Reload(rs.rules)
		if err != nil {
			log.Warn("rules not reloaded; the previous set stays", "err", err)
			continue
		}
		log.Info("rules reloaded", "rules", len(rs.rules), "skipped", len(skipped), "load_errors", len(rs.loadErrors))
	}
}

// fingerprint summarises the rule files under paths (count, newest
// modification, total size), cheap enough to poll.
type ruleFingerprint struct {
	files  int
	newest time.Time
	size   int64
}

func fingerprint(paths []string) ruleFingerprint {
	var fp ruleFingerprint
	for _, p := range paths {
		_ = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			ext := filepath.Ext(path)
			if ext != ".yml" && ext != ".yaml" {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			fp.files++
			fp.size += info.Size()
			if info.ModTime().After(fp.newest) {
				fp.newest = info.ModTime()
			}
			return nil
		})
	}
	return fp
}
