package rules

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ttpmap/ttpmap/event"
	"github.com/ttpmap/ttpmap/sigma"
)

// compiledRule is one rule of the pack with a matcher per logsource target.
type compiledRule struct {
	rule     *sigma.Rule
	matchers []*sigma.Matcher
}

// compilePack parses every rule with package sigma and compiles each
// detection rule for every target of its logsource.
func compilePack(t *testing.T) (detections []*compiledRule, correlations []*sigma.Rule) {
	t.Helper()
	err := fs.WalkDir(FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(FS(), p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		parsed, err := sigma.Parse(bytes.NewReader(data), p)
		if err != nil {
			return fmt.Errorf("parse: %w", err)
		}
		if len(parsed) != 1 {
			return fmt.Errorf("%s: %d documents, want 1", p, len(parsed))
		}
		r := parsed[0]
		if r.Correlation != nil {
			correlations = append(correlations, r)
			return nil
		}
		if r.Filter != nil {
			return fmt.Errorf("%s: meta filters do not belong in the pack", p)
		}
		targets, known := sigma.DefaultMapping().Targets(r.Logsource)
		if !known || len(targets) == 0 {
			return fmt.Errorf("%s: logsource %+v has no target in the default mapping", p, r.Logsource)
		}
		cr := &compiledRule{rule: r}
		for _, tg := range targets {
			m, err := sigma.Compile(r, tg, sigma.Options{})
			if err != nil {
				return fmt.Errorf("compile %s for channel %q: %w", p, tg.Channel, err)
			}
			if ids := m.EventIDs(); ids != nil && len(ids) == 0 {
				return fmt.Errorf("%s: can never match target channel %q (event IDs contradict)", p, tg.Channel)
			}
			cr.matchers = append(cr.matchers, m)
		}
		detections = append(detections, cr)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return detections, correlations
}

func TestSigmaCompile(t *testing.T) {
	t.Parallel()
	dets, corrs := compilePack(t)
	byName := map[string]bool{}
	for _, d := range dets {
		if d.rule.Name != "" {
			byName[d.rule.Name] = true
		}
		byName[d.rule.ID] = true
	}
	for _, c := range corrs {
		for _, ref := range c.Correlation.Rules {
			if !byName[ref] {
				t.Errorf("%s: correlation references %q, no detection rule has that name or id", c.File, ref)
			}
		}
		if c.Correlation.Timespan <= 0 {
			t.Errorf("%s: timespan %v", c.File, c.Correlation.Timespan)
		}
	}
	loaded, errs := sigma.LoadFS(FS(), ".")
	for _, err := range errs {
		t.Errorf("sigma.LoadFS: %v", err)
	}
	if len(loaded) != len(dets)+len(corrs) {
		t.Errorf("sigma.LoadFS loaded %d rules, Parse %d", len(loaded), len(dets)+len(corrs))
	}
	if len(dets)+len(corrs) < 65 {
		t.Errorf("compiled %d rules, want at least 65", len(dets)+len(corrs))
	}
}

// fixtureFile is one testdata/*.yml file of behaviour cases.
type fixtureFile struct {
	// Cases are single events and the rule titles that must and must not fire.
	Cases []struct {
		Name    string            `yaml:"name"`
		Event   map[string]string `yaml:"event"`
		Match   []string          `yaml:"match"`
		NoMatch []string          `yaml:"nomatch"`
	} `yaml:"cases"`
	// Sequences are runs of similar events for the correlation rules.
	Sequences []sequenceCase `yaml:"sequences"`
}

// sequenceCase describes Count events built from Event, Every apart
// starting at Start; Vary gives fields whose value is a fmt format fed with
// the event's index (for example "user%d").
type sequenceCase struct {
	Name   string            `yaml:"name"`
	Event  map[string]string `yaml:"event"`
	Start  string            `yaml:"start"`
	Count  int               `yaml:"count"`
	Every  string            `yaml:"every"`
	Vary   map[string]string `yaml:"vary"`
	Fire   []string          `yaml:"fire"`
	NoFire []string          `yaml:"nofire"`
}

func loadFixtures(t *testing.T) map[string]fixtureFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no testdata/*.yml fixtures")
	}
	out := map[string]fixtureFile{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		var f fixtureFile
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("decode %s: %v", p, err)
		}
		out[p] = f
	}
	return out
}

func newEvent(fields map[string]string, at time.Time) *event.Event {
	e := &event.Event{Time: at, Fields: make(map[string]string, len(fields))}
	for k, v := range fields {
		e.Fields[k] = v
	}
	e.Complete()
	return e
}

// fired returns the titles of the detection rules that match e.
func fired(dets []*compiledRule, e *event.Event) map[string]bool {
	out := map[string]bool{}
	for _, d := range dets {
		for _, m := range d.matchers {
			if m.Match(e) {
				out[d.rule.Title] = true
				break
			}
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestBehaviour(t *testing.T) {
	t.Parallel()
	dets, corrs := compilePack(t)
	titles := map[string]bool{}
	for _, d := range dets {
		titles[d.rule.Title] = true
	}
	corrTitles := map[string]bool{}
	for _, c := range corrs {
		corrTitles[c.Title] = true
	}
	positive, negative := map[string]int{}, map[string]int{}
	for file, fx := range loadFixtures(t) {
		for _, c := range fx.Cases {
			t.Run(filepath.Base(file)+"/"+c.Name, func(t *testing.T) {
				for _, title := range slices.Concat(c.Match, c.NoMatch) {
					if !titles[title] {
						t.Fatalf("fixture names unknown rule title %q", title)
					}
				}
				got := fired(dets, newEvent(c.Event, time.Time{}))
				for _, title := range c.Match {
					positive[title]++
					if !got[title] {
						t.Errorf("want %q to fire; fired: %v", title, sortedKeys(got))
					}
				}
				for _, title := range c.NoMatch {
					negative[title]++
					if got[title] {
						t.Errorf("want %q not to fire; fired: %v", title, sortedKeys(got))
					}
				}
			})
		}
		for _, s := range fx.Sequences {
			t.Run(filepath.Base(file)+"/"+s.Name, func(t *testing.T) {
				for _, title := range slices.Concat(s.Fire, s.NoFire) {
					if !corrTitles[title] {
						t.Fatalf("fixture names unknown correlation title %q", title)
					}
				}
				got := runSequence(t, s, dets, corrs)
				for _, title := range s.Fire {
					positive[title]++
					if !got[title] {
						t.Errorf("want correlation %q to fire; fired: %v", title, sortedKeys(got))
					}
				}
				for _, title := range s.NoFire {
					negative[title]++
					if got[title] {
						t.Errorf("want correlation %q not to fire; fired: %v", title, sortedKeys(got))
					}
				}
			})
		}
	}
	// Every rule of the pack has at least one case that fires it and one
	// that must not.
	for title := range titles {
		if positive[title] == 0 || negative[title] == 0 {
			t.Errorf("rule %q has %d positive and %d negative cases, want at least one of each", title, positive[title], negative[title])
		}
	}
	for title := range corrTitles {
		if positive[title] == 0 || negative[title] == 0 {
			t.Errorf("correlation %q has %d positive and %d negative sequences, want at least one of each", title, positive[title], negative[title])
		}
	}
}

// runSequence builds the events of s, runs the detection rules over them
// and evaluates every correlation rule with a sliding window, returning the
// titles of the correlations that fired. It is a reference implementation
// of event_count and value_count for these tests, not the engine's.
func runSequence(t *testing.T, s sequenceCase, dets []*compiledRule, corrs []*sigma.Rule) map[string]bool {
	t.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if s.Start != "" {
		var err error
		if start, err = time.Parse(time.RFC3339, s.Start); err != nil {
			t.Fatalf("start: %v", err)
		}
	}
	every, err := time.ParseDuration(s.Every)
	if err != nil {
		t.Fatalf("every: %v", err)
	}
	type hit struct {
		e     *event.Event
		rules map[string]bool // names and ids of the detection rules that fired
	}
	var hits []hit
	for i := range s.Count {
		fields := map[string]string{}
		for k, v := range s.Event {
			fields[k] = v
		}
		for k, format := range s.Vary {
			fields[k] = fmt.Sprintf(format, i)
		}
		e := newEvent(fields, start.Add(time.Duration(i)*every))
		h := hit{e: e, rules: map[string]bool{}}
		for _, d := range dets {
			for _, m := range d.matchers {
				if m.Match(e) {
					h.rules[d.rule.ID] = true
					if d.rule.Name != "" {
						h.rules[d.rule.Name] = true
					}
					break
				}
			}
		}
		hits = append(hits, h)
	}
	out := map[string]bool{}
	for _, c := range corrs {
		cor := c.Correlation
		groups := map[string][]hit{}
		for _, h := range hits {
			if !slices.ContainsFunc(cor.Rules, func(r string) bool { return h.rules[r] }) {
				continue
			}
			var key []string
			for _, g := range cor.GroupBy {
				key = append(key, h.e.Fields[g])
			}
			k := strings.Join(key, "\x00")
			groups[k] = append(groups[k], h)
		}
		for _, g := range groups {
			for end := range g {
				var n float64
				seen := map[string]bool{}
				for i := end; i >= 0 && g[end].e.Time.Sub(g[i].e.Time) <= cor.Timespan; i-- {
					switch cor.Type {
					case "event_count":
						n++
					case "value_count":
						v := g[i].e.Fields[cor.Field]
						if !seen[v] {
							seen[v] = true
							n++
						}
					default:
						t.Fatalf("%s: correlation type %s not covered by this test", c.File, cor.Type)
					}
				}
				if cor.Holds(n) {
					out[c.Title] = true
				}
			}
		}
	}
	return out
}
