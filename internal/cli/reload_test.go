package cli

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ttpmap/ttpmap/detect"
)

func TestWatchRulesReloadsOnChange(t *testing.T) {
	dir := t.TempDir()
	rule := func(n int) string {
		return "title: r" + string(rune('0'+n)) + "\nid: 0000000" + string(rune('0'+n)) + "-0000-4000-8000-000000000000\nlogsource: {product: windows, service: security}\ndetection: {s: {EventID: 4625}, condition: s}\nlevel: low\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "a.yml"), []byte(rule(1)), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func() (*ruleSet, error) { return loadRuleSet(false, []string{dir}, "", "") }
	fp := fingerprint([]string{dir})
	rs, err := load()
	if err != nil {
		t.Fatal(err)
	}
	engine, _, err := detect.New(rs.rules, detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watchRules(ctx, slog.New(slog.DiscardHandler), engine, load, []string{dir}, 10*time.Millisecond, fp)
	if err := os.WriteFile(filepath.Join(dir, "b.yml"), []byte(rule(2)), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for engine.Stats().Rules != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("rules not reloaded: %+v", engine.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
