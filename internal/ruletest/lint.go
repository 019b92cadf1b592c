package ruletest

import (
	"fmt"
	"sort"

	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/sigma"
)

// Problem is a rule that failed, with the reason.
type Problem struct {
	Rule   *sigma.Rule
	Reason error
}

// LintResult separates invalid rules from valid rules whose log source the
// mapping does not cover (those load, but no event reaches them).
type LintResult struct {
	Failed   []Problem
	Unmapped []*sigma.Rule
}

// Lint compiles every detection rule for each of its targets (or for an
// unconstrained target when its log source is unmapped, so the rule itself
// is still checked) and checks correlations' references.
func Lint(rules []*sigma.Rule, m *sigma.Mapping, placeholders map[string][]string) LintResult {
	var res LintResult
	cache := sigma.NewRegexCache()
	for _, r := range rules {
		if !r.IsDetection() {
			continue
		}
		targets, known := m.Targets(r.Logsource)
		if !known {
			res.Unmapped = append(res.Unmapped, r)
			targets = []sigma.Target{{}}
		}
		for _, t := range targets {
			if _, err := sigma.Compile(r, t, sigma.Options{Regexes: cache, Placeholders: placeholders}); err != nil {
				res.Failed = append(res.Failed, Problem{r, err})
				break
			}
		}
	}
	// Correlations need their referenced rules; the engine checks that.
	_, skipped, err := detect.New(rules, detect.Options{Mapping: m, Regexes: cache, Placeholders: placeholders})
	if err != nil {
		return res
	}
	for _, s := range skipped {
		if s.Rule.Correlation != nil {
			res.Failed = append(res.Failed, Problem{s.Rule, s.Reason})
		}
	}
	return res
}

// UnmappedSources lists the unmapped log sources with their rule counts.
func (r LintResult) UnmappedSources() []string {
	count := map[string]int{}
	for _, rule := range r.Unmapped {
		ls := rule.Logsource
		count[fmt.Sprintf("product=%s category=%s service=%s", ls.Product, ls.Category, ls.Service)]++
	}
	out := make([]string, 0, len(count))
	for k, n := range count {
		out = append(out, fmt.Sprintf("%4d  %s", n, k))
	}
	sort.Strings(out)
	return out
}
