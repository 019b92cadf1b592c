package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	sigmago "github.com/bradleyjkemp/sigma-go"
	"github.com/bradleyjkemp/sigma-go/evaluator"
	"github.com/bradleyjkemp/sigma-go/evaluator/modifiers"

	"github.com/ttpmap/ttpmap/sigma"
)

// anyIndex is the sigma-go index of rules whose logsource stands for events
// of any channel (ttpmap targets without a channel, e.g. "product: windows"
// alone).
const anyIndex = "*"

// peerRule is one sigma-go evaluator with the rule's id and file.
type peerRule struct {
	id   string
	file string
	eval *evaluator.RuleEvaluator

	errCount atomic.Int64 // evaluation errors while matching
	errOnce  sync.Once
	firstErr string
}

// peerFailure is a rule sigma-go could not load or evaluate, with why.
type peerFailure struct {
	file   string
	reason string
}

// candidate is a rule to try on an event of some channel, with the sigma-go
// index the event is presented under.
type candidate struct {
	rule  *peerRule
	index string
}

// peerEngine is the pipeline a sigma-go user builds around the library:
// rules dispatched by index (here: the event's channel), RelevantToEvent for
// the logsource conditions, then Matches.
type peerEngine struct {
	rules     []*peerRule
	byChannel map[string][]candidate // channel → candidates; built before timing
	anyOnly   []candidate            // for channels no rule names
}

// loadPeer parses every rule file under dir with sigma-go and builds one
// evaluator per rule, with a per-rule config equivalent to ttpmap's
// logsource mapping. Rules that sigma-go cannot parse or evaluate are
// returned as failures, not loaded.
func loadPeer(dir string, mapping *sigma.Mapping) ([]*peerRule, []peerFailure, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		ext := strings.ToLower(filepath.Ext(p))
		if !d.IsDir() && (ext == ".yml" || ext == ".yaml") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("walk rules %s: %w", dir, err)
	}
	sort.Strings(files)
	var rules []*peerRule
	var failed []peerFailure
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("read rule: %w", err)
		}
		rel, _ := filepath.Rel(dir, f)
		r, err := parsePeer(data)
		if err != nil {
			failed = append(failed, peerFailure{rel, "parse: " + oneLine(err.Error())})
			continue
		}
		if reason := unsupported(r); reason != "" {
			failed = append(failed, peerFailure{rel, reason})
			continue
		}
		cfg, ok := peerConfig(r.Logsource, mapping)
		if !ok {
			failed = append(failed, peerFailure{rel, "logsource not mapped (ttpmap skips it too)"})
			continue
		}
		pr := &peerRule{id: r.ID, file: rel, eval: evaluator.ForRule(r, evaluator.WithConfig(cfg))}
		if pr.id == "" {
			pr.id = rel
		}
		if err := staticCheck(r); err != nil {
			failed = append(failed, peerFailure{rel, "evaluate: " + oneLine(err.Error())})
			continue
		}
		if err := dryRun(pr.eval); err != nil {
			failed = append(failed, peerFailure{rel, "evaluate: " + oneLine(err.Error())})
			continue
		}
		rules = append(rules, pr)
	}
	return rules, failed, nil
}

// parsePeer runs sigma-go's parser, turning a panic into an error.
func parsePeer(data []byte) (r sigmago.Rule, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	r, err = sigmago.ParseRule(data)
	if err == nil && len(r.Detection.Conditions) == 0 {
		err = errors.New("no condition")
	}
	return r, err
}

// unsupported names what sigma-go rejects at match time but can be seen
// in the parsed rule: keyword searches and correlations.
func unsupported(r sigmago.Rule) string {
	if _, ok := r.AdditionalFields["correlation"]; ok {
		return "correlation rules unsupported"
	}
	for _, s := range r.Detection.Searches {
		if len(s.Keywords) > 0 {
			return "keyword searches unsupported"
		}
	}
	return ""
}

// staticCheck finds, for every field matcher, the errors sigma-go's
// evaluateSearch would return when it reaches that matcher: unknown or
// misplaced modifiers, null values and %placeholders%. (A dry run alone
// misses them: evaluation stops at the first field that does not match.)
func staticCheck(r sigmago.Rule) error {
	names := make([]string, 0, len(r.Detection.Searches))
	for n := range r.Detection.Searches {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, m := range r.Detection.Searches[n].EventMatchers {
			for _, fm := range m {
				mods := fm.Modifiers
				if len(mods) > 0 && mods[len(mods)-1] == "all" {
					mods = mods[:len(mods)-1]
				}
				if _, err := modifiers.GetComparator(fm.Field, modifiers.Comparators, mods...); err != nil {
					return fmt.Errorf("error evaluating search %s: %w", n, err)
				}
				for _, v := range fm.Values {
					switch v := v.(type) {
					case string:
						if strings.HasPrefix(v, "%") && strings.HasSuffix(v, "%") {
							return fmt.Errorf("error evaluating search %s: can't expand %s, no placeholder expander function defined", n, v)
						}
					case int, float32, float64, bool:
					default:
						return fmt.Errorf("error evaluating search %s: expected scalar field matching value got: %v (%T)", n, v, v)
					}
				}
			}
		}
	}
	return nil
}

// dryRun evaluates a rule on a synthetic event holding every field it names
// (value "0"), so unsupported modifiers, null values and placeholders show up
// at load time rather than on every event.
func dryRun(e *evaluator.RuleEvaluator) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	ev := map[string]interface{}{}
	for _, s := range e.Detection.Searches {
		for _, m := range s.EventMatchers {
			for _, fm := range m {
				ev[fm.Field] = "0"
			}
		}
	}
	_, err = e.Matches(context.Background(), ev)
	return err
}

