// Package ruletest runs Sigma regression tests the way SigmaHQ lays them
// out: regression_data/<rule folder>/<rule name>/info.yml names the rule id,
// the event files and the minimum number of matches each must give.
package ruletest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ttpmap/ttpmap/detect"
	"github.com/ttpmap/ttpmap/sigma"
	"github.com/ttpmap/ttpmap/source"
)

// Case is one regression test: a rule, an event file and the expected
// minimum match count.
type Case struct {
	Name     string // test name from info.yml
	RuleID   string
	RuleFile string // the rule, found by id among the loaded rules
	Events   string // event file (EVTX)
	MinCount int    // at least this many matches; 1 when info.yml gives none
	Info     string // the info.yml
}

// Result is a Case's outcome. Got may exceed MinCount: upstream treats the
// count as a minimum and only warns.
type Result struct {
	Case
	Title string
	Got   int
	Err   error // the test could not run (rule missing, unreadable events)
}

// Passed reports whether the rule matched at least MinCount times.
func (r Result) Passed() bool { return r.Err == nil && r.Got >= r.MinCount }

type info struct {
	RuleMetadata []struct {
		ID    string `yaml:"id"`
		Title string `yaml:"title"`
	} `yaml:"rule_metadata"`
	Tests []struct {
		Name       string `yaml:"name"`
		Type       string `yaml:"type"`
		MatchCount *int   `yaml:"match_count"`
		Path       string `yaml:"path"`
	} `yaml:"regression_tests_info"`
}

// Discover finds every info.yml under dir. Paths inside info.yml are
// relative to the SigmaHQ repository root, which is the folder holding
// "regression_data". Tests of types other than evtx are returned as
// errors, not dropped.
func Discover(dir string) ([]Case, []error) {
	root := repoRoot(dir)
	var cases []Case
	var errs []error
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		if d.IsDir() || d.Name() != "info.yml" {
			return nil
		}
		cs, err := readInfo(p, root)
		if err != nil {
			errs = append(errs, err)
		}
		cases = append(cases, cs...)
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].Info < cases[j].Info })
	return cases, errs
}

// DefaultRuleDirs returns SigmaHQ's rule folders (rules,
// rules-emerging-threats, rules-threat-hunting) of the repository that
// holds the regression data in dir.
func DefaultRuleDirs(dir string) []string {
	root := repoRoot(dir)
	var out []string
	for _, name := range []string{"rules", "rules-emerging-threats", "rules-threat-hunting"} {
		if st, err := os.Stat(filepath.Join(root, name)); err == nil && st.IsDir() {
			out = append(out, filepath.Join(root, name))
		}
	}
	return out
}

// repoRoot returns the folder that holds "regression_data" above or at dir.
func repoRoot(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return filepath.Dir(dir)
	}
	for p := abs; p != filepath.Dir(p); p = filepath.Dir(p) {
		if filepath.Base(p) == "regression_data" {
			return filepath.Dir(p)
		}
	}
	if _, err := os.Stat(filepath.Join(abs, "regression_data")); err == nil {
		return abs
	}
	return filepath.Dir(abs)
}

func readInfo(path, root string) ([]Case, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var in info
	if err := yaml.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(in.RuleMetadata) == 0 {
		return nil, fmt.Errorf("%s: no rule_metadata id", path)
	}
	var cases []Case
	var errs []error
	for _, t := range in.Tests {
		if t.Type != "evtx" {
			errs = append(errs, fmt.Errorf("%s: test %q has type %q; only evtx tests run", path, t.Name, t.Type))
			continue
		}
		c := Case{Name: t.Name, RuleID: in.RuleMetadata[0].ID, Events: filepath.Join(root, filepath.FromSlash(t.Path)), MinCount: 1, Info: path}
		if t.MatchCount != nil {
			c.MinCount = *t.MatchCount
		}
		cases = append(cases, c)
	}
	return cases, errors.Join(errs...)
}

// Runner runs cases against a set of loaded rules.
type Runner struct {
	Rules   []*sigma.Rule
	Formats []source.Format
	Mapping *sigma.Mapping
}

// Run runs one case: only its rule (and correlations referring to it) over
// its events.
func (r *Runner) Run(ctx context.Context, c Case) Result {
	res := Result{Case: c}
	var rule *sigma.Rule
	for _, x := range r.Rules {
		if x.ID == c.RuleID {
			rule = x
			break
		}
	}
	if rule == nil {
		res.Err = fmt.Errorf("rule %s is not among the loaded rules", c.RuleID)
		return res
	}
	res.Title, res.RuleFile = rule.Title, rule.File
	eng, skipped, err := detect.New([]*sigma.Rule{rule}, detect.Options{Mapping: r.Mapping, Workers: 1})
	if err != nil {
		res.Err = err
		return res
	}
	if len(skipped) > 0 {
		res.Err = fmt.Errorf("rule not usable: %w", skipped[0].Reason)
		return res
	}
	w := &source.Walker{Formats: r.Formats, OnError: func(e error) {
		if res.Err == nil {
			res.Err = e
		}
	}}
	emit := func(_ context.Context, m detect.Match) error {
		if m.Rule.ID == c.RuleID {
			res.Got++
		}
		return nil
	}
	err = w.Walk(ctx, []string{c.Events}, func(in source.Input) error {
		for {
			ev, err := in.Reader.Read()
			if err == io.EOF {
				return nil
			}
			var rerr *source.RecordError
			if errors.As(err, &rerr) {
				continue
			}
			if err != nil {
				return err
			}
			if err := eng.Process(ctx, ev, emit); err != nil {
				return err
			}
		}
	})
	if err == nil {
		err = eng.Flush(ctx, emit)
	}
	if err != nil && res.Err == nil {
		res.Err = err
	}
	return res
}

// Summary formats a result as one line.
func (r Result) Summary() string {
	status := "PASS"
	if !r.Passed() {
		status = "FAIL"
	}
	s := fmt.Sprintf("%s %s %s: expected ≥%d, got %d", status, r.RuleID, r.Title, r.MinCount, r.Got)
	if r.Err != nil {
		s += " (" + r.Err.Error() + ")"
	} else if r.Got > r.MinCount {
		s += fmt.Sprintf(" (%d extra)", r.Got-r.MinCount)
	}
	return strings.TrimSpace(s)
}
