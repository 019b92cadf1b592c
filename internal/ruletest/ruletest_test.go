package ruletest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ttpmap/ttpmap/sigma"
	"github.com/ttpmap/ttpmap/source/all"
)

// TestDiscoverAndRun builds a tiny SigmaHQ-shaped tree: a rule, its
// info.yml and an event file, and checks both a pass and a fail.
func TestDiscoverAndRun(t *testing.T) {
	root := t.TempDir()
	write := func(rel, text string) {
		p := filepath.Join(root, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("rules/windows/x/whoami.yml", `title: Whoami
id: 0b3a6a27-1111-4c3e-9d7a-2b2f6d1b7a01
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\whoami.exe'}
  condition: sel
level: low
`)
	event := `{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"ws1"},"EventData":{"Image":"C:\\Windows\\System32\\whoami.exe"}}}`
	write("regression_data/rules/windows/x/whoami/ev.json", event+"\n"+event+"\n")
	write("regression_data/rules/windows/x/whoami/info.yml", `rule_metadata:
  - id: 0b3a6a27-1111-4c3e-9d7a-2b2f6d1b7a01
regression_tests_info:
  - name: two
    type: evtx
    match_count: 2
    path: regression_data/rules/windows/x/whoami/ev.json
  - name: three
    type: evtx
    match_count: 3
    path: regression_data/rules/windows/x/whoami/ev.json
  - name: raw
    type: raw
    path: regression_data/rules/windows/x/whoami/ev.raw
`)
	cases, errs := Discover(filepath.Join(root, "regression_data"))
	if len(cases) != 2 || len(errs) != 1 || !strings.Contains(errs[0].Error(), `type "raw"`) {
		t.Fatalf("cases %+v errs %v", cases, errs)
	}
	dirs := DefaultRuleDirs(filepath.Join(root, "regression_data"))
	if len(dirs) != 1 || filepath.Base(dirs[0]) != "rules" {
		t.Fatalf("rule dirs %v", dirs)
	}
	rules, lerrs := sigma.LoadPaths(dirs)
	if len(lerrs) > 0 {
		t.Fatal(lerrs)
	}
	r := &Runner{Rules: rules, Formats: all.Formats(), Mapping: sigma.DefaultMapping()}
	two, three := r.Run(context.Background(), cases[0]), r.Run(context.Background(), cases[1])
	if !two.Passed() || two.Got != 2 || three.Passed() || three.Got != 2 {
		t.Errorf("two: %s; three: %s", two.Summary(), three.Summary())
	}
	if !strings.HasPrefix(three.Summary(), "FAIL 0b3a6a27-1111-4c3e-9d7a-2b2f6d1b7a01 Whoami: expected ≥3, got 2") {
		t.Errorf("summary %q", three.Summary())
	}
	missing := r.Run(context.Background(), Case{RuleID: "nope", Events: cases[0].Events, MinCount: 1})
	if missing.Passed() || missing.Err == nil {
		t.Errorf("missing rule passed: %s", missing.Summary())
	}
}

func TestLint(t *testing.T) {
	parse := func(text string) *sigma.Rule {
		rs, err := sigma.Parse(strings.NewReader(text), "r.yml")
		if err != nil {
			t.Fatal(err)
		}
		return rs[0]
	}
	good := parse("title: ok\nid: a\nlogsource: {product: windows, service: security}\ndetection: {s: {EventID: 1}, condition: s}\n")
	zeek := parse("title: zeek\nid: b\nlogsource: {product: zeek, service: dns}\ndetection: {s: {query|endswith: .evil}, condition: s}\n")
	badRe := parse("title: bad\nid: c\nlogsource: {product: windows, service: security}\ndetection: {s: {x|re: '(?<=a)b'}, condition: s}\n")
	corr := parse("title: corr\nid: d\ncorrelation: {type: event_count, rules: [missing], group-by: [x], timespan: 5m, condition: {gte: 2}}\n")
	res := Lint([]*sigma.Rule{good, zeek, badRe, corr}, sigma.DefaultMapping(), nil)
	if len(res.Unmapped) != 1 || res.Unmapped[0] != zeek {
		t.Errorf("unmapped %v", res.Unmapped)
	}
	if len(res.Failed) != 2 || res.Failed[0].Rule != badRe || res.Failed[1].Rule != corr {
		t.Errorf("failed %+v", res.Failed)
	}
}
