package sigma

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

const datasetSigma = "../../shared/datasets/sigma"

// loadAndCompile loads every rule under dir and compiles each detection rule
// for every target of its logsource (Target{} when the logsource is
// unknown). It returns the number of files, the rules, and one failure
// string per problem.
func loadAndCompile(t *testing.T, dir string, opts Options) (files int, rules []*Rule, failures []string, unknown map[string]int) {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("dataset %s absent", dir)
	}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && isRuleFile(p) {
			files++
		}
		return nil
	})
	rules, errs := LoadPaths([]string{dir})
	for _, e := range errs {
		failures = append(failures, "parse: "+e.Error())
	}
	mp := DefaultMapping()
	unknown = map[string]int{}
	for _, r := range rules {
		if !r.IsDetection() {
			continue
		}
		targets, known := mp.Targets(r.Logsource)
		if !known {
			unknown[r.Logsource.Product+"/"+r.Logsource.Category+"/"+r.Logsource.Service]++
			targets = []Target{{}}
		}
		for _, tg := range targets {
			if _, err := Compile(r, tg, opts); err != nil {
				failures = append(failures, "compile: "+err.Error())
				break
			}
		}
	}
	return files, rules, failures, unknown
}

func TestLoadSigmaHQWindows(t *testing.T) {
	dir := filepath.Join(datasetSigma, "rules", "windows")
	files, rules, failures, unknown := loadAndCompile(t, dir, Options{Regexes: NewRegexCache()})
	t.Logf("rules/windows: %d files, %d rules loaded, %d failures", files, len(rules), len(failures))
	for _, f := range failures {
		t.Logf("  %s", f)
	}
	keys := make([]string, 0, len(unknown))
	for k := range unknown {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("  unknown logsource %s: %d rules", k, unknown[k])
	}
	if files != 2407 {
		t.Errorf("dataset changed: %d files, want 2407", files)
	}
	if len(rules) != files || len(failures) != 0 {
		t.Errorf("loaded %d of %d rules with %d failures; want all, 0 failures", len(rules), files, len(failures))
	}
	if len(unknown) != 0 {
		t.Errorf("%d logsources unknown to the default mapping", len(unknown))
	}
}

func TestLoadSigmaHQOtherFolders(t *testing.T) {
	for _, sub := range []string{"rules-emerging-threats", "rules-threat-hunting", "rules/linux", "rules/network"} {
		t.Run(sub, func(t *testing.T) {
			dir := filepath.Join(datasetSigma, sub)
			files, rules, failures, unknown := loadAndCompile(t, dir, Options{Regexes: NewRegexCache()})
			t.Logf("%s: %d files, %d rules, %d failures, %d unknown logsources", sub, files, len(rules), len(failures), len(unknown))
			for _, f := range failures {
				t.Logf("  %s", f)
			}
			keys := make([]string, 0, len(unknown))
			for k := range unknown {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				t.Logf("  unknown logsource %s: %d", k, unknown[k])
			}
		})
	}
}