// peerConfig translates ttpmap's targets for a logsource into a sigma-go
// config: one logsource entry naming exactly this logsource, indexed by the
// targets' channels, with the conditions "one of the targets" (Channel,
// Provider_Name, EventID and extra field values) and the field renames.
//
// sigma-go's field mappings are per rule, not per target, so a rule with
// Sysmon 1 and Security 4688 targets looks for Image in both Image and
// NewProcessName on either kind of event; ttpmap renames per target.
func peerConfig(ls sigmago.Logsource, mapping *sigma.Mapping) (sigmago.Config, bool) {
	targets, known := mapping.Targets(sigma.Logsource{Product: ls.Product, Category: ls.Category, Service: ls.Service})
	if !known {
		return sigmago.Config{}, false
	}
	var cond sigmago.Search
	indexes := map[string]bool{}
	for _, t := range targets {
		var m sigmago.EventMatcher
		if t.Channel != "" {
			m = append(m, sigmago.FieldMatcher{Field: "Channel", Values: []interface{}{t.Channel}})
			indexes[t.Channel] = true
		} else {
			indexes[anyIndex] = true
		}
		if t.Provider != "" {
			m = append(m, sigmago.FieldMatcher{Field: "Provider_Name", Values: []interface{}{t.Provider}})
		}
		if len(t.EventIDs) > 0 {
			var ids []interface{}
			for _, id := range t.EventIDs {
				ids = append(ids, strconv.Itoa(id))
			}
			m = append(m, sigmago.FieldMatcher{Field: "EventID", Values: ids})
		}
		keys := make([]string, 0, len(t.Conditions))
		for k := range t.Conditions {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var vs []interface{}
			for _, v := range t.Conditions[k] {
				vs = append(vs, v)
			}
			m = append(m, sigmago.FieldMatcher{Field: k, Values: vs})
		}
		cond.EventMatchers = append(cond.EventMatchers, m)
	}
	if len(targets) == 0 {
		indexes[anyIndex] = true
	}
	fields := map[string]sigmago.FieldMapping{}
	for _, t := range targets {
		for from := range t.FieldMap {
			if _, done := fields[from]; done {
				continue
			}
			seen := map[string]bool{}
			var names []string
			for _, u := range targets {
				to := from
				if v, ok := u.FieldMap[from]; ok {
					to = v
				}
				if !seen[to] {
					seen[to] = true
					names = append(names, to)
				}
			}
			fields[from] = sigmago.FieldMapping{TargetNames: names}
		}
	}
	var index []string
	for k := range indexes {
		index = append(index, k)
	}
	sort.Strings(index)
	return sigmago.Config{
		Title:         "ttpmap default mapping",
		FieldMappings: fields,
		Logsources: map[string]sigmago.LogsourceMapping{
			"rule": {
				Logsource:  sigmago.Logsource{Product: ls.Product, Category: ls.Category, Service: ls.Service},
				Index:      index,
				Conditions: cond,
			},
		},
	}, true
}

// newPeerEngine precomputes the candidates for every channel in channels.
func newPeerEngine(rules []*peerRule, channels []string) *peerEngine {
	byIndex := map[string][]*peerRule{}
	for _, r := range rules {
		for _, idx := range r.eval.Indexes() {
			byIndex[idx] = append(byIndex[idx], r)
		}
	}
	pe := &peerEngine{rules: rules, byChannel: map[string][]candidate{}}
	for _, r := range byIndex[anyIndex] {
		pe.anyOnly = append(pe.anyOnly, candidate{r, anyIndex})
	}
	for _, ch := range channels {
		var cs []candidate
		seen := map[*peerRule]bool{}
		for _, r := range byIndex[ch] {
			seen[r] = true
			cs = append(cs, candidate{r, ch})
		}
		for _, r := range byIndex[anyIndex] {
			if !seen[r] {
				cs = append(cs, candidate{r, anyIndex})
			}
		}
		pe.byChannel[ch] = cs
	}
	return pe
}

// match evaluates one event and calls hit for each matching rule. It
// returns the number of evaluation errors (a rule that errors does not
// match). It is safe for concurrent use.
func (pe *peerEngine) match(ctx context.Context, channel string, ev map[string]interface{}, hit func(*peerRule)) (errs int) {
	cs, ok := pe.byChannel[channel]
	if !ok {
		cs = pe.anyOnly
	}
	for _, c := range cs {
		ok, err := evalOne(ctx, c, ev)
		if err != nil {
			errs++
			c.rule.errCount.Add(1)
			c.rule.errOnce.Do(func() { c.rule.firstErr = oneLine(err.Error()) })
			continue
		}
		if ok && hit != nil {
			hit(c.rule)
		}
	}
	return errs
}

// evalOne runs RelevantToEvent and Matches, turning a panic into an error.
func evalOne(ctx context.Context, c candidate, ev map[string]interface{}) (ok bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			ok, err = false, fmt.Errorf("panic: %v", p)
		}
	}()
	rel, err := c.rule.eval.RelevantToEvent(ctx, c.index, ev)
	if err != nil || !rel {
		return false, err
	}
	res, err := c.rule.eval.Matches(ctx, ev)
	if err != nil {
		return false, err
	}
	return res.Match, nil
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
